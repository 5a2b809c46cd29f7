"""Single-checkpoint flags (gandiag.modes.flags) on synthetic generators with known defects."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.modes import FLAG_COLUMNS, FlagThresholds, detect_flags, dropped_modes, mode_metrics
from gandiag.modes.flags import min_trusted_n
from gandiag.scoring import Scorer
from helpers import DEFECTS, DefectGenerator

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
    assert m["modes_captured"] == 8 and m["intra_mode_spread"] > 1.3
    out = detect_flags(m)
    assert (out["mode_dropping"], out["mode_collapse"], out["low_quality"]) == (False, False, True)
    assert out["evidence"] == (f"low_quality: hq_fraction {m['hq_fraction']:.3g} < 0.5 x reference "
                               f"{m['reference_hq_fraction']:.3g}, intra_mode_spread {m['intra_mode_spread']:.3g} "
                               "> 1.3 (modes wider than the reference's)")


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_std_doubled_raises_low_quality_through_max_spread(name):
    # 68% of the samples stay within 3 reference std (1 - exp(-9/8) = 0.675): hq_fraction alone
    # would pass; the within-mode std of the high-quality samples (a chi-2 truncated at 1.5 of
    # the generator's std, against 3 of the reference's) reads about 1.4.
    ref = gandiag.reference(name)
    m = mode_metrics(mixture(ref, N, 8, scale=2.0), ref, seed=99)
    assert m["hq_fraction"] == pytest.approx(1 - np.exp(-9 / 8), abs=0.03)
    assert 1.33 < m["intra_mode_spread"] < 1.5 and m["spread_wider_pvalue"] < 1e-6
    out = detect_flags(m)
    assert (out["mode_dropping"], out["mode_collapse"], out["low_quality"]) == (False, False, True)
    assert out["evidence"] == f"low_quality: intra_mode_spread {m['intra_mode_spread']:.3g} > 1.3 (modes wider than the reference's)"
    assert not detect_flags(m, FlagThresholds(max_spread=1.6))["low_quality"]


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_the_five_defects_keep_their_flags(defect):
    weights, scale, expected = DEFECTS[defect]
    ring = gandiag.reference("ring8")
    m = mode_metrics(DefectGenerator(weights, scale)(torch.randn(N, 3, generator=torch.Generator().manual_seed(3))),
                     ring, seed=99)
    out = detect_flags(m)
    assert {f for f in FLAG_COLUMNS[:3] if out[f]} == expected, out["evidence"]


def test_samples_entirely_off_the_modes_are_also_missing_modes():
    # Every sample 0.5 from the circle: no high-quality sample anywhere, so by the contract's
    # definition every mode is missing as well as the quality being low.
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(1.25 * mixture(ring, N, 7), ring)
    assert raised == {"mode_dropping", "low_quality"}
    assert evidence.startswith("mode_dropping: 8 of 8 modes missing (0, 1, 2, 3, 4, 5, 6, 7); "
                               "low_quality: hq_fraction 0 <")


def test_a_pile_off_the_data_says_its_samples_are_only_nearest_to_the_mode():
    # 0.6 of the samples lie nearest to mode 1 but 0.5 beyond the circle: no mode holds them in the
    # 3-std sense, so the collapse clause says that they are not high quality (the demo's gan-ring8 case:
    # "8 of 8 modes missing" beside "mode 1 holds 0.56 of samples" read as a contradiction).
    ring = gandiag.reference("ring8")
    raised, evidence = flags_of(1.25 * mixture(ring, N, 3, weights_piled(1, 0.6)), ring)
    assert raised == {"mode_dropping", "mode_collapse", "low_quality"}
    clause = re.search(r"mode_collapse: mode 1 holds (0\.\d+) of samples \(reference 0\.125, 0% of them high "
                       r"quality\)", evidence)
    assert clause is not None, evidence
    assert float(clause[1]) == pytest.approx(0.6, abs=0.02)
    assert evidence.count("; ") == 2  # "; " separates the three clauses and nothing else (verdicts split on it)


def test_the_verdict_quotes_the_whole_collapse_clause(tmp_path):
    # The verdict splits the evidence at "; ": a clause holding ";" was cut to "(reference 0.125".
    ring = gandiag.reference("ring8")
    off = 1.25 * mixture(ring, N, 3, weights_piled(1, 0.6))
    np.save(tmp_path / "step-0000300.npy", off.numpy().astype(np.float32))
    report = gandiag.audit(tmp_path / "step-0000300.npy", "ring8", n=N, metrics="modes", progress=False)
    verdict = report.verdict_lines()[0]
    assert re.search(r"mode 1 holds 0\.\d+ of samples \(reference 0\.125, 0% of them high quality\)", verdict), verdict
    # a single file has no history: no "since step" (it read "since step None" or the file's own step)
    assert " since step" not in verdict and "class='since'" not in report.to_html(plots={})


def test_thresholds_are_configurable():
    ring = gandiag.reference("ring8")
    shrunk = mode_metrics(mixture(ring, N, 5, scale=0.1), ring, seed=99)
    assert not detect_flags(shrunk, FlagThresholds(min_spread=0.05))["mode_collapse"]
    piled = mode_metrics(mixture(ring, N, 3, weights_piled(1, 0.6)), ring, seed=99)
    assert not detect_flags(piled, FlagThresholds(dominant_share=0.7))["mode_collapse"]
    assert detect_flags(piled, FlagThresholds(starved_ratio=0.5))["mode_dropping"]  # 0.057 < 0.5 x 0.125
    blurred = mode_metrics(mixture(ring, N, 6, scale=5.0), ring, seed=99)
    assert not detect_flags(blurred, FlagThresholds(hq_ratio=0.1, max_spread=5))["low_quality"]
    from gandiag.cli.options import thresholds
    from gandiag.gate.config import parse_config

    assert thresholds(["max_spread=1.5", "significance=none"]) == FlagThresholds(max_spread=1.5, significance=None)
    gate = parse_config({"reference": "ring8", "flags": ["low_quality"], "thresholds": {"max_spread": 1.5}})
    assert gate.thresholds == FlagThresholds(max_spread=1.5)


def test_significance_guard_is_on_and_only_matters_for_tiny_expected_counts():
    """grid25 at n = 50 (2 samples expected per mode): empty modes are chance, not dropping."""
    grid = gandiag.reference("grid25")
    m = mode_metrics(grid.sample(50, seed=0), grid, seed=1)
    assert m["modes_captured"] < 25
    assert FlagThresholds().significance == 0.01 and not detect_flags(m)["mode_dropping"]
    for off in (None, 0):  # the literal rule, on request
        literal = detect_flags(m, FlagThresholds(significance=off))
        assert literal["mode_dropping"] and f"{25 - m['modes_captured']} of 25 modes missing" in literal["evidence"]
    # at the literature's n the guard changes nothing: five missing modes of ring8 stay missing
    ring = gandiag.reference("ring8")
    dropped = mode_metrics(mixture(ring, N, 1, weights_without([2, 3, 5, 6, 7])), ring, seed=99)
    assert detect_flags(dropped) == detect_flags(dropped, FlagThresholds(significance=None))


def test_healthy_ring8_at_n_100_misses_no_mode():
    # without the guard, 3 of 8 modes of a perfect ring8 sample of 100 can come out "missing"
    rows = [Scorer("ring8", n=100, seed=s, metrics="modes").floor() for s in range(10)]
    assert all(row["evidence"] == "" and row["notes"] == "" for row in rows)


@pytest.mark.parametrize(("shares", "counted", "expected"), [
    (np.full(8, 1 / 8), False, 51),    # log(0.01 / 8) / log(7 / 8) = 50.06
    (np.full(25, 1 / 25), False, 192),  # log(0.01 / 25) / log(24 / 25) = 191.7
    (np.full(100, 1 / 100), True, 1688),  # 0.5^c <= 1e-4 needs c = 14 = round(0.008 n) bins' samples
])
def test_min_trusted_n_is_where_a_missing_mode_becomes_significant(shares, counted, expected):
    r = 0.8 if counted else 1.0
    n_min = min_trusted_n(shares, hq_fraction=r, counted=counted)
    assert n_min == expected
    m = len(shares)

    def missing_flagged(n):  # mode 0 wholly absent, the others perfect, through dropped_modes itself
        counts = np.full(m, n / (m - 1))
        counts[0] = 0
        metrics = {"mode_shares": counts / n, "reference_shares": shares, "mode_hq_counts": counts,
                   "mode_counts": counts, "n": n, "reference_hq_fraction": r,
                   "reference_count": n if counted else float("inf")}
        return bool(dropped_modes(metrics)[0][0])

    assert missing_flagged(n_min) and not missing_flagged(n_min - 1)


def test_spread_flags_wait_for_the_f_test():
    base = {"mode_shares": np.full(8, 1 / 8), "reference_shares": np.full(8, 1 / 8), "mode_hq_counts": np.full(8, 5),
            "mode_counts": np.full(8, 5), "n": 40, "hq_fraction": 1.0, "reference_hq_fraction": 1.0}
    wide = {**base, "intra_mode_spread": 1.5, "spread_wider_pvalue": 0.02, "spread_narrower_pvalue": 0.98}
    assert not detect_flags(wide)["low_quality"]
    assert detect_flags(wide, FlagThresholds(significance=0.05))["low_quality"]
    narrow = {**base, "intra_mode_spread": 0.45, "spread_wider_pvalue": 0.98, "spread_narrower_pvalue": 0.02}
    assert not detect_flags(narrow)["mode_collapse"]
    assert detect_flags(narrow, FlagThresholds(significance=None))["mode_collapse"]


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
    with pytest.raises(GandiagInputError, match="max_spread"):
        FlagThresholds(max_spread=float("nan"))
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


def test_thresholds_of_both_flag_families_refuse_bad_numbers_by_name():
    import math

    from gandiag.conditional.flags import ConditionalThresholds
    from gandiag.errors import GandiagInputError
    from gandiag.modes import FlagThresholds

    for bad in (-1.0, math.nan, math.inf, True, "0.5"):
        with pytest.raises(GandiagInputError, match="flag threshold min_spread must be a non-negative number"):
            FlagThresholds(min_spread=bad)
        with pytest.raises(GandiagInputError, match="conditional threshold chance_margin must be a non-negative"):
            ConditionalThresholds(chance_margin=bad)
    assert FlagThresholds(min_spread=0).min_spread == 0
