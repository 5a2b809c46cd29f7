"""Single-checkpoint flags (gandiag.modes.flags) on synthetic generators with known defects."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.modes import FLAG_COLUMNS, FlagThresholds, detect_flags, dropped_modes, mode_metrics

N = 2500  # the literature's protocol


def mixture(ref, n, seed, weights=None, scale=1.0):
    """Samples of ``ref``'s modes drawn with ``weights``, each mode's std multiplied by ``scale``."""
    g = torch.Generator().manual_seed(seed)
    w = torch.as_tensor(np.full(ref.n_modes, 1 / ref.n_modes) if weights is None else weights, dtype=torch.float64)
    k = torch.multinomial(w, n, replacement=True, generator=g)
    return ref.centres[k] + scale * ref.std * torch.randn(n, ref.shape[0], generator=g)


def flags_of(samples, ref, thresholds=None):
    out = detect_flags(mode_metrics(samples, ref, seed=99), thresholds)
    return {name for name in FLAG_COLUMNS[:3] if out[name]}, out["evidence"]


def weights_without(missing, n_modes=8):
    w = np.ones(n_modes)
    w[list(missing)] = 0
    return w / w.sum()


def weights_piled(mode, share, n_modes=8):
    w = np.full(n_modes, (1 - share) / (n_modes - 1))
    w[mode] = share
    return w


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_perfect_generator_raises_nothing(name):
    ref = gandiag.reference(name)
    raised, evidence = flags_of(ref.sample(N, seed=0), ref)
    assert raised == set() and evidence == ""


def test_missing_modes_raise_mode_dropping_only():
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(mixture(ring, N, 1, weights_without([2, 3, 5, 6, 7])), ring)
    assert raised == {"mode_dropping"}
    assert evidence == "mode_dropping: 5 of 8 modes missing (2, 3, 5, 6, 7)"


def test_starved_mode_raises_mode_dropping():
    ring = gandiag.reference("ring8")
    w = np.full(8, 0.98 / 7)
    w[4] = 0.02  # 0.02 < 1/4 x 0.125, but present and sharp
    raised, evidence = flags_of(mixture(ring, N, 2, w), ring)
    assert raised == {"mode_dropping"}
    assert evidence.startswith("mode_dropping: 1 of 8 modes starved, share under 0.25 x reference (4: 0.0")
    assert evidence.endswith("vs reference 0.125)")


def test_mass_piled_on_one_mode_raises_mode_collapse_only():
    # 0.6 on mode 1; the others keep 0.057 each, above 1/4 of 0.125: not starved.
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(mixture(ring, N, 3, weights_piled(1, 0.6)), ring)
    assert raised == {"mode_collapse"}
    share = float(re.fullmatch(r"mode_collapse: mode 1 holds (0\.\d+) of samples \(reference 0\.125\)", evidence)[1])
    assert share == pytest.approx(0.6, abs=0.02)


def test_extreme_pile_also_starves_the_other_modes():
    # 0.9 on mode 1 leaves 0.014 to each other mode: the contract implies both flags.
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(mixture(ring, N, 4, weights_piled(1, 0.9)), ring)
    assert raised == {"mode_dropping", "mode_collapse"}
    dropping, collapse = evidence.split("; ")
    assert dropping.startswith("mode_dropping: 7 of 8 modes starved") and "+" not in dropping
    assert float(re.match(r"mode_collapse: mode 1 holds (0\.\d+)", collapse)[1]) == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_spread_shrunk_tenfold_raises_mode_collapse_only(name):
    ref = gandiag.reference(name)
    m = mode_metrics(mixture(ref, N, 5, scale=0.1), ref, seed=99)
    assert m["intra_mode_spread"] == pytest.approx(0.1, abs=0.02)
    out = detect_flags(m)
    assert (out["mode_dropping"], out["mode_collapse"], out["low_quality"]) == (False, True, False)
    assert out["evidence"] == f"mode_collapse: intra_mode_spread {m['intra_mode_spread']:.3g} < 0.5"


def test_blurred_samples_raise_low_quality_only():
    # std x 5: P(within 3 std) = 1 - exp(-9/50) = 0.165; every mode keeps ~50 high-quality samples.
    ring = gandiag.reference("ring8")
    m = mode_metrics(mixture(ring, N, 6, scale=5.0), ring, seed=99)
    assert m["hq_fraction"] == pytest.approx(1 - np.exp(-9 / 50), abs=0.02)
    assert m["modes_captured"] == 8 and m["intra_mode_spread"] > 1
    out = detect_flags(m)
    assert (out["mode_dropping"], out["mode_collapse"], out["low_quality"]) == (False, False, True)
    assert out["evidence"] == (f"low_quality: hq_fraction {m['hq_fraction']:.3g} < 0.5 x reference "
                               f"{m['reference_hq_fraction']:.3g}")


def test_samples_entirely_off_the_modes_are_also_missing_modes():
    # Every sample 0.5 from the circle: no high-quality sample anywhere, so by the contract's
    # definition every mode is missing as well as the quality being low.
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(1.25 * mixture(ring, N, 7), ring)
    assert raised == {"mode_dropping", "low_quality"}
    assert evidence.startswith("mode_dropping: 8 of 8 modes missing (0, 1, 2, 3, 4, 5, 6, 7); "
                               "low_quality: hq_fraction 0 <")


def test_thresholds_are_configurable():
    ring = gandiag.reference("ring8")
    shrunk = mode_metrics(mixture(ring, N, 5, scale=0.1), ring, seed=99)
    assert not detect_flags(shrunk, FlagThresholds(min_spread=0.05))["mode_collapse"]
    piled = mode_metrics(mixture(ring, N, 3, weights_piled(1, 0.6)), ring, seed=99)
    assert not detect_flags(piled, FlagThresholds(dominant_share=0.7))["mode_collapse"]
    assert detect_flags(piled, FlagThresholds(starved_ratio=0.5))["mode_dropping"]  # 0.057 < 0.5 x 0.125
    blurred = mode_metrics(mixture(ring, N, 6, scale=5.0), ring, seed=99)
    assert not detect_flags(blurred, FlagThresholds(hq_ratio=0.1))["low_quality"]


def test_significance_guard_only_matters_for_tiny_expected_counts():
    """grid25 at n = 50 (2 samples expected per mode): empty modes are chance, not dropping."""
    grid = gandiag.reference("grid25")
    m = mode_metrics(grid.sample(50, seed=0), grid, seed=1)
    assert m["modes_captured"] < 25
    assert not detect_flags(m, FlagThresholds(significance=0.05))["mode_dropping"]
    literal = detect_flags(m)  # the contract's rule is the default
    assert literal["mode_dropping"] and f"{25 - m['modes_captured']} of 25 modes missing" in literal["evidence"]


def test_hand_built_metrics_and_long_mode_lists():
    metrics = {
        "mode_shares": [0.0] * 12 + [1.0],
        "reference_shares": np.full(13, 1 / 13),
        "mode_hq_counts": [0] * 12 + [100],
        "mode_counts": [0] * 12 + [100],
        "n": 100,
        "hq_fraction": 1.0,
        "reference_hq_fraction": 0.99,
        "intra_mode_spread": 0.8,
        "mode_label": "bin",
    }
    missing, starved = dropped_modes(metrics)
    assert missing.sum() == 12 and not starved.any()
    out = detect_flags(metrics)
    assert out == {
        "mode_dropping": True,
        "mode_collapse": True,
        "low_quality": False,
        "evidence": "mode_dropping: 12 of 13 bins missing (0, 1, 2, 3, 4, 5, 6, 7, +4 more); "
        "mode_collapse: bin 12 holds 1.00 of samples (reference 0.0769)",
    }


def test_bad_thresholds_and_incomplete_metrics_are_clear_errors():
    with pytest.raises(GandiagInputError, match="min_spread"):
        FlagThresholds(min_spread=-1)
    with pytest.raises(GandiagInputError, match="significance"):
        FlagThresholds(significance=1.5)
    with pytest.raises(GandiagInputError, match="'mode_shares'"):
        detect_flags({"hq_fraction": 1.0})


def test_digits_class_removed_is_mode_dropping_through_the_classifier():
    from gandiag.references import _digits_arrays

    digits = gandiag.reference("digits")
    images, labels = (t.numpy() for t in _digits_arrays())
    odd = np.arange(len(images)) % 2 == 1
    real = images[~odd]
    assert detect_flags(mode_metrics(images[odd], digits, reference_sample=real))["evidence"] == ""
    m = mode_metrics(images[odd & (labels != 3)], digits, reference_sample=real)
    assert m["modes_captured"] == 9 and m["reference_count"] == len(real)
    assert detect_flags(m)["evidence"] == "mode_dropping: 1 of 10 modes missing (3)"
