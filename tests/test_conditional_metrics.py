"""Conditional metrics and flags on arrays (issue 13, item 3), each against a truth built here.

Truths: scikit-learn's ``mutual_info_score`` (a peer), log K for a bijective relabelling, the
asymptotic G-test (2n I ~ chi^2 with (K-1)^2 degrees of freedom) for the permutation p-value, the
closed-form distance correlation of a bivariate normal (Szekely et al. 2007, Theorem 7), and
synthetic conditional generators whose defect is known (tests/conditional_helpers.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conditional_helpers import ToyConditional, draw, labelled_reference
from scipy import stats
from sklearn.metrics import mutual_info_score

import gandiag
from gandiag.conditional import (
    class_table,
    confusion_matrix,
    cycle_error,
    distance_correlation,
    evaluate_classes,
    evaluate_translation,
    independence_pvalue,
    input_dependence,
    intra_class_fid,
    label_accuracy,
    label_mi,
    label_mi_interval,
    map_accuracy,
    output_diversity,
)
from gandiag.errors import GandiagInputError
from gandiag.metrics import fid

N = {"ring8": 2000, "grid25": 2500, "digits": 1000}


# ------------------------------------------------------------------ label statistics


def test_label_mi_matches_scikit_learn_and_closed_forms():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 3000)
    a = np.where(rng.random(3000) < 0.4, y, rng.integers(0, 6, 3000))
    assert label_mi(y, a, 6) == pytest.approx(mutual_info_score(y, a), rel=1e-12)
    assert label_mi(np.arange(800) % 8, (np.arange(800) + 1) % 8) == pytest.approx(math.log(8), rel=1e-12)
    assert label_accuracy(np.arange(800) % 8, (np.arange(800) + 1) % 8) == 0.0
    conf = confusion_matrix([0, 1, 2, 2], [1, 1, 2, 0], 3)
    assert conf.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_permutation_pvalue_agrees_with_the_g_test():
    """Weak dependence: the permutation p-value is the chi-square p-value of 2 n I, within Monte Carlo error."""
    rng = np.random.default_rng(3)
    n, k = 4000, 4
    y = rng.integers(0, k, n)
    a = np.where(rng.random(n) < 0.035, y, rng.integers(0, k, n))
    g_test = stats.chi2.sf(2 * n * label_mi(y, a, k), (k - 1) ** 2)
    assert 0.005 < g_test < 0.3  # the regime where the test matters
    perm = independence_pvalue(y, a, k, n_permutations=3000, seed=1)
    assert perm == pytest.approx(g_test, abs=max(0.02, 0.25 * g_test))
    assert independence_pvalue(y, y, k, n_permutations=99) == 0.01  # the smallest p of 99 permutations
    assert independence_pvalue(y, a, k, n_permutations=200, seed=5) == independence_pvalue(y, a, k, n_permutations=200,
                                                                                           seed=5)


def test_mi_interval_covers_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 8000)
    a = np.where(rng.random(8000) < 0.5, y, rng.integers(0, 5, 8000))
    lo, hi = label_mi_interval(y, a, 5, n_boot=300)
    lo_s, hi_s = label_mi_interval(y[:800], a[:800], 5, n_boot=300)
    assert lo < label_mi(y, a, 5) < hi
    assert hi - lo < 0.5 * (hi_s - lo_s)  # sqrt(10) narrower, about


def test_bad_labels_are_one_line_errors():
    with pytest.raises(GandiagInputError, match=r"in \[0, 3\)"):
        confusion_matrix([0, 1, 3], [0, 1, 2], 3)
    with pytest.raises(GandiagInputError, match="integer class indices"):
        label_mi([0.5, 1.0], [0, 1])
    with pytest.raises(GandiagInputError, match="differ in length"):
        label_accuracy([0, 1], [0])


# ------------------------------------------------------------------ synthetic conditional generators


def _evaluate(reference: str, defect: str, n: int | None = None):
    ref = gandiag.reference(reference)
    x, y = draw(ToyConditional(reference, defect), n or N[reference], seed=0)
    xr, yr = labelled_reference(reference, n or N[reference])
    feats = rfeats = None
    if reference == "digits":
        from gandiag.features import get_extractor

        extract = get_extractor("digits")
        feats, rfeats = extract(x), extract(xr)
    else:
        feats, rfeats = x, xr
    return evaluate_classes(x, y, ref, xr, yr, n_classes=ref.n_modes, features=feats, reference_features=rfeats,
                            n_permutations=499, seed=0)


@pytest.mark.parametrize("reference", ["ring8", "grid25", "digits"])
def test_perfect_conditional_generator_raises_no_flag(reference):
    r = _evaluate(reference, "perfect")
    assert r.flags.evidence == ""
    assert r.values["label_accuracy"] >= r.values["reference_accuracy"] - 0.03
    assert r.values["label_mi_pvalue"] == 1 / 500
    k = gandiag.reference(reference).n_modes
    assert r.values["label_mi"] > 0.85 * math.log(k)
    assert (r.classes["intra_mode_spread"].between(0.6, 1.4)).all()


@pytest.mark.parametrize("reference", ["ring8", "grid25", "digits"])
def test_ignored_label_is_condition_ignored(reference):
    r = _evaluate(reference, "ignored")
    k = gandiag.reference(reference).n_modes
    assert r.flags.raised("condition_ignored") and not r.flags.raised("class_dropping")
    assert abs(r.values["label_accuracy"] - 1 / k) < 0.04
    assert r.values["label_mi_pvalue"] > 0.05
    assert r.values["label_mi"] < 0.02 + (k - 1) ** 2 / (2 * N[reference])  # plug-in bias


@pytest.mark.parametrize("reference", ["ring8", "grid25", "digits"])
def test_shifted_labels_are_confusion_not_ignored(reference):
    r = _evaluate(reference, "shifted")
    k = gandiag.reference(reference).n_modes
    assert r.values["label_accuracy"] < 0.05
    assert r.values["label_mi"] > 0.8 * math.log(k)
    assert not r.flags.raised("condition_ignored") and not r.flags.raised("class_dropping")
    shift = r.confusion.argmax(axis=1)
    assert (shift == (np.arange(k) + 1) % k).all()


@pytest.mark.parametrize("reference", ["ring8", "grid25", "digits"])
def test_collapsed_class_2_is_named_alone(reference):
    r = _evaluate(reference, "collapsed")
    assert r.flags.raised("class_collapse") and r.flags.classes["class_collapse"] == (2,)
    assert "class 2" in r.flags.clauses["class_collapse"]
    assert r.classes.loc[2, "intra_mode_spread"] == pytest.approx(0.0, abs=1e-6)
    assert not r.flags.raised("condition_ignored") and not r.flags.raised("class_dropping")


@pytest.mark.parametrize("reference", ["ring8", "grid25", "digits"])
def test_missing_class_5_is_dropped_alone(reference):
    r = _evaluate(reference, "missing")
    assert r.flags.raised("class_dropping") and r.flags.classes["class_dropping"] == (5,)
    assert r.classes.loc[5, "output_share"] == 0.0
    assert not r.flags.raised("condition_ignored") and not r.flags.raised("class_collapse")


def test_a_class_never_requested_is_dropped():
    """A sample file whose labels lack class 5 (its samples too)."""
    ref = gandiag.reference("ring8")
    x, y = draw(ToyConditional("ring8", "perfect"), 2000)
    keep = y != 5
    xr, yr = labelled_reference("ring8", 2000)
    r = evaluate_classes(x[keep], y[keep], ref, xr, yr, n_classes=8, n_permutations=99)
    assert r.flags.classes["class_dropping"] == (5,) and "never requested: class 5" in r.flags.evidence


def test_intra_class_fid_is_the_mean_of_per_class_fids():
    ref = gandiag.reference("ring8")
    x, y = draw(ToyConditional("ring8", "perfect"), 1600)
    xr, yr = labelled_reference("ring8", 1600)
    m, h = ref.assign_modes(x)
    mr, hr = ref.assign_modes(xr)
    table = class_table(x, y, m, h, xr, yr, mr, hr, n_classes=8, features=x, reference_features=xr)
    direct = np.mean([fid(xr[yr == c], x[y == c]) for c in range(8)])
    assert intra_class_fid(table) == pytest.approx(direct, rel=1e-12)
    assert (table["n"] == 200).all() and (table["accuracy"] == 1.0).all()


# ------------------------------------------------------------------ translation


def _dcor_bivariate_normal(rho: float) -> float:
    """Szekely, Rizzo & Bakirov (2007), Theorem 7: dCor of a standard bivariate normal."""
    num = rho * math.asin(rho) + math.sqrt(1 - rho**2) - rho * math.asin(rho / 2) - math.sqrt(4 - rho**2) + 1
    return math.sqrt(num / (1 + math.pi / 3 - math.sqrt(3)))


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_distance_correlation_matches_the_closed_form(rho):
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=2000)
    assert distance_correlation(x[:, None], y[:, None]) == pytest.approx(_dcor_bivariate_normal(rho), abs=0.02)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def test_translation_true_rotation_constant_and_ignoring_maps():
    ring = gandiag.reference("ring8")
    half = _rotation(math.pi / 8)  # half a mode spacing
    x = ring.sample(1000, seed=0).numpy().astype(np.float64)
    target = ring.sample(1000, seed=1).numpy() @ half.T
    tol = 3 * ring.std

    true = evaluate_translation(x, x @ half.T, target, source_cycled=(x @ half.T) @ half, expected=x @ half.T,
                                tolerance=tol)
    assert true.values["input_dependence"] == pytest.approx(1.0, abs=1e-9) and true.flags.evidence == ""
    assert true.values["cycle_error"] == pytest.approx(0.0, abs=1e-9)
    assert true.values["map_accuracy"] == 1.0 and abs(true.values["output_diversity"] - 1) < 0.1

    constant = evaluate_translation(x, np.tile([[2.0, 0.0]], (1000, 1)), target)
    assert constant.flags.raised("condition_ignored") and constant.values["output_diversity"] == 0.0
    assert constant.values["input_dependence_pvalue"] == 1.0

    sampler = ring.sample(1000, seed=7).numpy() @ half.T  # the target, drawn without looking at x
    ignoring = evaluate_translation(x, sampler, target, expected=x @ half.T, tolerance=tol)
    assert ignoring.flags.raised("condition_ignored")
    assert abs(ignoring.values["output_diversity"] - 1) < 0.1  # unconditionally it looks perfect
    assert ignoring.values["map_accuracy"] < 0.25  # about 1/8 by chance


def test_input_dependence_pvalue_matches_a_loop_over_permutations():
    """The block-vectorised test against the textbook loop (one permutation at a time), within Monte Carlo error."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))

    def centred(v):
        d = np.linalg.norm(v[:, None] - v[None], axis=-1)
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(y)
    observed = (a * b).mean()
    loop = np.mean([(a * b[p][:, p]).mean() >= observed for p in (rng.permutation(300) for _ in range(400))])
    dep, p = input_dependence(x, y, n_permutations=399, seed=3)
    assert dep == pytest.approx(math.sqrt(observed / math.sqrt((a * a).mean() * (b * b).mean())), rel=1e-9)
    assert p == pytest.approx(loop, abs=0.06) and p > 0.05
    assert (dep, p) == input_dependence(x, y, n_permutations=399, seed=3)


def test_translation_functions_refuse_bad_input():
    with pytest.raises(GandiagInputError, match="one row per input"):
        cycle_error(np.zeros((4, 2)), np.zeros((3, 2)))
    with pytest.raises(GandiagInputError, match="tolerance"):
        map_accuracy(np.zeros((4, 2)), np.zeros((4, 2)), 0)
