"""Mode metrics (gandiag.modes.mode_metrics) against hand computations and the literature's protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.modes import MODE_COLUMNS, effective_modes, mode_kl, mode_metrics
from gandiag.references import ArrayReference

RING = gandiag.reference("ring8")
CENTRES = RING.centres.double().numpy()


def test_mode_kl_by_hand():
    # p = (3/4, 1/4, 0, 0), q uniform: 3/4 log 3 + 1/4 log 1 + two empty generated bins adding 0.
    assert mode_kl([3, 1, 0, 0], [1, 1, 1, 1]) == pytest.approx(0.75 * math.log(3))
    assert mode_kl([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(5))
    assert mode_kl([2, 2], [5, 5]) == 0.0
    assert mode_kl([1, 1], [1, 0]) == math.inf  # generated mass where the reference has none


def test_effective_modes_by_hand():
    assert effective_modes([2, 2, 0]) == pytest.approx(2.0)
    assert effective_modes([1, 1, 2]) == pytest.approx(2**1.5)  # H = 1.5 log 2
    assert effective_modes([7, 0, 0]) == pytest.approx(1.0)
    assert effective_modes(np.ones(25)) == pytest.approx(25.0)


def test_histogram_inputs_are_validated():
    with pytest.raises(GandiagInputError, match="differ in length"):
        mode_kl([1, 2], [1, 2, 3])
    with pytest.raises(GandiagInputError, match="histogram"):
        effective_modes([0, 0])


def test_mode_metrics_on_hand_built_ring8_sample():
    """Five samples: three sharp on mode 0, one on mode 1, one 0.2 off mode 2 (10 std: not high quality)."""
    d = 0.01
    gen = np.array([CENTRES[0] + [d, 0], CENTRES[0] - [d, 0], CENTRES[0], CENTRES[1], 1.1 * CENTRES[2]])
    # reference sample: mode 0 spread twice as wide, mode 1 once (too few to define a spread)
    ref = np.array([CENTRES[0] + [2 * d, 0], CENTRES[0] - [2 * d, 0], CENTRES[1], *CENTRES[2:]])
    m = mode_metrics(gen, RING, reference_sample=ref)
    p = np.array([3, 1, 1]) / 5
    assert m["modes_total"] == 8
    assert m["modes_captured"] == 2  # mode 2's only sample is off the mode
    assert m["hq_fraction"] == pytest.approx(4 / 5)
    assert m["mode_kl"] == pytest.approx(float(np.sum(p * np.log(p * 8))))
    assert m["effective_modes"] == pytest.approx(math.exp(-float(np.sum(p * np.log(p)))))
    # mode 0: generated x-values (+d, -d, 0) -> var d^2, y var 0 -> std sqrt(d^2/2);
    # reference x-values (+2d, -2d) -> var 8 d^2, y 0 -> std 2d. Only mode 0 has two samples in both.
    assert m["intra_mode_spread"] == pytest.approx(math.sqrt(d**2 / 2) / (2 * d))
    assert np.isnan(m["mode_spread"][1:]).all()
    np.testing.assert_allclose(m["mode_shares"], [0.6, 0.2, 0.2, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(m["reference_shares"], np.full(8, 1 / 8))  # exact mixture weights
    assert m["reference_count"] == math.inf
    np.testing.assert_array_equal(m["mode_counts"], [3, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(m["mode_hq_counts"], [3, 1, 0, 0, 0, 0, 0, 0])
    assert m["reference_hq_fraction"] == 1.0
    assert m["n"] == 5 and m["mode_label"] == "mode"
    assert all(isinstance(m[c], (int, float)) for c in MODE_COLUMNS)


@pytest.mark.parametrize("name, modes", [("ring8", 8), ("grid25", 25)])
def test_literature_protocol_perfect_samples(name, modes):
    """VEEGAN/PacGAN protocol, n = 2,500: a perfect sample captures every mode, ~98.9% high quality."""
    ref = gandiag.reference(name)
    m = mode_metrics(ref.sample(2500, seed=0), ref, seed=1)
    assert m["modes_captured"] == m["modes_total"] == modes
    assert m["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)  # 0.9889: within 3 std in 2-D
    assert m["reference_hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert m["effective_modes"] == pytest.approx(modes, rel=0.01)
    assert 0 <= m["mode_kl"] < 0.01
    assert m["intra_mode_spread"] == pytest.approx(1.0, abs=0.06)


def test_deterministic_and_numpy_torch_agree():
    x = RING.sample(500, seed=3)
    a = mode_metrics(x, RING, seed=4)
    b = mode_metrics(x.numpy(), RING, seed=4)
    for c in MODE_COLUMNS:
        assert a[c] == b[c]
    c = mode_metrics(x, RING, seed=5)  # another reference sample: only the spread and floor change
    assert c["modes_captured"] == a["modes_captured"] and c["intra_mode_spread"] != a["intra_mode_spread"]


class _SignModes:
    """A duck-typed mode assigner without weights: mode = which of 3 intervals x falls in."""

    n_modes = 3

    def assign_modes(self, x):
        v = np.asarray(x, dtype=float).reshape(len(x), -1)[:, 0]
        return np.digitize(v, [-1.0, 1.0]).astype(np.int64), np.abs(v) < 5


def test_estimated_reference_shares_are_smoothed_when_a_mode_is_empty():
    gen = np.array([[-2.0], [0.0], [0.5], [3.0]])  # modes 0, 1, 1, 2
    ref = np.array([[0.0], [0.1], [0.2], [2.0]])  # modes 1, 1, 1, 2: mode 0 empty
    m = mode_metrics(gen, _SignModes(), reference_sample=ref)
    q = np.array([0.5, 3.5, 1.5]) / 5.5  # counts + 1/2 (Krichevsky-Trofimov)
    np.testing.assert_allclose(m["reference_shares"], q)
    p = np.array([0.25, 0.5, 0.25])
    assert m["mode_kl"] == pytest.approx(float(np.sum(p * np.log(p / q))))
    assert m["reference_count"] == 4


def test_reference_without_modes_is_a_clear_error():
    user = ArrayReference("real.npy", torch.zeros(10, 2))
    with pytest.raises(GandiagInputError, match="'real.npy' has no modes.*NDB"):
        mode_metrics(np.zeros((10, 2)), user)


def test_mismatched_shapes_are_clear_errors():
    with pytest.raises(GandiagInputError, match=r"shape \(3,\) each, reference 'ring8' expects \(2,\)"):
        mode_metrics(np.zeros((10, 3)), RING)
    with pytest.raises(GandiagInputError, match="differ in size per sample: 2 and 3"):
        mode_metrics(np.zeros((10, 2)), RING, reference_sample=np.zeros((10, 3)))
    with pytest.raises(GandiagInputError, match="NaN"):
        mode_metrics(np.full((4, 2), np.nan), RING)


def test_spread_pvalues_are_the_pooled_variance_ratio_test():
    # two modes of ring8, generated std 1.5 x the reference's; every sample high quality (within
    # 3 reference std needs a small scale): the pooled F statistic by hand, per coordinate pair.
    from scipy import stats

    rng = np.random.default_rng(0)
    std = RING.std
    ref = np.concatenate([CENTRES[k] + 0.5 * std * rng.normal(size=(40, 2)) for k in (0, 1)])
    gen = np.concatenate([CENTRES[k] + 0.75 * std * rng.normal(size=(30, 2)) for k in (0, 1)])
    m = mode_metrics(gen, RING, reference_sample=ref)
    var_g = sum(np.var(gen[i:i + 30], axis=0, ddof=1).mean() * 29 for i in (0, 30)) / 58
    var_r = sum(np.var(ref[i:i + 40], axis=0, ddof=1).mean() * 39 for i in (0, 40)) / 78
    assert m["spread_wider_pvalue"] == pytest.approx(stats.f.sf(var_g / var_r, 58, 78), rel=1e-9)
    assert m["spread_narrower_pvalue"] == pytest.approx(stats.f.cdf(var_g / var_r, 58, 78), rel=1e-9)
    assert m["spread_wider_pvalue"] < 0.01
