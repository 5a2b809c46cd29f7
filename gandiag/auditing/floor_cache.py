"""The real-vs-real row kept between invocations, so that auditing a new folder does not score it again.

Every audit ends with the floor row: two independent reference samples scored against each other
(README "Intervals and the floor"). It depends on the reference, never on the checkpoints, yet it
costs as much as a checkpoint's row (1.4-1.9 s of a one-checkpoint ``gandiag audit`` on ring8 at
n = 10,000). The result store (:mod:`gandiag.auditing.store`) keeps it within one output folder;
this cache keeps it across folders, as the feature cache keeps the reference's features.

An entry is served only when scoring again would give the same numbers. Its name is the SHA-256
of a canonical JSON of

* the store's settings key (:func:`gandiag.auditing.store.settings_key`): the reference *content*
  (the drawn reference and floor samples, and their features), n, seed, metrics, resamples, every
  threshold, the transport and NDB options, the loading options, gandiag's and torch's versions;
* a fingerprint of gandiag's own code (SHA-256 over every ``.py`` file of the installed package,
  so an edited metric never reads an old floor, version bump or not);
* the versions of the numerical packages a row depends on (numpy, scipy, POT, scikit-learn,
  pandas, torch-fidelity).

Entries are one file each, ``$GANDIAG_CACHE_DIR/floors/<key>.row`` (else
``$XDG_CACHE_HOME/gandiag/floors``, else ``~/.cache/gandiag/floors``): an 8-byte length, the row's
JSON, the row's pickle-free ``.npz`` records (:mod:`gandiag.auditing.row_codec`: nothing is
executed on reading), written atomically (:func:`gandiag.atomic.atomic_path`). A file that cannot
be decoded counts as a miss and is rewritten. Rows are a few kB; nothing is evicted.

``gandiag audit`` uses it unless ``--no-cache``; ``--fresh`` scores the floor again (and keeps the
new row). In Python: ``gandiag.audit(..., floor_cache=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from ..atomic import atomic_path
from ..features.cache import cache_root
from ..scoring import ScoreResult
from .row_codec import decode, encode

__all__ = ["FloorCache", "code_fingerprint", "default_floor_dir"]

FORMAT = "gandiag-floor-cache/1"
#: Distributions whose numbers enter a row besides torch (keyed by the settings) and gandiag itself.
NUMERICAL_PACKAGES = ("numpy", "scipy", "pot", "scikit-learn", "pandas", "torch-fidelity")
_LENGTH = struct.Struct("<Q")


def default_floor_dir() -> Path:
    """``$GANDIAG_CACHE_DIR/floors``, else the user's cache dir (XDG) ``/gandiag/floors``."""
    return cache_root() / "floors"


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the gandiag package (sorted)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    versions = {}
    for name in NUMERICAL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


class FloorCache:
    """Floor rows on disk under ``root`` (default :func:`default_floor_dir`) for one settings key.

    ``settings``: the :func:`gandiag.auditing.store.settings_key` of the scorer. ``read=False``
    never serves an entry (``--fresh``) but still stores the newly scored row.
    """

    def __init__(self, settings: str, root: str | Path | None = None, *, read: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else default_floor_dir()
        self.read = read
        fields = {"format": FORMAT, "settings": settings, "code": code_fingerprint(), "packages": _package_versions()}
        self.key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        self.path = self.root / f"{self.key}.row"
        #: Whether the last :meth:`fetch` served a kept row.
        self.hit = False

    def __repr__(self) -> str:
        return f"FloorCache({str(self.path)!r})"

    def get(self) -> ScoreResult | None:
        """The kept floor row, or ``None`` (absent, unreadable, or ``read=False``)."""
        if not self.read:
            return None
        try:
            data = self.path.read_bytes()
            (length,) = _LENGTH.unpack_from(data)
            text = data[_LENGTH.size:_LENGTH.size + length].decode("utf-8")
            return decode(text, data[_LENGTH.size + length:])
        except Exception:  # noqa: BLE001  (a truncated, foreign or corrupted entry, whatever fails: a miss)
            return None

    def put(self, result: ScoreResult) -> None:
        """Keep ``result``; a cache folder that cannot be written is skipped (the audit does not need it)."""
        text, blob = encode(result)
        raw = text.encode("utf-8")
        try:
            with atomic_path(self.path) as tmp:
                tmp.write_bytes(_LENGTH.pack(len(raw)) + raw + blob)
        except OSError:
            pass

    def fetch(self, compute: Callable[[], ScoreResult]) -> ScoreResult:
        """The kept row, else ``compute()``, kept."""
        found = self.get()
        self.hit = found is not None
        if found is not None:
            return found
        result = compute()
        self.put(result)
        return result


def open_floor_cache(scorer: Any, *, fresh: bool = False, **loading: Any) -> FloorCache:
    """The :class:`FloorCache` of ``scorer``'s settings (``loading``: as for ``settings_key``)."""
    from .store import settings_key

    return FloorCache(settings_key(scorer, **loading), read=not fresh)
