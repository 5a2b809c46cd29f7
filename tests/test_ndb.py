"""NDB (gandiag.modes.ndb): the z-test by hand, false positives on real-vs-real, a removed digit class."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_digits

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.modes import FlagThresholds, NDBBins, detect_flags, mode_metrics, ndb, ndb_test

ALPHA = 0.05


@pytest.fixture(scope="module")
def digits_split():
    """scikit-learn's digits in [-1, 1], flattened: even rows are the reference, odd rows 'generated'."""
    bunch = load_digits()
    x = bunch.images.reshape(len(bunch.images), 64) / 16.0 * 2.0 - 1.0
    even = np.arange(len(x)) % 2 == 0
    return x[even], bunch.target[even], x[~even], bunch.target[~even]


def test_two_proportion_z_test_by_hand():
    bins = NDBBins(centroids=np.array([[0.0], [1.0]]), counts=np.array([50, 50]),
                   radius=np.array([0.1, 0.1]), data=np.zeros((100, 1)))
    fake = np.r_[np.zeros(70), np.ones(30)][:, None]  # p = 0.7 in bin 0 against q = 0.5
    res = ndb_test(bins, fake, alpha=ALPHA)
    se = math.sqrt(0.6 * 0.4 * (1 / 100 + 1 / 100))  # pooled share (50 + 70) / 200
    np.testing.assert_allclose(res.z, [0.2 / se, -0.2 / se])
    np.testing.assert_allclose(res.pvalues, 2 * stats.norm.sf(0.2 / se))  # 0.0039
    assert res.ndb == 2 and res.ndb_k == 1.0 and res.as_dict() == {"ndb": 2, "ndb_k": 1.0}
    assert ndb_test(bins, fake, alpha=0.001).ndb == 0


def test_bins_fit_and_assign(digits_split):
    ref, _, _, _ = digits_split
    bins = NDBBins.fit(ref, 20, seed=0)
    assert bins.n_modes == 20 and bins.counts.sum() == len(ref) and (bins.counts > 0).all()
    np.testing.assert_allclose(bins.weights.sum(), 1.0)
    modes, hq = bins.assign_modes(ref)
    np.testing.assert_array_equal(np.bincount(modes, minlength=20), bins.counts)
    assert hq.mean() >= 0.99  # the radius holds 99% of each bin's own members
    far = bins.assign_modes(np.full((3, 64), 5.0))[1]
    assert not far.any()
    again = NDBBins.fit(ref, 20, seed=0)
    np.testing.assert_array_equal(again.centroids, bins.centroids)  # seeded


def test_real_vs_real_false_positives_near_alpha_k():
    grid = gandiag.reference("grid25")
    k = 50
    counts = [ndb(grid.sample(2000, seed=2 * s), grid.sample(2000, seed=2 * s + 1), k=k, seed=s)["ndb"]
              for s in range(5)]
    assert np.mean(counts) <= 1.5 * ALPHA * k  # ~alpha * K different bins by chance, not more


def test_ndb_finds_a_removed_digit_class(digits_split):
    ref, ref_labels, other, other_labels = digits_split
    bins = NDBBins.fit(ref, 20, seed=0)
    members = bins.assign_modes(ref)[0]
    threes = [k for k in range(20) if np.mean(ref_labels[members == k] == 3) > 0.5]
    assert threes  # some bins hold mostly 3s

    res = ndb_test(bins, other[other_labels != 3])
    assert res.different[threes].all() and (res.z[threes] < 0).all()  # fewer samples than the reference
    assert res.ndb <= len(threes) + ALPHA * 20 + 1

    same = ndb_test(bins, other)  # real-vs-real: the other half of the data set
    assert same.ndb <= ALPHA * 20

    # the bins as modes: the flags name the emptied bins
    out = detect_flags(mode_metrics(other[other_labels != 3], bins, reference_sample=other))
    assert (out["mode_dropping"], out["mode_collapse"], out["low_quality"]) == (True, False, False)
    for k in threes:
        assert f"{k}: " in out["evidence"] or f"({k}" in out["evidence"]
    assert detect_flags(mode_metrics(other, bins))["evidence"] == ""


def test_bins_as_modes_catch_collapse_and_blur():
    ring = gandiag.reference("ring8")
    bins = NDBBins.fit(ring.sample(2500, seed=0), 100, seed=0)
    real = ring.sample(2500, seed=1)
    perfect = mode_metrics(ring.sample(2500, seed=2), bins, reference_sample=real)
    # 100 bins of ~25 samples: the literal rule (guard off) calls a bin that a perfect sample
    # leaves thin by chance "starved"; the significance guard, on by default, does not.
    literal = FlagThresholds(significance=None)
    assert detect_flags(perfect, literal)["mode_dropping"] and not detect_flags(perfect, literal)["mode_collapse"]
    assert detect_flags(perfect)["evidence"] == ""

    collapsed = np.tile(ring.centres[3].numpy(), (2500, 1))  # one point: one bin holds everything
    out = detect_flags(mode_metrics(collapsed, bins, reference_sample=real))
    assert out["mode_collapse"] and out["mode_dropping"] and not out["low_quality"]
    assert re.search(r"mode_collapse: intra_mode_spread 0 < 0.5, bin \d+ holds 1.00 of samples", out["evidence"])

    blurred = ring.sample(2500, seed=3) * 1.1  # every sample 0.2 (10 std) off the circle
    assert detect_flags(mode_metrics(blurred, bins, reference_sample=real))["low_quality"]


def test_ndb_errors_are_clear():
    with pytest.raises(GandiagInputError, match="k = 50 bins need at least 50 reference samples, got 10"):
        NDBBins.fit(np.zeros((10, 2)), 50)
    bins = NDBBins.fit(np.random.default_rng(0).normal(size=(40, 2)), 4)
    with pytest.raises(GandiagInputError, match="samples have 3 values each, the bins were fitted on 2"):
        ndb_test(bins, np.zeros((5, 3)))
    with pytest.raises(GandiagInputError, match="alpha"):
        ndb_test(bins, np.zeros((5, 2)), alpha=0)
