"""Content hashes (SHA-256) of files, bytes and arrays: the one place gandiag computes them."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import torch

from .errors import GandiagInputError

__all__ = ["array_sha256", "bytes_sha256", "file_sha256"]


def bytes_sha256(data: bytes) -> str:
    """SHA-256 of ``data``, hex."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def array_sha256(x: Any) -> str:
    """SHA-256 of an array's dtype, shape and bytes (numpy or torch, any device)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        arr = (t.float() if t.dtype == torch.bfloat16 else t).contiguous().numpy()
    else:
        arr = np.ascontiguousarray(np.asarray(x))
    if arr.dtype == object:
        raise GandiagInputError("samples: an object array cannot be hashed for the feature cache")
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(memoryview(arr.reshape(-1)).cast("B"))
    return digest.hexdigest()
