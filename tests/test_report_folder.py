"""Fault catalogue, outputs: a report folder is written as a whole, locked, and never half-written
(issue 18, items 5-6). Real file systems throughout: a small tmpfs, mounted when running as root,
stands in for a full or read-only disk."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gandiag
from gandiag.atomic import atomic_folder
from gandiag.auditing.report import REPORT_FILES
from gandiag.cli import main
from gandiag.errors import GandiagInputError

N = 200


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two sample files: a perfect ring8 sample and one with a single mode."""
    folder = tmp_path_factory.mktemp("sources")
    ref = gandiag.reference("ring8")
    np.save(folder / "good.npy", ref.sample(N, seed=1).numpy())
    one = ref.sample(4 * N, seed=2).numpy()
    modes, _ = ref.assign_modes(one)
    np.save(folder / "one_mode.npy", one[modes == 0][:N] if (modes == 0).sum() >= N else np.repeat(one[modes == 0], 8, 0)[:N])
    return folder


def _audit(sources: Path, name: str, out: Path, *extra: str) -> list[str]:
    return ["audit", str(sources / name), "--reference", "ring8", "--n", str(N), "--metrics", "modes",
            "--quiet", "--out", str(out), *extra]


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*") if not p.name.endswith(".lock"))


def test_a_second_audit_replaces_the_whole_folder(sources, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_audit(sources, "good.npy", out)) == 0
    assert (out / "samples.png").exists()
    assert main(_audit(sources, "one_mode.npy", out, "--no-plots")) == 0
    assert not list(out.glob("*.png"))  # no plot of the first audit beside the second one's tables
    frame = pd.read_csv(out / "report.csv")
    assert frame["source"].iloc[0].endswith("one_mode.npy") and frame["mode_dropping"].iloc[0]
    assert _leftovers(out) == []
    capsys.readouterr()


def test_a_folder_of_other_files_is_refused_and_left_alone(sources, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert main(_audit(sources, "good.npy", out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.txt" in err and str(out) in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my notes"


def test_leftovers_of_a_killed_save_are_cleaned_and_the_previous_report_restored(sources, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_audit(sources, "good.npy", out, "--no-plots")) == 0
    before = (out / "report.csv").read_text()
    # a writer killed between its two renames: the previous folder aside, the new one half-written
    aside = tmp_path / ".out.old-killed"
    aside.mkdir()
    os.replace(out, aside / "previous")
    half = tmp_path / ".out.tmp-killed"
    half.mkdir()
    (half / "report.csv").write_text("half")
    with atomic_folder(out, replaceable=REPORT_FILES) as tmp:
        assert (out / "report.csv").read_text() == before  # restored before anything else happens
        (tmp / "report.csv").write_text("new")
    assert (out / "report.csv").read_text() == "new" and _leftovers(out) == []


def test_sigkill_during_an_audit_leaves_one_complete_report(sources, tmp_path):
    out = tmp_path / "out"
    assert main(_audit(sources, "good.npy", out)) == 0
    first = (out / "report.csv").read_text()
    cli = "import sys; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", cli, *_audit(sources, "one_mode.npy", out, "--no-plots")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not _leftovers(out):
        time.sleep(0.002)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    # whatever the moment: either the first report, complete with its plots, or the second one
    text = (out / "report.csv").read_text()
    assert text == first and (out / "samples.png").exists() or "one_mode.npy" in text and not list(out.glob("*.png"))
    assert main(_audit(sources, "good.npy", out, "--no-plots")) == 0  # the next run cleans up
    assert _leftovers(out) == []


def test_two_writers_on_one_folder_the_second_is_refused(sources, tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from gandiag.atomic import folder_lock
        with folder_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(_audit(sources, "good.npy", out)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"pid {holder.pid}" in err and "is writing this folder" in err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(_audit(sources, "good.npy", out, "--no-plots")) == 0  # the lock died with its process


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'}); "
                    "the full-disk and read-only cases need one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_full_disk_and_read_only_disk_keep_the_previous_report(sources, tmp_path, capsys):
    with _tmpfs(tmp_path / "disk", "1m") as disk:
        out = disk / "out"
        assert main(_audit(sources, "good.npy", out, "--no-plots")) == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        with open(disk / "filler", "wb") as fh:  # leave about 2 KiB
            fh.write(b"\0" * max(0, free - 2048))
        capsys.readouterr()
        assert main(_audit(sources, "one_mode.npy", out, "--no-plots")) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before and _leftovers(out) == []
        (disk / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        assert main(_audit(sources, "one_mode.npy", out, "--no-plots")) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "read-only file system" in err.lower()
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_atomic_folder_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(GandiagInputError, match="exists and is not a folder"):
        with atomic_folder(tmp_path / "f"):
            pass
