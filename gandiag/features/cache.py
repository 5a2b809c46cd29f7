"""Feature cache: features stored on disk under a key that names everything they depend on.

Feature caches keyed by a dataset or model *name* silently return stale numbers when the samples
or the model change. Here the key is the SHA-256 of a canonical JSON of

* ``content``: the SHA-256 of the samples' bytes (dtype and shape included), or of the generator
  file's bytes (checkpoint, ``.pt2``, TorchScript) when features are cached per source;
* ``n`` and ``seed`` (and any other option that changes the samples, e.g. the latent prior);
* the extractor's ``name``, ``version`` (its preprocessing) and ``weights_sha256``;
* the cache format, gandiag's and torch's versions;
* for features cached per generator file (:meth:`FeatureCache.source_features`), the code that
  turns the file into samples where it lives outside the file: for a gandiag checkpoint, the
  SHA-256 of the source file that defines its registered architecture (a ``.pt2`` program,
  TorchScript archive or sample file holds all of it).

A changed input changes ``content``, so it can never hit an old entry; nothing is keyed by a path
or a modification time. Entries are ``.npy`` files written atomically (a unique temp file in the
same folder, fsync, ``os.replace``): two processes writing the same entry at once both succeed
and readers see one complete file or none. An entry is only served when it is a readable,
finite, two-dimensional float array with the expected number of rows and, where the extractor
says (``feature_dim``), the expected width; anything else counts as a miss and is rewritten.

Size: at most ``max_bytes`` (default 4 GiB, ``$GANDIAG_CACHE_MAX_BYTES``) of entries; after a
store that goes over, the least recently used entries (a hit refreshes an entry's time) are
removed until the cache fits.

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

__all__ = ["CACHE_ENV", "FeatureCache", "array_sha256", "cache_root", "default_cache_dir", "file_sha256"]

CACHE_ENV = "GANDIAG_CACHE_DIR"
SIZE_ENV = "GANDIAG_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 << 30
FORMAT = 2  # 2: per-file entries also key on the architecture's code


def cache_root() -> Path:
    """``$GANDIAG_CACHE_DIR``, else the user's cache dir (XDG) ``/gandiag``: every gandiag cache lives under it."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gandiag"
    return Path(root).expanduser()


def default_cache_dir() -> Path:
    """``$GANDIAG_CACHE_DIR/features``, else the user's cache dir (XDG) ``/gandiag/features``."""
    return cache_root() / "features"


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"gandiag": __version__, "torch": torch.__version__.split("+")[0]}


def _max_bytes(given: int | None) -> int:
    if given is not None:
        return int(given)
    text = os.environ.get(SIZE_ENV)
    try:
        return int(text) if text else DEFAULT_MAX_BYTES
    except ValueError:
        raise GandiagInputError(f"${SIZE_ENV}={text!r}: need a whole number of bytes") from None


def generator_code_sha256(source: str | os.PathLike) -> str:
    """SHA-256 of the code outside ``source`` that turns it into samples ("" when the file holds it all).

    For a gandiag checkpoint: the source file of its registered architecture's factory (a changed
    net definition changes the samples of the same weights file).
    """
    import inspect

    path = Path(source)
    if path.suffix.lower() != ".pt":
        return ""
    from ..architectures import resolve_architecture
    from ..checkpoint import read_checkpoint

    try:
        ckpt = read_checkpoint(path)
    except GandiagInputError:
        return ""  # TorchScript (self-contained) or unreadable: loading will say so
    name = str(ckpt["architecture"].get("name"))
    factory = resolve_architecture(name)
    try:
        code = inspect.getsourcefile(factory) if factory is not None else None
    except TypeError:
        code = None
    return f"{name}:" + (file_sha256(code) if code else "unknown")


class FeatureCache:
    """Features on disk under ``root`` (default :func:`default_cache_dir`), keyed by content.

    ``max_bytes``: the size limit (default ``$GANDIAG_CACHE_MAX_BYTES`` or 4 GiB), kept by
    removing the least recently used entries after a store.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, max_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.max_bytes = _max_bytes(max_bytes)

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
        """Write ``features`` atomically under ``key`` (concurrent writers are safe), then keep the size limit."""
        target = self.path(key)
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(features), allow_pickle=False)
        self.evict(keep=target)
        return target

    def evict(self, keep: Path | None = None) -> int:
        """Remove the least recently used entries until the cache holds at most ``max_bytes``; returns bytes freed."""
        entries = []
        for path in self.root.glob("*/*.npy"):
            try:
                st = path.stat()
            except OSError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total - freed <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
                freed += size
            except OSError:
                pass
        return freed

    @staticmethod
    def valid(found: Any, n: int | None, width: int | None) -> bool:
        """Whether a stored entry can be served: 2-D finite floats, ``n`` rows, ``width`` columns (when known)."""
        return (isinstance(found, np.ndarray) and found.ndim == 2 and found.dtype.kind == "f"
                and (n is None or len(found) == n) and (width is None or found.shape[1] == width)
                and bool(np.isfinite(found).all()))

    def get_or_compute(self, key: str, compute: Callable[[], np.ndarray], *, n: int | None = None,
                       width: int | None = None) -> np.ndarray:
        """The entry ``key``, computing and storing it on a miss or when the entry is not :meth:`valid`."""
        found = self.load(key)
        if self.valid(found, n, width):
            try:
                os.utime(self.path(key))  # recently used: the last to be evicted
            except OSError:
                pass
            return found
        features = np.asarray(compute())
        self.store(key, features)
        return features

    def features(self, samples: Any, extractor: Any, *, batch_size: int | None = None, seed: int | None = None,
                 **extra: Any) -> np.ndarray:
        """Features of ``samples`` keyed by their content hash (plus ``seed`` and ``extra``).

        ``batch_size``: rows per forward pass on a miss (default: the extractor's own).
        """
        key = self.key(extractor, content=array_sha256(samples), n=len(samples), seed=seed, **extra)
        sizes = {} if batch_size is None else {"batch_size": batch_size}
        return self.get_or_compute(key, lambda: extractor(samples, **sizes), n=len(samples),
                                   width=_width(extractor, tuple(np.shape(samples)[1:])))

    def source_features(
        self,
        source: str | os.PathLike,
        extractor: Any,
        sample: Callable[[int, int], Any],
        n: int,
        seed: int,
        *,
        batch_size: int = 256,
        sample_shape: tuple[int, ...] | None = None,
        **extra: Any,
    ) -> np.ndarray:
        """Features of ``sample(n, seed)`` keyed by the bytes of the generator file ``source``.

        ``sample`` runs only on a miss. Pass in ``extra`` every option that changes the samples
        besides the file, n and seed (e.g. ``latent="uniform"``, ``latent_dim=...``); the code of a
        checkpoint's architecture is part of the key (:func:`generator_code_sha256`).
        ``sample_shape`` (the shape of one sample), when given, lets a stored entry's width be checked.
        """
        content = "file:" + file_sha256(source)
        code = generator_code_sha256(source)
        key = self.key(extractor, content=content, n=int(n), seed=int(seed), **({"code": code} if code else {}), **extra)
        width = _width(extractor, tuple(sample_shape)) if sample_shape is not None else None
        return self.get_or_compute(key, lambda: extractor(sample(int(n), int(seed)), batch_size=batch_size), n=int(n),
                                   width=width)

    def clear(self) -> None:
        """Remove every entry (the whole cache folder)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _width(extractor: Any, sample_shape: tuple[int, ...]) -> int | None:
    """The feature width the extractor gives for samples of ``sample_shape`` (``None``: it does not say)."""
    dim = getattr(extractor, "feature_dim", None)
    if dim is None:
        return None
    try:
        return int(dim(sample_shape))
    except Exception:  # an extractor that cannot tell for this shape: width not checked
        return None
