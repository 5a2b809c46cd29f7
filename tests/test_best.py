"""best_checkpoints: the best value, the ties by interval overlap, the flag-free recommendation."""

import math

import pandas as pd
import pytest

from gandiag.auditing.best import best_by_run, best_checkpoints
from gandiag.errors import GandiagInputError


def _frame(values, lows, highs, *, metric="fid", flags=None, runs=None, errors=None):
    n = len(values)
    frame = pd.DataFrame({
        "source": [f"step-{i}.pt" for i in range(n)], "step": list(range(0, 100 * n, 100)),
        metric: values, f"{metric}_ci_low": lows, f"{metric}_ci_high": highs,
        "mode_collapse": flags or [False] * n, "mode_dropping": [False] * n, "low_quality": [False] * n,
        "run": runs or ["run"] * n, "error": errors or [""] * n,
    })
    floor = {"source": "real-vs-real", metric: 0.0, f"{metric}_ci_low": -1.0, f"{metric}_ci_high": 1.0,
             "run": "", "error": ""}
    return pd.concat([frame, pd.DataFrame([floor])], ignore_index=True)


def test_ties_are_the_intervals_that_reach_the_best_interval():
    # best = step 200 (value 2, interval [1.5, 2.5]); step 100's interval [2.4, 3.6] reaches 2.5: tied;
    # step 0's [2.6, 3.4] starts above 2.5: significantly worse; the floor row is never a candidate.
    frame = _frame([3.0, 3.0, 2.0, 10.0], [2.6, 2.4, 1.5, 9.0], [3.4, 3.6, 2.5, 11.0])
    choice = best_checkpoints(frame, "fid")
    assert choice.best == ("step-2.pt", 200)
    assert choice.tied == [("step-2.pt", 200), ("step-1.pt", 100)]
    assert choice.recommended == ("step-2.pt", 200)
    assert list(choice.table["source"])[:2] == ["step-2.pt", "step-0.pt"]  # sorted by value, stable
    assert choice.table["tied"].sum() == 2


def test_a_flagged_best_is_not_recommended():
    frame = _frame([3.0, 2.0, 2.2], [2.0, 1.0, 1.9], [4.0, 3.0, 2.5], flags=[False, True, False])
    choice = best_checkpoints(frame)
    assert choice.metric == "fid"  # the default order starts with fid
    assert choice.best == ("step-1.pt", 100)
    assert choice.recommended == ("step-2.pt", 200)  # best unflagged among the ties


def test_when_every_tie_is_flagged_the_best_unflagged_checkpoint_is_recommended():
    frame = _frame([1.0, 9.0], [0.9, 8.0], [1.1, 10.0], flags=[True, False])
    choice = best_checkpoints(frame)
    assert choice.tied == [("step-0.pt", 0)]
    assert choice.recommended == ("step-1.pt", 100)
    assert "raises a flag" in choice.rule


def test_every_checkpoint_flagged_means_no_recommendation():
    choice = best_checkpoints(_frame([1.0, 2.0], [0.5, 1.5], [1.5, 2.5], flags=[True, True]))
    assert choice.recommended is None and "no recommendation" in choice.rule
    assert "recommended: none" in choice.describe()


def test_lower_is_worse_metric_ranks_by_largest_value():
    frame = _frame([0.5, 0.9, 0.85], [0.4, 0.8, 0.82], [0.6, 0.95, 0.88], metric="coverage")
    choice = best_checkpoints(frame, "coverage")
    assert choice.best == ("step-1.pt", 100)
    assert choice.tied == [("step-1.pt", 100), ("step-2.pt", 200)]


def test_spread_is_judged_by_distance_from_one():
    frame = _frame([0.2, 1.05, 1.6], [0.1, 0.95, 1.5], [0.3, 1.2, 1.7], metric="intra_mode_spread")
    choice = best_checkpoints(frame, "intra_mode_spread")
    assert choice.best == ("step-1.pt", 100)
    assert choice.tied == [("step-1.pt", 100)]


def test_without_intervals_only_equal_values_tie():
    nan = math.nan
    frame = _frame([2.0, 1.0, 1.0], [nan] * 3, [nan] * 3)
    choice = best_checkpoints(frame)
    assert choice.tied == [("step-1.pt", 100), ("step-2.pt", 200)]
    assert "no intervals" in choice.rule


def test_error_rows_and_runs():
    frame = _frame([1.0, 2.0, 3.0, 0.5], [0.9, 1.9, 2.9, 0.4], [1.1, 2.1, 3.1, 0.6],
                   runs=["a", "a", "b", "b"], errors=["", "", "", "boom"])
    per_run = best_by_run(frame)
    assert set(per_run) == {"a", "b"}
    assert per_run["a"].best == ("step-0.pt", 0)
    assert per_run["b"].best == ("step-2.pt", 200)  # the error row (0.5) is not a candidate
    with pytest.raises(GandiagInputError, match="run 'c'"):
        best_checkpoints(frame, run="c")
    with pytest.raises(GandiagInputError, match="'w1' has no value"):
        best_checkpoints(frame, "w1")


def test_best_command_ranks_a_run_and_writes_the_table(tmp_path, capsys):
    import numpy as np
    import torch

    from gandiag.cli import main
    from helpers import DEFECTS, DefectGenerator

    run = tmp_path / "run"
    run.mkdir()
    for i, name in enumerate(["missing", "perfect", "blurred"]):
        weights, scale, _ = DEFECTS[name]
        torch.manual_seed(i)
        np.save(run / f"step-{(i + 1) * 100:07d}.npy", DefectGenerator(weights, scale)(torch.randn(600, 3)).numpy())
    code = main(["best", str(run), "--reference", "ring8", "--n", "300", "--metrics", "modes", "--metric", "mode_kl",
                 "--resamples", "4", "--quiet", "--out", str(tmp_path / "best.csv")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"recommended: {run / 'step-0000200.npy'} (step 200)" in out
    table = pd.read_csv(tmp_path / "best.csv")
    assert list(table["step"]) == [200, 300, 100]  # mode_kl: perfect < blurred (8 modes) < 5 missing
    assert table.loc[table["best"], "step"].tolist() == [200]
    assert table.loc[table["recommended"], "step"].tolist() == [200]


def test_a_misspelt_metric_is_refused_before_anything_is_scored(tmp_path, capsys):
    from gandiag.cli import main

    frame = _frame([1.0, 2.0], [0.9, 1.9], [1.1, 2.1])
    with pytest.raises(GandiagInputError, match=r"'fidd' is not a metric that ranks checkpoints \(did you mean fid\?\)"):
        best_checkpoints(frame, "fidd")
    with pytest.raises(GandiagInputError, match="'evidence' is not a metric"):
        best_checkpoints(frame, "evidence")
    # The run folder does not exist: the metric is checked first, so that is not what the command says.
    code = main(["best", str(tmp_path / "no-such-run"), "--reference", "ring8", "--metric", "fidd"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'fidd' is not a metric that ranks checkpoints (did you mean fid?)" in err
    assert "no-such-run" not in err
