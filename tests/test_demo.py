"""``gandiag demo``: trains both runs (at once or one after the other, same bytes), audits, reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gandiag.cli import main
from reference_models import checkpoints, make_config, train
from reference_models import demo
from reference_models.demo import DEMO_RECIPES, demo_jobs

TINY = ["--steps", "3", "--n", "200", "--quiet"]


def _report_without_paths(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "report.csv").replace(str(folder), "OUT", regex=True)


def test_demo_trains_audits_and_reports_the_same_at_once_or_one_after_the_other(tmp_path, capsys):
    """Each run depends on its recipe, seed and thread count only: two worker processes write the
    checkpoints the parent writes alone, byte for byte, and the report is the same."""
    parallel, serial = tmp_path / "parallel", tmp_path / "serial"
    assert main(["demo", "--out", str(parallel), "--jobs", "2", *TINY]) == 0
    out = capsys.readouterr().out
    for recipe in DEMO_RECIPES:
        names = [p.name for p in checkpoints(parallel / "runs" / recipe)]
        assert names == ["step-0000000.pt", "step-0000003.pt"]
        assert f"{recipe}: 2 checkpoints" in out
        assert f"runs/{recipe}** (2 checkpoints, last step 3)" in out  # the findings, per run
    frame = pd.read_csv(parallel / "report.csv")
    assert len(frame) == 5 and frame["source"].iloc[-1] == "real-vs-real"
    assert frame["w1"].notna().all() and frame["modes_total"].eq(8).all()
    assert (parallel / "report.md").read_text().startswith("# gandiag audit")
    assert (parallel / "samples.png").exists() and (parallel / "metrics_vs_step.png").exists()
    # run again: the runs are complete, so nothing is retrained and nothing breaks
    before = {p: p.stat().st_mtime_ns for p in (parallel / "runs").rglob("*.pt")}
    assert main(["demo", "--out", str(parallel), *TINY]) == 0
    assert {p: p.stat().st_mtime_ns for p in (parallel / "runs").rglob("*.pt")} == before

    assert main(["demo", "--out", str(serial), "--jobs", "1", *TINY]) == 0
    for recipe in DEMO_RECIPES:
        for a, b in zip(checkpoints(serial / "runs" / recipe), checkpoints(parallel / "runs" / recipe), strict=True):
            assert a.name == b.name and a.read_bytes() == b.read_bytes(), (recipe, a.name)
    # the two recipes differ (the generator's loss), so a mix-up of the runs would show here
    last = [(serial / "runs" / r / "step-0000003.pt").read_bytes() for r in DEMO_RECIPES]
    assert last[0] != last[1]
    pd.testing.assert_frame_equal(_report_without_paths(serial), _report_without_paths(parallel))


def test_a_failing_run_stops_the_demo_and_writes_no_report(tmp_path, capsys):
    """A run folder holding another seed's run cannot be resumed: the worker's error reaches the
    command (exit 2, one line naming the folder) and no report is written."""
    stale = tmp_path / "runs" / DEMO_RECIPES[1]
    train(make_config(DEMO_RECIPES[1], {"seed": 1, "steps": 2, "checkpoint_every": 2}), stale, progress=False)
    assert main(["demo", "--out", str(tmp_path), "--jobs", "2", *TINY]) == 2
    err = capsys.readouterr().err
    assert str(stale) in err and "seed" in err
    assert not (tmp_path / "report.csv").exists() and not (tmp_path / "report.html").exists()


def test_an_unpicklable_worker_error_still_reaches_the_parent(tmp_path):
    """``SourceError`` cannot be rebuilt from its pickle; the worker re-raises it as a plain input
    error with the same words instead of hanging the pool (a truncated checkpoint to resume from)."""
    from gandiag.errors import GandiagInputError

    run = tmp_path / "runs" / DEMO_RECIPES[0]
    run.mkdir(parents=True)
    (run / "step-0000000.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GandiagInputError, match="step-0000000.pt"):
        demo.run_demo(tmp_path, steps=3, n=200, jobs=2, progress=False)
    assert not (tmp_path / "report.csv").exists()


def test_jobs(monkeypatch):
    monkeypatch.setattr(demo, "available_cpus", lambda: 2)
    assert demo_jobs(2, 1) == 2  # one thread per run on 2 CPUs: both at once
    assert demo_jobs(2, 2) == 1  # two threads per run fill the machine: one after the other
    assert demo_jobs(3, 1) == 2 and demo_jobs(1, 1) == 1
    assert demo_jobs(2, 1, jobs=1) == 1 and demo_jobs(2, 1, jobs=8) == 2
    monkeypatch.setattr(demo, "available_cpus", lambda: 1)
    assert demo_jobs(2, 1) == 1


def test_jobs_must_be_positive(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--jobs", "0", *TINY]) == 2
    assert "--jobs 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
