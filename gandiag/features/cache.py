"""Feature cache: features stored on disk under a key that names everything they depend on.

Feature caches keyed by a dataset or model *name* silently return stale numbers when the samples
or the model change. Here the key is the SHA-256 of a canonical JSON of

* ``content``: the SHA-256 of the samples' bytes (dtype and shape included), or of the generator
  file's bytes (checkpoint, ``.pt2``, TorchScript) when features are cached per source;
* ``n`` and ``seed`` (and any other option that changes the samples, e.g. the latent prior);
* the extractor's ``name``, ``version`` (its preprocessing) and ``weights_sha256``;
* the cache format, gandiag's and torch's versions.

A changed input changes ``content``, so it can never hit an old entry; nothing is keyed by a path
or a modification time. Entries are ``.npy`` files written atomically (a unique temp file in the
same folder, fsync, ``os.replace``): two processes writing the same entry at once both succeed
and readers see one complete file or none. An unreadable entry counts as a miss.

Location: ``$GANDIAG_CACHE_DIR/features``, else ``$XDG_CACHE_HOME/gandiag/features``, else
``~/.cache/gandiag/features``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .._hashing import array_sha256, bytes_sha256, file_sha256
from ..atomic import atomic_path
from ..errors import GandiagInputError

__all__ = ["CACHE_ENV", "FeatureCache", "array_sha256", "default_cache_dir", "file_sha256"]

CACHE_ENV = "GANDIAG_CACHE_DIR"
FORMAT = 1


def default_cache_dir() -> Path:
    """``$GANDIAG_CACHE_DIR/features``, else the user's cache dir (XDG) ``/gandiag/features``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gandiag"
    return Path(root).expanduser() / "features"


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"gandiag": __version__, "torch": torch.__version__.split("+")[0]}


class FeatureCache:
    """Features on disk under ``root`` (default :func:`default_cache_dir`), keyed by content."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def key(self, extractor: Any, *, content: str, n: int | None = None, seed: int | None = None, **extra: Any) -> str:
        """The entry name: SHA-256 of every field the features depend on (module docstring)."""
        fields = {
            "format": FORMAT,
            **_versions(),
            "content": content,
            "n": n,
            "seed": seed,
            "extractor": extractor.name,
            "extractor_version": extractor.version,
            "weights_sha256": extractor.weights_sha256,
            "extra": {k: str(v) for k, v in sorted(extra.items())},
        }
        return bytes_sha256(json.dumps(fields, sort_keys=True).encode())

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        """The stored features, or None (missing or unreadable entry)."""
        try:
            return np.load(self.path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    def store(self, key: str, features: np.ndarray) -> Path:
        """Write ``features`` atomically under ``key``; concurrent writers are safe."""
        target = self.path(key)
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(features), allow_pickle=False)
        return target

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray], *, n: int | None = None) -> np.ndarray:
        """The entry ``key``, computing and storing it on a miss (or when its row count is not n)."""
        found = self.load(key)
        if found is not None and (n is None or len(found) == n):
            return found
        features = np.asarray(compute())
        self.store(key, features)
        return features

    def features(self, samples: Any, extractor: Any, *, batch_size: int = 256, seed: int | None = None, **extra: Any) -> np.ndarray:
        """Features of ``samples`` keyed by their content hash (plus ``seed`` and ``extra``)."""
        key = self.key(extractor, content=array_sha256(samples), n=len(samples), seed=seed, **extra)
        return self.get_or_compute(key, lambda: extractor(samples, batch_size=batch_size), n=len(samples))

    def source_features(
        self,
        source: str | os.PathLike,
        extractor: Any,
        sample: Callable[[int, int], Any],
        n: int,
        seed: int,
        *,
        batch_size: int = 256,
        **extra: Any,
    ) -> np.ndarray:
        """Features of ``sample(n, seed)`` keyed by the bytes of the generator file ``source``.

        ``sample`` runs only on a miss. Pass in ``extra`` every option that changes the samples
        besides the file, n and seed (e.g. ``latent="uniform"``, ``latent_dim=...``).
        """
        content = "file:" + file_sha256(source)
        key = self.key(extractor, content=content, n=int(n), seed=int(seed), **extra)
        return self.get_or_compute(key, lambda: extractor(sample(int(n), int(seed)), batch_size=batch_size), n=int(n))

    def clear(self) -> None:
        """Remove every entry (the whole cache folder)."""
        shutil.rmtree(self.root, ignore_errors=True)
