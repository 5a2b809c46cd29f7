"""The floor cache: the real-vs-real row kept across output folders, never served stale."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

import gandiag
from gandiag.auditing import floor_cache
from gandiag.auditing.floor_cache import FloorCache, default_floor_dir
from gandiag.features.cache import CACHE_ENV
from gandiag.scoring import Scorer

N = 300
FAST = "modes,ndb,sliced_w,js"


def sample_file(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "step-0000100.npy"
    np.save(path, gandiag.reference("ring8").sample(2 * N, seed=7).numpy() * 1.1)
    return path


def counted_floors(monkeypatch) -> list[int]:
    """Count the real-vs-real rows actually scored (the real method runs)."""
    calls: list[int] = []
    real = Scorer.floor_result
    monkeypatch.setattr(Scorer, "floor_result", lambda self: calls.append(1) or real(self))
    return calls


def audit(source: Path, **kw):
    opts = {"n": N, "metrics": FAST, "progress": False, "floor_cache": True, **kw}
    return gandiag.audit(source, "ring8", **opts)


def test_a_second_audit_reads_the_floor_and_gives_the_same_report(tmp_path, monkeypatch):
    source = sample_file(tmp_path / "run")
    calls = counted_floors(monkeypatch)
    first = audit(source, store=tmp_path / "a" / "scores.sqlite")
    assert len(calls) == 1 and first.settings["floor_cache"]["hit"] is False
    entry = Path(first.settings["floor_cache"]["path"])
    assert entry.parent == default_floor_dir() == Path(os.environ[CACHE_ENV]) / "floors" and entry.is_file()
    again = audit(source, store=tmp_path / "b" / "scores.sqlite")  # another output folder: an empty store
    assert len(calls) == 1 and again.settings["floor_cache"] == {"path": str(entry), "hit": True}
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.mode_shares, again.mode_shares)
    no_store = audit(source)  # without a store too
    assert len(calls) == 1 and no_store.settings["floor_cache"]["hit"] is True
    pd.testing.assert_frame_equal(first.frame, no_store.frame)
    off = audit(source, floor_cache=False)
    assert len(calls) == 2 and off.settings["floor_cache"] is None
    pd.testing.assert_frame_equal(first.frame, off.frame)


def test_anything_that_changes_the_floor_scores_it_again(tmp_path, monkeypatch):
    source = sample_file(tmp_path / "run")
    calls = counted_floors(monkeypatch)
    first = audit(source)
    paths = {first.settings["floor_cache"]["path"]}
    for kw in ({"n": N + 10}, {"seed": 1}, {"metrics": "modes"}, {"resamples": 2},
               {"thresholds": gandiag.modes.FlagThresholds(starved_ratio=0.3)}):
        other = audit(source, **kw)
        assert other.settings["floor_cache"]["hit"] is False, kw
        paths.add(other.settings["floor_cache"]["path"])
    assert len(calls) == 6 and len(paths) == 6
    fresh = audit(source, fresh=True)  # --fresh: scored again, and kept
    assert len(calls) == 7 and fresh.settings["floor_cache"] == {"path": first.settings["floor_cache"]["path"],
                                                                 "hit": False}
    pd.testing.assert_frame_equal(first.frame, fresh.frame)
    monkeypatch.setattr(floor_cache, "code_fingerprint", lambda: "edited code")  # gandiag's code changed
    edited = audit(source)
    assert len(calls) == 8 and edited.settings["floor_cache"]["path"] not in paths


def test_an_unreadable_entry_is_a_miss_and_is_rewritten(tmp_path, monkeypatch):
    source = sample_file(tmp_path / "run")
    first = audit(source)
    entry = Path(first.settings["floor_cache"]["path"])
    good = entry.read_bytes()
    calls = counted_floors(monkeypatch)
    for broken in (good[: len(good) // 2], b"", b"\xff" * 64, good[:8] + b"{not json" + good[17:]):
        entry.write_bytes(broken)
        again = audit(source)
        assert again.settings["floor_cache"]["hit"] is False
        pd.testing.assert_frame_equal(first.frame, again.frame)
        assert entry.read_bytes() == good  # rewritten whole
    assert len(calls) == 4
    assert not [p.name for p in entry.parent.iterdir() if p.suffix == ".tmp"]


def test_the_cache_key_names_the_settings_code_and_packages(tmp_path):
    a, b = FloorCache("settings-1", tmp_path), FloorCache("settings-2", tmp_path)
    assert a.key != b.key and a.key == FloorCache("settings-1", tmp_path).key
    assert a.path == tmp_path / f"{a.key}.row" and a.get() is None
    fingerprint = floor_cache.code_fingerprint()
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert set(floor_cache._package_versions()) == set(floor_cache.NUMERICAL_PACKAGES)
    assert floor_cache._package_versions()["numpy"] == np.__version__


def test_the_cli_reads_the_floor_from_the_cache_unless_no_cache(tmp_path, capsys):
    from gandiag.cli import main

    source = sample_file(tmp_path / "run")
    argv = ["audit", str(source), "--reference", "ring8", "--n", str(N), "--metrics", FAST, "--quiet", "--no-plots",
            "--out"]
    said = []
    for out, extra in (("a", []), ("b", []), ("c", ["--no-cache"])):
        assert main(argv + [str(tmp_path / out)] + extra) == 0  # in this process: the CLI, without the imports' 7 s
        said.append(capsys.readouterr().err)
    assert "floor cache" not in said[0]
    assert "real-vs-real row read from the floor cache" in said[1] and "--no-cache scores it again" in said[1]
    assert "floor cache" not in said[2]
    csv = [(tmp_path / d / "report.csv").read_bytes() for d in "abc"]
    assert csv[0] == csv[1] == csv[2]


def test_watch_reads_the_floor_an_audit_kept(tmp_path, monkeypatch):
    from gandiag.auditing.watch import watch

    source = sample_file(tmp_path / "run")
    calls = counted_floors(monkeypatch)
    audited = audit(source)
    assert len(calls) == 1
    for out, expected in (("w1", 1), ("w2", 1)):
        watch(source.parent, "ring8", out=tmp_path / out, every=0.01, max_polls=2, floor_cache=True, plots=False,
              echo=lambda line: None, n=N, metrics=FAST)
        assert len(calls) == expected
    watch(source.parent, "ring8", out=tmp_path / "w3", every=0.01, max_polls=2, plots=False, echo=lambda line: None,
          n=N, metrics=FAST)  # floor_cache=False: scored
    assert len(calls) == 2
    watched = pd.read_csv(tmp_path / "w1" / "report.csv")
    floor = watched[watched["source"] == "real-vs-real"].iloc[0]
    assert floor["modes_captured"] == audited.frame.iloc[-1]["modes_captured"]
    assert floor["sliced_w"] == audited.frame.iloc[-1]["sliced_w"]
