"""gandiag.score / gandiag.audit and their commands on synthetic generators with known defects.

The defects are built in tests/helpers.py, not trained: a generator whose latent code picks a
ring8 mode with given weights (through the normal CDF of z_0) and places the sample at the mode's
centre plus ``scale`` x the mode's std x (z_1, z_2). Each defect must raise exactly the flags that
docs/contract.md section 6 implies, through the Python API and through ``gandiag audit`` on ``.pt2``
programs and ``.npy`` files.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import DEFECTS, UNIFORM, DefectGenerator, export_program, mode_weights_piled, mode_weights_without

import gandiag
from gandiag.cli import main
from gandiag.errors import GandiagInputError
from gandiag.scoring import REPORT_COLUMNS

N = 2500  # the literature's protocol
FLAGS = ("mode_dropping", "mode_collapse", "low_quality")
def raised(row) -> set[str]:
    return {f for f in FLAGS if bool(row[f])}


@pytest.fixture(scope="module")
def defect_files(tmp_path_factory):
    """Each defect as a .pt2 program and as a .npy file of N samples."""
    folder = tmp_path_factory.mktemp("defects")
    files = {}
    for name, (weights, scale, _) in DEFECTS.items():
        module = DefectGenerator(weights, scale)
        program = export_program(module, folder / f"{name}.pt2", latent_dim=3)
        samples = module(torch.randn(N, 3, generator=torch.Generator().manual_seed(7))).numpy()
        np.save(folder / f"{name}.npy", samples)
        files[name] = (program, folder / f"{name}.npy")
    return files


@pytest.mark.parametrize("name", list(DEFECTS))
def test_score_raises_exactly_the_implied_flags(name, defect_files):
    program, _ = defect_files[name]
    gen = gandiag.load_generator(program, latent_dim=3)
    row = gandiag.score(gen, "ring8", n=N, metrics="modes")
    assert raised(row) == DEFECTS[name][2], row["evidence"]
    assert (row["evidence"] == "") == (not DEFECTS[name][2])


def test_audit_command_on_programs_and_sample_files(defect_files, tmp_path):
    sources = [str(p) for pair in defect_files.values() for p in pair]
    out = tmp_path / "report"
    status = main(["audit", *sources, "--reference", "ring8", "--n", str(N), "--metrics", "modes",
                   "--out", str(out), "--quiet"])
    assert status == 0
    frame = pd.read_csv(out / "report.csv", keep_default_na=False)
    for name, (_, _, expected) in DEFECTS.items():
        for suffix in (".pt2", ".npy"):
            row = frame[frame["source"].str.endswith(f"{name}{suffix}")].iloc[0]
            assert {f for f in FLAGS if str(row[f]) == "True"} == expected, (name, suffix, row["evidence"])
    floor = frame[frame["source"] == "real-vs-real"].iloc[0]
    assert {f for f in FLAGS if str(floor[f]) == "True"} == set()
    md = (out / "report.md").read_text()
    assert md.index("## Findings") < md.index("## Scores")
    assert "missing.pt2**: mode_dropping: 5 of 8 modes missing (2, 3, 5, 6, 7)" in md
    assert "<table" in (out / "report.html").read_text()
    assert (out / "samples.png").stat().st_size > 1000


def test_report_csv_round_trips_with_contract_columns(defect_files, tmp_path):
    sources = [defect_files["perfect"][1], defect_files["missing"][1]]
    report = gandiag.audit(sources, "ring8", n=400, metrics=["w1", "sliced_w", "modes", "ndb"], progress=False)
    report.save(tmp_path, plots=False)
    back = pd.read_csv(tmp_path / "report.csv")
    assert set(REPORT_COLUMNS) <= set(back.columns)
    assert list(back.columns) == list(report.frame.columns)
    for col in ("w1", "sliced_w", "hq_fraction", "mode_kl", "modes_captured", "ndb"):
        np.testing.assert_allclose(back[col].to_numpy(float), report.frame[col].to_numpy(float), rtol=1e-12)
    assert back["mode_dropping"].tolist() == [False, True, False]
    assert back["source"].iloc[-1] == "real-vs-real"
    assert back["fid"].isna().all()  # not selected: empty, not a number


def test_corrupted_checkpoint_in_a_run_becomes_an_error_row(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    bad = sorted(run.glob("step-*.pt"))[1]
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    report = gandiag.audit([run], "ring8", n=200, metrics="w1,modes", progress=False)
    frame = report.frame
    errors = frame[frame["error"] != ""]
    assert errors["source"].tolist() == [str(bad)]
    assert "truncated" in errors["error"].iloc[0]
    good = frame[(frame["error"] == "") & (frame["source"] != "real-vs-real")]
    assert len(good) == len(list(run.glob("step-*.pt"))) - 1
    assert good["w1"].notna().all() and good["modes_captured"].notna().all()
    assert str(run) in report.findings
    files = {p.name for p in report.save(tmp_path / "out")}
    assert {"report.csv", "report.md", "report.html", "runs.csv", "mode_shares.csv", "mode_shares.png"} <= files
    assert "error: " in (tmp_path / "out" / "report.md").read_text()


def test_run_onsets_and_hopping_from_sample_files(tmp_path):
    """A run that loses modes 2, 3, 5 from step 300, then piles onto mode 1 (400) and hops to mode 4 (500)."""
    ring = gandiag.reference("ring8")

    def masked(w):
        w = w * (mode_weights_without([2, 3, 5]) > 0)
        return w / w.sum()

    plan = {100: (UNIFORM, 1), 200: (UNIFORM, 1), 300: (mode_weights_without([2, 3, 5]), 1),
            400: (masked(mode_weights_piled(1, 0.7)), 1), 500: (masked(mode_weights_piled(4, 0.7)), 1)}
    run = tmp_path / "run"
    run.mkdir()
    for step, (weights, scale) in plan.items():
        module = DefectGenerator(weights, scale)
        x = module(torch.randn(N, 3, generator=torch.Generator().manual_seed(step))).numpy()
        np.save(run / f"step-{step:07d}.npy", x)
    report = gandiag.audit(run, ring, n=N, metrics="modes", progress=False)
    runs = report.runs_frame()
    assert runs["mode_dropping_from_step"].iloc[0] == 300
    assert runs["mode_collapse_from_step"].iloc[0] == 400
    assert bool(runs["mode_hopping"].iloc[0]) and runs["hops"].iloc[0] == 1
    text = report.to_markdown()
    assert "mode_dropping from step 300 to the end of the run" in text
    assert "mode hopping: dominant mode changed 1 time" in text


def test_ndb_finds_a_removed_class_on_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0 * 2.0 - 1.0).astype(np.float32)[:, None]
    kept = images[bunch.target != 3]
    scorer = gandiag.scoring.Scorer("digits", metrics="ndb,modes", seed=0)
    without = scorer(kept[np.random.default_rng(0).permutation(len(kept))[: scorer.n]], source="no threes")
    floor = scorer.floor()
    assert without["ndb"] >= floor["ndb"] + 5, (without["ndb"], floor["ndb"])
    assert bool(without["mode_dropping"]) and "mode 3" in without["evidence"] or "(3" in without["evidence"]


def test_default_row_has_every_applicable_metric():
    ring = gandiag.reference("ring8")
    row = gandiag.score(ring.sample(300, seed=3), "ring8", seed=1)
    assert list(row.index[: len(REPORT_COLUMNS)]) == list(REPORT_COLUMNS)
    applicable = [c for c in REPORT_COLUMNS if c not in ("source", "step", "js_density", "evidence")]
    assert row[applicable].notna().all(), row[applicable][row[applicable].isna()]
    assert row["n"] == 300 and row["modes_captured"] == 8
    assert row.attrs["mode_shares"].shape == (8,)
    again = gandiag.score(ring.sample(300, seed=3), "ring8", seed=1)
    pd.testing.assert_series_equal(row, again)


def test_bad_metric_names_and_inputs_are_named():
    x = np.zeros((100, 2), dtype=np.float32)
    with pytest.raises(GandiagInputError, match="unknown metric 'wasserstein'"):
        gandiag.score(x, "ring8", metrics="w1,wasserstein")
    with pytest.raises(GandiagInputError, match=r"unknown metric 'mode' \(did you mean modes or mode_kl\?\)"):
        gandiag.score(x, "ring8", metrics="w1,mode")
    with pytest.raises(GandiagInputError, match="js_density needs vector data"):
        gandiag.score(np.zeros((100, 1, 8, 8), np.float32), "digits", metrics="js_density")
    with pytest.raises(GandiagInputError, match="shape"):
        gandiag.score(np.zeros((100, 3), np.float32), "ring8", metrics="w1")


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_score_command_writes_by_suffix(defect_files, tmp_path, suffix, capsys):
    out = tmp_path / f"scores{suffix}"
    status = main(["score", str(defect_files["missing"][1]), "--reference", "ring8", "--n", "300",
                   "--metrics", "w1,modes", "--out", str(out), "--quiet"])
    assert status == 0
    read = {".csv": pd.read_csv, ".json": pd.read_json, ".parquet": pd.read_parquet}[suffix]
    back = read(out)
    assert back["source"].tolist()[-1] == "real-vs-real" and len(back) == 2
    assert back["modes_captured"].iloc[0] == 3
    assert "| source |" in capsys.readouterr().out


def test_score_command_bad_input_exits_2(defect_files, tmp_path, capsys):
    src = str(defect_files["perfect"][1])
    assert main(["score", src, "--reference", "ring8", "--out", str(tmp_path / "x.xlsx"), "--quiet"]) == 2
    assert "unknown suffix '.xlsx'" in capsys.readouterr().err
    assert main(["score", src, "--reference", "ring8", "--threshold", "nonsense=1", "--quiet"]) == 2
    assert "--threshold 'nonsense=1'" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.pt"), "--reference", "ring8", "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not list(tmp_path.glob("x*"))


def test_audit_of_a_digits_run_writes_image_grids(tiny_digits_run, tmp_path):
    report = gandiag.audit(tiny_digits_run, "digits", n=100, metrics="modes,fid,ndb", progress=False)
    frame = report.frame
    assert frame["modes_total"].eq(10).all() and frame["fid"].notna().all()
    assert frame["ndb"].notna().all() and "NDB with k = 10 bins" in frame["notes"].iloc[0]
    written = {p.name for p in report.save(tmp_path)}
    assert {"samples.png", "mode_shares.png", "report.html"} <= written
    floor = frame[frame["source"] == "real-vs-real"].iloc[0]
    assert floor["fid"] < frame["fid"].iloc[0]  # an untrained generator is far from the digits


def test_mode_intervals_bracket_a_perfect_sample():
    ring = gandiag.reference("ring8")
    row = gandiag.score(ring.sample(1000, seed=4), "ring8", metrics="modes", resamples=5)
    assert row["modes_captured_ci_low"] == row["modes_captured_ci_high"] == 8
    assert 0.95 <= row["hq_fraction_ci_low"] <= row["hq_fraction_ci_high"] <= 1.0
    assert 0.8 <= row["intra_mode_spread_ci_low"] <= row["intra_mode_spread_ci_high"] <= 1.25
    assert "modes_total_ci_low" not in row.index


def test_too_small_n_exits_2(defect_files, capsys):
    assert main(["audit", str(defect_files["perfect"][1]), "--reference", "ring8", "--n", "3", "--quiet"]) == 2
    assert "--n: need an integer >= 16, got 3" in capsys.readouterr().err


def test_resamples_is_the_one_name_and_ci_still_works_once_warned(tmp_path, capsys):
    from gandiag.defaults import SETTINGS

    x = gandiag.reference("ring8").sample(400, seed=4)
    new = gandiag.score(x, "ring8", metrics="modes", resamples=3)
    with pytest.warns(DeprecationWarning, match="'ci' is deprecated; use 'resamples'"):
        old = gandiag.score(x, "ring8", metrics="modes", ci=3)
    assert new["hq_fraction_ci_low"] == old["hq_fraction_ci_low"]
    with pytest.raises(GandiagInputError, match="give resamples only"):
        gandiag.score(x, "ring8", metrics="modes", ci=3, resamples=4)
    np.save(tmp_path / "x.npy", x.numpy())
    args = [str(tmp_path / "x.npy"), "--reference", "ring8", "--n", "400", "--metrics", "modes", "--no-floor", "--quiet"]
    assert main(["score", *args, "--ci", "3", "--out", str(tmp_path / "a.csv")]) == 0
    assert "--ci is deprecated; use --resamples" in capsys.readouterr().err
    assert main(["score", *args, "--resamples", "3", "--out", str(tmp_path / "b.csv")]) == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--resamples K" in shown and " ".join(SETTINGS["resamples"].help.replace("%%", "%").split()) in shown
