"""The result store: every scored row of an audit, kept in the output folder, so nothing is scored twice.

``gandiag audit --out DIR`` keeps ``DIR/scores.sqlite``. A row is stored under a key made of
everything that determines it, so a stored row is reused only when scoring again would give the
same numbers, and anything that changes them is scored again, never served stale:

* the scorer's settings (:func:`settings_key`): the reference *content* (a SHA-256 of the drawn
  reference sample and of the independent floor sample, so a reference folder whose images
  changed is a new reference even under the same name; for images also of the reference
  features, so another extractor or weights file is a new key), n, seed, the metric selection,
  ``resamples``, every flag threshold, ``max_points``, ``sinkhorn_points``, the NDB bins, the
  latent settings and device, and the gandiag and torch versions;
* the source: its name as given (the report's ``source`` and ``run`` columns), its step, and a
  SHA-256 of the file's bytes (a rewritten checkpoint is scored again).

Sources given in memory (arrays, modules) have no file to key on and are always scored; so are
sources that failed (a failure may be transient), and the real-vs-real row is stored like a
checkpoint (its key is the settings alone).

Why SQLite and not a Parquet file: it is in the standard library (Parquet would add pyarrow), a
row is committed in its own transaction as soon as it is scored, so an audit killed with SIGKILL
loses at most the row in flight and the next run resumes (a half-written transaction is rolled
back from SQLite's journal when the file is next opened), and a reader never sees half a row.
Nothing in the store is executable: rows are JSON and pickle-free ``.npy`` records
(:mod:`gandiag.auditing.row_codec`). One writer at a time is ensured by the lock on the output folder
(:func:`gandiag.atomic.folder_lock`), not by SQLite.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._hashing import array_sha256, bytes_sha256, file_sha256
from ..errors import GandiagInputError
from ..scoring import ScoreResult
from .row_codec import decode, encode

__all__ = ["STORE_FILES", "STORE_NAME", "ResultStore", "settings_key"]

STORE_NAME = "scores.sqlite"
#: The store and SQLite's rollback journal (present only after a kill mid-write): both travel
#: with the report folder when it is replaced.
STORE_FILES = frozenset({STORE_NAME, f"{STORE_NAME}-journal"})
FORMAT = "gandiag-result-store/1"  # a change of the layout below changes this

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY, settings TEXT NOT NULL, source TEXT NOT NULL, run TEXT NOT NULL, step INTEGER,
    row TEXT NOT NULL, arrays BLOB NOT NULL
);
"""


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, pandas' NA to None (NaN stays NaN: JSON ``NaN``)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_plain, allow_nan=True)


def _reason(exc: sqlite3.Error) -> str:
    """SQLite's error in the words of the file system when it is one (a full or read-only disk)."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        return f"No space left on device: {exc}"
    if name.startswith("SQLITE_READONLY"):
        return f"Read-only file system or file: {exc}"
    return str(exc)


def settings_key(scorer: Any, **loading: Any) -> str:
    """SHA-256 of everything besides the source that determines a row scored by ``scorer``.

    ``loading``: the options the sources are loaded with (``latent``, ``latent_dim``, ``device``).
    """
    import torch

    from .. import __version__

    parts: dict[str, Any] = {
        "format": FORMAT, "gandiag": __version__, "torch": torch.__version__,
        "reference": scorer.reference.name, "reference_sample": array_sha256(scorer.real),
        "floor_sample": array_sha256(scorer._floor_sample),
        "n": scorer.n, "seed": scorer.seed, "metrics": sorted(scorer.metrics), "resamples": scorer.resamples,
        "thresholds": dataclasses.asdict(scorer.thresholds), "max_points": scorer.max_points,
        "sinkhorn_points": scorer.sinkhorn_points, "extractor": scorer.extractor_name,
        "bins": None if scorer.bins is None else array_sha256(scorer.bins.centroids),
        "loading": {k: loading[k] for k in sorted(loading)},
    }
    features = getattr(scorer, "real_features", None)
    if features is not None:
        parts["reference_features"] = array_sha256(features)
    return bytes_sha256(_dumps(parts).encode())


def source_digest(source: str) -> str | None:
    """SHA-256 of the file ``source`` names, ``None`` when it names no regular file (memory, folder)."""
    path = Path(source)
    try:
        return file_sha256(path) if path.is_file() else None
    except OSError:
        return None


class ResultStore:
    """Scored rows kept in an SQLite file (see the module docstring).

    ``settings``: the :func:`settings_key` of the scorer whose rows are read and written. Use as
    a context manager, or call :meth:`close`. ``fresh=True`` starts an empty store (the existing
    rows are dropped), as ``gandiag audit --fresh`` does.
    """

    def __init__(self, path: str | Path, settings: str, *, fresh: bool = False) -> None:
        self.path = Path(path)
        self.settings = settings
        self.reused = 0
        self.stored = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for name in (self.path, self.path.with_name(self.path.name + "-journal")):
                name.unlink(missing_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)  # autocommit; transactions explicit
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            elif found[0] != FORMAT:
                raise GandiagInputError(f"result store {self.path}: format {found[0]!r}, this gandiag reads {FORMAT!r}; "
                                        "run with --fresh to start a new one")
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_ERROR"):
                raise GandiagInputError(f"result store {self.path}: not a gandiag result store ({exc}); remove it, "
                                        "or run with --fresh to start a new one") from None
            raise GandiagInputError(f"result store {self.path}: cannot open ({_reason(exc)})") from None

    # -- keys --------------------------------------------------------------------------------
    def key(self, source: str, run: str, step: int | None, digest: str | None) -> str:
        """The row key: the settings key, the source as named, its run, step and content hash."""
        return bytes_sha256(_dumps([self.settings, source, run, step, digest]).encode())

    # -- rows --------------------------------------------------------------------------------
    def get(self, key: str) -> ScoreResult | None:
        """The stored row for ``key``, or ``None``; a row that cannot be read counts as missing."""
        found = self._db.execute("SELECT row, arrays FROM rows WHERE key = ?", (key,)).fetchone()
        if found is None:
            return None
        try:
            result = decode(found[0], found[1])
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile):
            return None
        self.reused += 1
        return result

    def put(self, key: str, result: ScoreResult, run: str = "") -> None:
        """Store ``result`` under ``key``, committed at once; an older row of the same source, run and
        step under the same settings (the file has since changed) is dropped."""
        text, blob = encode(result)
        step = None if result.step is None or (isinstance(result.step, float) and math.isnan(result.step)) \
            else int(result.step)
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM rows WHERE settings = ? AND source = ? AND run = ? AND step IS ?",
                             (self.settings, str(result.source), run, step))
            self._db.execute("INSERT OR REPLACE INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key, self.settings, str(result.source), run, step, text, sqlite3.Binary(blob)))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise GandiagInputError(f"result store {self.path}: cannot write ({_reason(exc)}); the rows stored "
                                    "before are intact") from None
        self.stored += 1

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def sources(self) -> list[tuple[str, int | None]]:
        """(source, step) of every stored row, in insertion order."""
        return [(s, t) for s, t in self._db.execute("SELECT source, step FROM rows ORDER BY rowid")]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

