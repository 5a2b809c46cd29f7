"""Run-level findings (gandiag.modes.run_findings): onsets, mode hopping, non-convergence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.modes import (
    RunThresholds,
    analyze_run,
    detect_flags,
    dominant_modes,
    flag_onsets,
    mode_hops,
    mode_metrics,
    non_convergence,
)


def flags_frame(column, values, steps=None):
    steps = steps if steps is not None else [100 * (i + 1) for i in range(len(values))]
    return pd.DataFrame({"step": steps, column: values})


@pytest.mark.parametrize(
    "values, onset",
    [
        ([False, False, True, True, True], 300),  # appears at 300 and stays
        ([False, True, True, False, False], None),  # appears and disappears
        ([True, False, True, True, True], 300),  # only the final unbroken stretch counts
        ([True, True, True, True, True], 100),
        ([False, False, False, False, True], 500),  # raised at the last checkpoint only
        ([False, True, None, True, True], 200),  # a failed checkpoint neither breaks nor starts
        ([False, True, True, True, None], 200),
    ],
)
def test_flag_onsets(values, onset):
    assert flag_onsets(flags_frame("mode_dropping", values), ["mode_dropping"]) == {"mode_dropping": onset}


def test_flag_onsets_read_back_from_csv(tmp_path):
    flags_frame("mode_collapse", [True, False, True, True]).to_csv(tmp_path / "r.csv", index=False)
    frame = pd.read_csv(tmp_path / "r.csv", dtype={"mode_collapse": str})
    assert flag_onsets(frame, ["mode_collapse"]) == {"mode_collapse": 300}


def test_flag_onsets_sort_by_step():
    frame = flags_frame("low_quality", [True, False, True], steps=[300, 100, 200])
    assert flag_onsets(frame, ["low_quality"]) == {"low_quality": 200}


def test_dominant_mode_needs_a_clear_share():
    uniform = np.full(8, 1 / 8)
    piled = np.r_[0.7, np.full(7, 0.3 / 7)]
    tie = np.r_[0.45, 0.45, np.full(6, 0.1 / 6)]
    two_thirds = np.r_[0.2, 0.3, 0.5, np.zeros(5)]  # 0.5 >= 2 x 1/8 and 0.2 ahead of the runner-up
    np.testing.assert_array_equal(dominant_modes([uniform, piled, tie, two_thirds]), [-1, 0, -1, 2])
    # against a non-uniform reference, 0.7 on a mode whose reference share is 0.4 is not dominant
    q = np.r_[0.4, np.full(7, 0.6 / 7)]
    np.testing.assert_array_equal(dominant_modes([piled], q), [-1])
    np.testing.assert_array_equal(dominant_modes([tie], thresholds=RunThresholds(hop_margin=0.0)), [0])


def test_mode_hops_between_consecutive_checkpoints():
    def on(mode, share=0.7):
        p = np.full(8, (1 - share) / 7)
        p[mode] = share
        return p

    shares = [np.full(8, 1 / 8), on(2), on(2), on(5), np.full(8, 1 / 8), on(1), on(6), None]
    hops = mode_hops([0, 100, 200, 300, 400, 500, 600, 700], shares)
    assert [(h.step_from, h.step_to, h.mode_from, h.mode_to) for h in hops] == [(200, 300, 2, 5), (500, 600, 1, 6)]
    assert str(hops[0]) == "step 200 -> 300: mode 2 -> 5"


def test_oscillating_loss_is_non_converging():
    steps = np.arange(0, 3000, 10)
    rng = np.random.default_rng(0)
    loss = 1.0 + 0.5 * np.sin(steps / 150.0) + 0.05 * rng.normal(size=len(steps))
    res = non_convergence(steps, loss, name="loss_g")
    assert res.non_converging is True
    assert res.trend_pvalue >= 0.05 and res.relative_spread >= 0.2
    assert res.tail_from_step == 2000 and res.n_points == 300
    assert str(res).startswith("loss_g: oscillates without trend from step 2000 (Kendall tau ")


def test_converging_and_trending_series_are_not_flagged():
    steps = np.arange(0, 3000, 10)
    rng = np.random.default_rng(1)
    converging = 1.0 + 2.0 * np.exp(-steps / 300.0) + 0.05 * rng.normal(size=len(steps))
    assert non_convergence(steps, converging).non_converging is False
    settling_near_zero = 1.5 * np.exp(-steps / 200.0) + 0.001 * np.abs(rng.normal(size=len(steps)))  # mode_kl
    assert non_convergence(steps, settling_near_zero).non_converging is False
    trending = 5.0 - steps / 1000.0 + 0.3 * np.sin(steps / 40.0)  # oscillates, but still going down
    res = non_convergence(steps, trending)
    assert res.non_converging is False and res.trend_pvalue < 0.05
    assert non_convergence(steps, np.full(len(steps), 0.7)).non_converging is False


def test_too_short_a_series_is_not_assessed():
    res = non_convergence([1, 2, 3, 4, 5, 6], [1, 2, 1, 2, 1, 2], name="w1")
    assert res.non_converging is None and str(res) == "w1: not assessed (6 points)"


def _write_run(folder, ring, n=2000):
    """Ten checkpoints: piled on mode 0, then mode 4, healthy, then five modes lost from step 600."""
    def samples(weights, seed):
        g = torch.Generator().manual_seed(seed)
        k = torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), n, replacement=True, generator=g)
        return (ring.centres[k] + ring.std * torch.randn(n, 2, generator=g)).numpy()

    def piled(mode):
        w = np.full(8, 0.4 / 7)
        w[mode] = 0.6
        return w

    dropped = np.r_[1, 1, 0, 1, 0, 0, 0, 0] / 3.0
    plan = [piled(0), piled(0), piled(4), np.full(8, 1 / 8), np.full(8, 1 / 8)] + [dropped] * 5
    for i, w in enumerate(plan):
        np.save(folder / f"step-{100 * (i + 1):07d}.npy", samples(w, i))


def test_analyze_a_run_folder_of_sample_files(tmp_path):
    ring = gandiag.reference("ring8")
    _write_run(tmp_path, ring)
    run = gandiag.load_generator(tmp_path)
    rows = []
    for gen in run:
        m = mode_metrics(gen.sample(2000, seed=0), ring, seed=1)
        rows.append({"step": gen.step, **detect_flags(m), "mode_kl": m["mode_kl"], "mode_shares": m["mode_shares"]})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # any row order

    steps = np.arange(0, 1000, 5)
    losses = pd.DataFrame({"step": steps, "loss_d": 1.3 + 0.01 * np.cos(steps / 7.0),
                           "loss_g": 0.8 + 0.4 * np.sin(steps / 30.0)})
    found = analyze_run(frame, losses=losses)
    assert found.onsets == {"mode_dropping": 600, "mode_collapse": None, "low_quality": None}
    assert [(h.step_from, h.step_to, h.mode_from, h.mode_to) for h in found.hops] == [(200, 300, 0, 4)]
    assert found.mode_hopping
    verdicts = {c.name: c.non_converging for c in found.convergence}
    assert verdicts == {"mode_kl": None, "loss_d": False, "loss_g": True}  # 10 checkpoints: tail too short
    assert found.non_converging
    lines = found.lines()
    assert lines[0] == "mode_dropping from step 600 to the end of the run"
    assert lines[1] == "mode hopping: dominant mode changed 1 time (step 200 -> 300: mode 0 -> 4)"
    assert lines[2].startswith("non-convergence: loss_g: oscillates without trend from step 665")
    assert len(lines) == 3

    # explicit shares in the frame's row order give the same hops
    again = analyze_run(frame.drop(columns="mode_shares"), shares=frame["mode_shares"].tolist())
    assert again.hops == found.hops and again.onsets == found.onsets


def test_run_input_errors_are_clear():
    with pytest.raises(GandiagInputError, match="no 'step' column"):
        flag_onsets(pd.DataFrame({"mode_dropping": [True]}))
    with pytest.raises(GandiagInputError, match="no 'low_quality' column"):
        flag_onsets(pd.DataFrame({"step": [1]}), ["low_quality"])
    with pytest.raises(GandiagInputError, match="tail_fraction"):
        RunThresholds(tail_fraction=0)
    with pytest.raises(GandiagInputError, match="differ in length"):
        dominant_modes([np.ones(3) / 3, np.ones(4) / 4])
    with pytest.raises(GandiagInputError, match="2 steps but 3 rows"):
        mode_hops([1, 2], [np.ones(2) / 2] * 3)
