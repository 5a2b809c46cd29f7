"""`gandiag compare`: the lines sweep against its analytic values, runs, rank correlations, CLI."""

import functools
import math

import numpy as np
import pandas as pd
import pytest

import gandiag
from gandiag.cli import main
from gandiag.compare import (
    REAL_VS_REAL,
    compare_sources,
    divergences,
    lines_sweep,
    rank_correlations,
)
from reference_models import divergence_report as report_module
from gandiag.scoring import divergence_row as rows_module
from gandiag.metrics import transport
from gandiag.metrics.wasserstein import SubsampledWarning, exact_transport

LOG2 = math.log(2.0)


@pytest.fixture(scope="module")
def sweep():
    return lines_sweep([-1.0, -0.5, 0.0, 0.1, 0.5, 1.0], n=1000, seed=0).set_index("theta")


def test_lines_sweep_matches_the_wgan_paper(sweep):
    moved = sweep.drop(index=0.0)
    np.testing.assert_allclose(moved["w1"], np.abs(moved.index), rtol=0.05)
    np.testing.assert_allclose(moved["w2"], np.abs(moved.index), rtol=0.05)
    np.testing.assert_allclose(moved["sliced_w"], np.abs(moved.index) / math.sqrt(2), rtol=0.05)
    far = sweep[np.abs(sweep.index) >= 0.5]
    assert (far["js"] > 0.9 * LOG2).all() and (far["js_density"] > 0.9 * LOG2).all()
    assert sweep.loc[0.0, "js"] < 0.05 and sweep.loc[0.0, "w1"] < 0.05
    assert (sweep["js_true"] == np.where(sweep.index == 0, 0.0, LOG2)).all()
    assert (sweep["notes"] == "").all()


def _ring_run(folder, steps=(100, 200, 300, 400), n=400):
    """A run folder of sample files: ring8 samples on a ring of radius 2 x (1.8, 1.4, 1.2, 1.1, ...),
    so that every transport distance falls with the step (W1 ~ 1.6, 0.8, 0.4, 0.2)."""
    folder.mkdir()
    ref = gandiag.reference("ring8")
    for i, step in enumerate(steps):
        scale = 1.0 + 0.8 / 2**i
        np.save(folder / f"step-{step:07d}.npy", scale * ref.sample(n, seed=50 + i).numpy())
    return folder


def test_compare_run_ranks_checkpoints_and_adds_the_floor(tmp_path):
    run = _ring_run(tmp_path / "run")
    frame = compare_sources([run], "ring8", n=300, seed=0)
    assert list(frame["step"][:-1]) == [100, 200, 300, 400]
    assert frame["source"].iloc[-1] == REAL_VS_REAL
    assert set(frame.columns) >= {"source", "step", "n", "seed", "js", "c2st_accuracy", "c2st_pvalue", "w1", "w2",
                                  "sliced_w", "sinkhorn", "js_density"}
    floor = frame.iloc[-1]
    assert floor["js"] < 0.1 and floor["w1"] < frame["w1"].iloc[:-1].min()
    corr = rank_correlations(frame).set_index("metric")
    for metric in ("w1", "w2", "sliced_w", "sinkhorn"):
        assert corr.loc[metric, "vs_step"] == pytest.approx(-1.0)
    assert corr.loc["w1", "w1"] == pytest.approx(1.0)


def test_a_broken_checkpoint_is_recorded_not_fatal(tmp_path):
    run = _ring_run(tmp_path / "run", steps=(100, 200))
    np.save(run / "step-0000300.npy", np.zeros((400, 3), np.float32))  # wrong dimension
    frame = compare_sources([run], "ring8", n=100, seed=0, floor=False)
    bad = frame.set_index("step").loc[300]
    assert math.isnan(bad["w1"]) and "expects (2,)" in bad["notes"]


def test_intervals_bracket_and_a_failed_solver_is_noted(monkeypatch):
    ref = gandiag.reference("ring8")
    real, fake = ref.sample(200, seed=1), ref.sample(200, seed=2) * 1.2
    row = divergences(real, fake, seed=0, repeats=3)
    for m in ("js", "w1", "w2", "sliced_w", "sinkhorn", "js_density"):
        assert row[f"{m}_ci_low"] <= row[f"{m}_ci_high"]
    monkeypatch.setattr(rows_module, "exact_transport", functools.partial(exact_transport, num_iter_max=2))
    row = divergences(real, fake, seed=0)
    assert math.isnan(row["w1"]) and "w1: exact transport stopped" in row["notes"]
    assert not math.isnan(row["sliced_w"])


def test_exact_transport_beside_the_classifier_gives_the_values_of_separate_runs():
    # w1/w2 are solved on a second thread while the classifier trains: same numbers as alone.
    ref = gandiag.reference("ring8")
    real, fake = ref.sample(600, seed=1), ref.sample(600, seed=2) * 1.1
    together = divergences(real, fake, seed=3, max_points=500)
    alone = divergences(real, fake, seed=3, max_points=500, metrics=["w1", "w2"])
    classifier = divergences(real, fake, seed=3, metrics=["js", "c2st_accuracy"])
    assert (together["w1"], together["w2"]) == (alone["w1"], alone["w2"])
    with pytest.warns(SubsampledWarning):
        assert together["w1"] == transport(real, fake, 1, max_points=500, seed=3).value
    assert (together["js"], together["c2st_accuracy"]) == (classifier["js"], classifier["c2st_accuracy"])
    assert together["js"] > 0.0 and together["w1"] > 0.0


def test_cli_lines_writes_table_and_plot(tmp_path, capsys):
    out = tmp_path / "lines"
    assert main(["compare", "lines", "--thetas", "0", "-0.5", "--n", "200", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "lines.csv")
    assert list(table["theta"]) == [0.0, -0.5]
    assert (out / "lines.png").stat().st_size > 0 and "| theta |" in (out / "lines.md").read_text()
    assert "| theta |" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_cli_run_writes_tables_and_plot(tmp_path, capsys):
    run = _ring_run(tmp_path / "run", steps=(100, 200, 300))
    out = tmp_path / "cmp"
    assert main(["compare", str(run), "--reference", "ring8", "--n", "150", "--out", str(out), "--quiet"]) == 0
    for name in ("divergences.csv", "correlations.csv", "divergences.md", "divergences.png"):
        assert (out / name).stat().st_size > 0
    assert "Spearman" in capsys.readouterr().out
    assert len(pd.read_csv(out / "divergences.csv")) == 4


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["compare", "lines", "--reference", "ring8"], "--reference"),
        (["compare", "lines", "extra"], "no SOURCE"),
        (["compare", "lines", "--n", "3"], "--n 3"),
        (["compare", "some-run"], "--reference: required"),
        (["compare", "does-not-exist", "--reference", "ring8"], "does-not-exist"),
        (["compare", "x.npy", "--reference", "ring8", "--thetas", "1"], "--thetas"),
        (["compare", "lines", "--resamples", "-1"], "--resamples"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1


def test_report_from_run_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "DEFAULT_THETAS", (0.0, 0.5))
    run = _ring_run(tmp_path / "gan-ring8", steps=(100, 200, 300))
    out = tmp_path / "reports"
    assert report_module.main(["--out", str(out), "--runs", str(run), "--n", "120", "--resamples", "0"]) == 0
    text = (out / "divergences.md").read_text()
    assert "Parallel lines" in text and "Run `gan-ring8`" in text and "python -m reference_models.divergence_report" in text
    assert (out / "divergences.png").stat().st_size > 0
    assert report_module.main(["--out", str(out), "--runs", str(tmp_path / "missing")]) == 2
