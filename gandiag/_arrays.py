"""Conversions shared by every metric: numpy or torch in, validated numpy out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import GandiagInputError


def to_numpy(x: Any, *, name: str = "samples", dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested sequence) as a numpy array of ``dtype``.

    Torch tensors are detached and moved to the CPU. Non-finite values are rejected.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu")
        x = x.double().numpy() if dtype == np.float64 else x.numpy()
    arr = np.asarray(x, dtype=dtype)
    if arr.size and not np.all(np.isfinite(arr)):
        raise GandiagInputError(f"{name}: contains NaN or infinite values")
    return arr


def as_2d(x: Any, *, name: str = "samples", dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` as an (n, d) numpy array; images (n, C, H, W) are flattened to (n, C*H*W).

    A 1-D input of length n is read as n one-dimensional samples, shape (n, 1).
    """
    arr = to_numpy(x, name=name, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise GandiagInputError(f"{name}: expected a non-empty array of shape (n, d), got {arr.shape}")
    return arr


def pair_2d(real: Any, fake: Any, *, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (real, fake) pair of sample sets: both (n_i, d) with the same d."""
    r = as_2d(real, name="real", dtype=dtype)
    f = as_2d(fake, name="fake", dtype=dtype)
    if r.shape[1] != f.shape[1]:
        raise GandiagInputError(
            f"real and fake have different dimensions: {r.shape[1]} and {f.shape[1]}"
        )
    return r, f
