"""Conversions shared by every metric (numpy or torch in, validated numpy out), the memory budget
for sizes that files and options ask for, and the one check of generated samples."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import torch

from .errors import GandiagInputError, SourceError


def to_numpy(x: Any, *, name: str = "samples", dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested sequence) as a numpy array of ``dtype``.

    Torch tensors are detached and moved to the CPU. Non-finite values are rejected.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu")
        x = x.double().numpy() if dtype == np.float64 else x.numpy()
    arr = np.asarray(x, dtype=dtype)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise GandiagInputError(f"{name}: contains NaN or infinite values ({bad} of {arr.size})")
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


# ------------------------------------------------------------------------------ memory budget

#: Environment variable that sets the memory budget (bytes, or a size such as ``512M``, ``4G``).
MEMORY_BUDGET_ENV = "GANDIAG_MEMORY_BUDGET"
DEFAULT_MEMORY_BUDGET = 2 * 2**30
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
          "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40, "TIB": 2**40}


def memory_budget() -> int:
    """The most bytes one array may take that a file, an option or an architecture asks for.

    ``GANDIAG_MEMORY_BUDGET`` (bytes, or ``512M``, ``4G``...), default 2 GiB. Sizes are checked
    against it *before* allocating: a sample file's declared array, the ``n`` samples asked of a
    generator, a network's parameters and buffers.
    """
    text = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_MEMORY_BUDGET
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([A-Za-z]*)", text)
    unit = _UNITS.get(match.group(2).upper()) if match else None
    if unit is None or float(match.group(1)) * unit < 1:
        raise GandiagInputError(f"{MEMORY_BUDGET_ENV}={text!r}: not a size; use bytes or a size such as 512M or 4G")
    return int(float(match.group(1)) * unit)


def format_bytes(n: float) -> str:
    """``3.0 GiB``, ``512.0 MiB``, ``12 B``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def check_budget(nbytes: int, what: str, *, source: object = None, hint: str = "") -> None:
    """Refuse ``what`` (a phrase: "n = 10 samples of shape (2,)") when it needs more than the memory budget.

    Raises :class:`SourceError` naming ``source`` when given, else :class:`GandiagInputError`.
    """
    budget = memory_budget()
    if nbytes <= budget:
        return
    problem = (f"{what} would take {format_bytes(nbytes)}, more than gandiag's memory budget of "
               f"{format_bytes(budget)} (set {MEMORY_BUDGET_ENV} to change it)")
    if source is not None:
        raise SourceError(source, problem, hint=hint)
    raise GandiagInputError(f"{problem}; {hint}" if hint else problem)


# ----------------------------------------------------------------------------- generated samples

#: Largest magnitude a sample value may have: squared distances of larger values overflow float32.
MAX_ABS_VALUE = 1e12
#: Images must lie in [-1, 1]; this much rounding slack is allowed on either side.
IMAGE_RANGE_SLACK = 0.01


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _as_tensor(x: np.ndarray) -> torch.Tensor:
    try:
        return torch.from_numpy(np.ascontiguousarray(x))
    except (TypeError, ValueError):  # a dtype torch lacks (float128, big-endian): a float64 copy
        return torch.from_numpy(np.asarray(x, dtype=np.float64))


def check_samples(x: Any, source: object, reference_shape: tuple[int, ...] | None = None) -> Any:
    """Return ``x`` (torch or numpy samples) unchanged if it is usable as generated samples, else
    raise :class:`SourceError` naming ``source``.

    Checks, in order: rank 2 (n, d) or 4 (n, C, H, W) with n >= 1 and no empty axis; a floating
    dtype; no NaN or infinite value (the error counts them); magnitudes at most
    :data:`MAX_ABS_VALUE`; images (rank 4) within [-1, 1] (the error gives the observed range);
    with ``reference_shape``, one sample's shape equal to it.
    """
    is_torch = isinstance(x, torch.Tensor)
    shape = tuple(int(s) for s in x.shape)
    if len(shape) not in (2, 4) or 0 in shape:
        what = "no samples" if len(shape) in (2, 4) and shape[0] == 0 else f"samples of shape {shape}"
        raise SourceError(source, f"{what}; samples must be (n, d) or (n, C, H, W) with n >= 1", hint="")
    floating = x.is_floating_point() if is_torch else np.issubdtype(x.dtype, np.floating)
    if not floating:
        raise SourceError(source, f"samples of dtype {str(x.dtype).replace('torch.', '')}; samples must be "
                          "floating point (vectors as they are, images scaled to [-1, 1])", hint="")
    values = x.detach() if is_torch else _as_tensor(x)
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        nan = int(torch.isnan(values).sum())
        inf = int(values.numel() - int(finite.sum()) - nan)
        raise SourceError(source, f"{nan + inf} of {values.numel()} sample values are NaN or infinite "
                          f"({nan} NaN, {inf} infinite)", hint="a generator must produce finite samples")
    low, high = float(values.min()), float(values.max())
    if max(-low, high) > MAX_ABS_VALUE:
        raise SourceError(source, f"sample values reach {max(-low, high):.3g} in magnitude; gandiag refuses "
                          f"values beyond {MAX_ABS_VALUE:.0e} (their squared distances overflow)",
                          hint="rescale the samples to the reference's units")
    if len(shape) == 4 and (low < -1 - IMAGE_RANGE_SLACK or high > 1 + IMAGE_RANGE_SLACK):
        raise SourceError(source, f"image samples range from {low:g} to {high:g}; images must be scaled to "
                          "[-1, 1]", hint="map 0..255 pixels with x / 127.5 - 1, or 0..1 with 2x - 1")
    if reference_shape is not None and shape[1:] != tuple(reference_shape):
        raise SourceError(source, f"samples of shape {shape[1:]} but the reference expects "
                          f"{tuple(reference_shape)}", hint="score it against a reference of the same shape")
    return x
