"""Interval calibration: the 95% intervals of gandiag.metrics.intervals hold their coverage.

The full measurement is ``benchmarks/bench_calibration.py`` (reports/calibration.md); here a
closed-form case with many cheap seeds, and a smoke run of the benchmark itself on one metric,
fail if coverage collapses.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gandiag.errors import GandiagInputError
from gandiag.metrics.intervals import bootstrap_interval, resample_interval, subsample_interval

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_calibration.py"


def _mean_gap(real, fake):
    return float(np.mean(fake) - np.mean(real))


@pytest.mark.parametrize("kind", ["subsample", "bootstrap"])
def test_centred_intervals_cover_a_known_mean_difference(kind):
    # real ~ N(0, 1), fake ~ N(0.3, 1), n = 200 each: the statistic's truth is 0.3 exactly and its
    # sd sqrt(2 / 200) = 0.1; a 95% interval must hold 0.3 in about 95% of 300 seeds.
    covered, widths = [], []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        real, fake = rng.normal(size=(200, 1)), rng.normal(0.3, 1.0, size=(200, 1))
        if kind == "subsample":
            low, high = subsample_interval(_mean_gap, real, fake, repeats=20, seed=seed)
        else:
            low, high = bootstrap_interval(_mean_gap, real, fake, n_boot=20, seed=seed)
        covered.append(low <= 0.3 <= high)
        widths.append(high - low)
    assert 0.90 <= np.mean(covered) <= 0.99
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 0.1, rel=0.2)  # the full-n width, not half-n's


def test_resample_interval_by_hand():
    values = [1.0, 2.0, 3.0]  # sd 1; t(2, 0.975) = 4.3027; half-size subsamples: c = 1
    low, high = resample_interval(values, 10.0, fraction=0.5)
    assert (low, high) == pytest.approx((10 - 4.302653, 10 + 4.302653), abs=1e-5)
    low, high = resample_interval(values, 10.0, fraction=0.2)  # c = sqrt(0.2 / 0.8) = 1/2
    assert high - 10 == pytest.approx(4.302653 / 2, abs=1e-5)
    with pytest.raises(GandiagInputError, match="method='percentile'"):
        resample_interval(values, 10.0, fraction=1.0)


def test_calibration_smoke_w1_on_ring8():
    spec = importlib.util.spec_from_file_location("bench_calibration", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sims = bench.simulate(["w1"], "same", seeds=12, n=100, resamples=10)
    cover = bench.coverage(sims["w1"], truth=0.0)
    assert cover["full_n"] >= 10 / 12  # nominal 0.95; collapsed intervals (e.g. half-n percentiles of a biased metric) fall far below
    assert cover["truth"] < 0.5 < cover["mean"] / cover["sd"]  # W1 is biased upward at finite n: its truth 0 is rarely covered


def test_the_gate_takes_margins_only_on_calibrated_intervals():
    from gandiag.gate.config import BASELINE_METRICS, parse_config
    from gandiag.metrics.registry import get_spec

    assert not get_spec("js").trusted_interval and "js" not in BASELINE_METRICS
    assert get_spec("w1").trusted_interval and "w1" in BASELINE_METRICS
    assert parse_config({"reference": "ring8", "metrics": {"w1": {"margin": 0.1}}}).has_baseline_rules
    with pytest.raises(GandiagInputError, match="js has an interval that is not calibrated"):
        parse_config({"reference": "ring8", "metrics": {"js": {"margin": 0.1}}})
    assert parse_config({"reference": "ring8", "metrics": {"js": {"max": 0.1}}}).metrics[0].max == 0.1  # bounds stay


def test_intervals_never_reach_past_the_metric_range():
    import gandiag
    from gandiag.metrics.intervals import clip_intervals

    row = {"modes_total": 8, "modes_captured": 7, "modes_captured_ci_low": 4.0, "modes_captured_ci_high": 10.5,
           "mode_kl": 0.01, "mode_kl_ci_low": -0.02, "mode_kl_ci_high": 0.04, "kid": 0.001,
           "kid_ci_low": -0.002, "kid_ci_high": 0.004, "js": 0.69, "js_ci_low": 0.6, "js_ci_high": 0.8}
    clip_intervals(row)
    assert (row["modes_captured_ci_low"], row["modes_captured_ci_high"]) == (4.0, 8.0)
    assert (row["mode_kl_ci_low"], row["mode_kl_ci_high"]) == (0.0, 0.04)
    assert row["kid_ci_low"] == -0.002  # KID's unbiased estimate may be negative
    assert row["js_ci_high"] == pytest.approx(np.log(2))
    # end to end: a perfect generator's intervals stay inside the ranges
    real = gandiag.reference("ring8").sample(200, seed=4).numpy()
    out = gandiag.score(real, "ring8", n=200, metrics="modes", resamples=8)
    assert out["modes_captured_ci_high"] <= out["modes_total"] and out["mode_kl_ci_low"] >= 0
    assert 0 <= out["hq_fraction_ci_low"] <= out["hq_fraction_ci_high"] <= 1
