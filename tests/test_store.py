"""The result store: audits reuse rows scored before, never stale ones, and resume after SIGKILL."""

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import gandiag
from gandiag.atomic import folder_lock
from gandiag.auditing.store import STORE_NAME, ResultStore
from gandiag.errors import GandiagInputError
from gandiag.modes import FlagThresholds

from helpers import DEFECTS, DefectGenerator

N = 300
FAST = "modes,ndb,sliced_w,fid"


def write_run(folder: Path, names, start: int = 0) -> Path:
    """A run folder of ring8 sample files ``step-*.npy``, one per defect name (600 samples each)."""
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names, start=start):
        weights, scale, _ = DEFECTS[name]
        torch.manual_seed(i)
        x = DefectGenerator(weights, scale)(torch.randn(2 * N, 3)).numpy()
        np.save(folder / f"step-{(i + 1) * 100:07d}.npy", x)
    return folder


def run_audit(run: Path, store: Path, **kw):
    opts = {"n": N, "metrics": FAST, "progress": False, "resamples": 0, **kw}
    return gandiag.audit(run, "ring8", store=store, **opts)


def test_second_audit_reuses_every_row_and_gives_the_same_report(tmp_path):
    run = write_run(tmp_path / "run", ["perfect", "missing", "piled"])
    first = run_audit(run, tmp_path / STORE_NAME)
    assert first.settings["store"] == {"path": str(tmp_path / STORE_NAME), "reused": 0, "scored": 4}
    again = run_audit(run, tmp_path / STORE_NAME)
    assert again.settings["store"]["reused"] == 4 and again.settings["store"]["scored"] == 0
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.mode_shares, again.mode_shares)
    assert first.findings["%s" % run].onsets == again.findings["%s" % run].onsets
    for source, samples in first.samples.items():
        np.testing.assert_array_equal(samples, again.samples[source])
    fresh = run_audit(run, tmp_path / STORE_NAME, fresh=True)
    assert fresh.settings["store"] == {"path": str(tmp_path / STORE_NAME), "reused": 0, "scored": 4}
    pd.testing.assert_frame_equal(first.frame, fresh.frame)


def test_only_new_or_changed_rows_are_scored(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", ["perfect", "perfect"])
    store = tmp_path / STORE_NAME
    run_audit(run, store)
    write_run(run, ["missing"], start=2)  # a new checkpoint
    loads = []
    real_load = gandiag.loading.Run.load
    monkeypatch.setattr(gandiag.loading.Run, "load", lambda self, i: loads.append(i) or real_load(self, i))
    added = run_audit(run, store)
    assert added.settings["store"]["scored"] == 1 and added.settings["store"]["reused"] == 3
    assert loads == [2]  # the stored checkpoints were not even loaded
    assert bool(added.frame.loc[added.frame["step"] == 300, "mode_dropping"].iloc[0])
    write_run(run, ["missing"], start=0)  # step 100 rewritten: scored again, never served stale
    changed = run_audit(run, store)
    assert changed.settings["store"]["scored"] == 1
    assert bool(changed.frame.loc[changed.frame["step"] == 100, "mode_dropping"].iloc[0])
    for kw in ({"n": N + 10}, {"seed": 1}, {"thresholds": FlagThresholds(starved_ratio=0.3)},
               {"metrics": "modes"}):
        other = run_audit(run, store, **kw)
        assert other.settings["store"]["reused"] == 0, kw  # another n, seed, threshold or selection
    assert len(ResultStore(store, "")) == 4 + 4 * 4  # the rewritten file's old row was dropped


def test_arrays_in_memory_are_always_scored(tmp_path):
    samples = gandiag.reference("ring8").sample(N, seed=5).numpy()
    for _ in range(2):
        report = gandiag.audit([samples], "ring8", n=N, metrics="modes", progress=False, floor=False,
                               store=tmp_path / STORE_NAME)
        assert report.settings["store"]["scored"] == 0 and report.settings["store"]["reused"] == 0


def test_a_damaged_store_is_a_one_line_error_and_fresh_replaces_it(tmp_path):
    run = write_run(tmp_path / "run", ["perfect"])
    store = tmp_path / STORE_NAME
    store.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(GandiagInputError, match="not a gandiag result store.*--fresh"):
        run_audit(run, store)
    report = run_audit(run, store, fresh=True)
    assert report.settings["store"]["scored"] == 2
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 2


def test_a_store_held_by_another_process_is_refused(tmp_path):
    run = write_run(tmp_path / "run", ["perfect"])
    code = (f"import time, sys; from gandiag.atomic import folder_lock\n"
            f"with folder_lock({str(tmp_path / 'out')!r}):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GandiagInputError, match="another gandiag .* is writing this folder"):
            run_audit(run, tmp_path / "out" / STORE_NAME)
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path / "out"):  # the lock died with its process
        pass


def _audit_cmd(run: Path, out: Path) -> list[str]:
    cli = "import sys; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", cli, "audit", str(run), "--reference", "ring8", "--n", str(N),
            "--metrics", "modes,ndb,divergences", "--resamples", "0", "--out", str(out), "--quiet", "--no-plots"]


def _rows(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_an_audit_killed_half_way_resumes_to_the_same_report(tmp_path):
    names = ["perfect", "perfect", "missing", "missing", "piled", "piled"]
    run = write_run(tmp_path / "run", names)
    env = {**os.environ, "GANDIAG_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run(_audit_cmd(run, whole), check=True, env=env, capture_output=True)
    out = tmp_path / "out"
    proc = subprocess.Popen(_audit_cmd(run, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _rows(out / STORE_NAME) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _rows(out / STORE_NAME)
    assert proc.returncode == -signal.SIGKILL and 2 <= done < len(names), done  # really killed half-way
    again = subprocess.run(_audit_cmd(run, out), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"reused {done} rows" in again.stderr and f"scored {len(names) + 1 - done}" in again.stderr
    assert (out / "report.csv").read_bytes() == (whole / "report.csv").read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary left


def test_codec_round_trips_every_part_of_a_row_exactly(tmp_path):
    from gandiag.auditing.row_codec import decode, encode

    ref = gandiag.reference("ring8")
    x, y = ref.draw(600, torch.Generator().manual_seed(0))
    path = tmp_path / "cond.npz"
    np.savez(path, samples=x.numpy(), labels=y.numpy())
    scorer = gandiag.scoring.Scorer("ring8", n=300, metrics="modes,sliced_w", resamples=3)
    result = scorer.score(gandiag.load_generator(path), source="cond.npz")
    assert result.conditional is not None and result.classes is not None  # a labelled sample file
    result.values["odd"] = np.float32(1 / 3)
    back = decode(*encode(result))
    assert back.values == pytest.approx(result.values, nan_ok=True)
    assert back.values["sliced_w"] == result.values["sliced_w"]  # exact, not approximately
    assert back.flags == result.flags
    np.testing.assert_array_equal(back.samples, result.samples)
    np.testing.assert_array_equal(back.modes.shares, result.modes.shares)
    pd.testing.assert_frame_equal(back.classes, result.classes)
    np.testing.assert_array_equal(back.confusion, result.confusion)
    assert back.conditional.flags == result.conditional.flags
    assert back.conditional.values == pytest.approx(result.conditional.values, nan_ok=True)
    pd.testing.assert_series_equal(back.to_series(), result.to_series())


def test_codec_refuses_unknown_types_instead_of_importing_them():
    from gandiag.auditing.row_codec import decode

    blob = io.BytesIO()
    np.savez(blob)
    text = json.dumps({"k": "d", "t": "Popen", "v": {}})
    with pytest.raises(ValueError, match="unknown type 'Popen'"):
        decode(text, blob.getvalue())


def test_a_row_that_no_longer_decodes_is_scored_again(tmp_path):
    run = write_run(tmp_path / "run", ["perfect", "missing"])
    store = tmp_path / STORE_NAME
    first = run_audit(run, store)
    with sqlite3.connect(store) as db:  # a truncated .npz (zipfile.BadZipFile), then damaged JSON
        blob = db.execute("SELECT arrays FROM rows WHERE step = 100").fetchone()[0]
        db.execute("UPDATE rows SET arrays = ? WHERE step = 100", (blob[: len(blob) // 2],))
        db.execute("UPDATE rows SET row = ? WHERE step = 200", ("{not json",))
    again = run_audit(run, store)
    assert again.settings["store"]["scored"] == 2 and again.settings["store"]["reused"] == 1
    pd.testing.assert_frame_equal(first.frame, again.frame)
