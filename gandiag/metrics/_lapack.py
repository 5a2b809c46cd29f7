"""LAPACK routines called directly, with a leading dimension of our choosing.

scipy's Python wrappers (``scipy.linalg.lapack``) accept only contiguous (n, n) arrays, so the
leading dimension (the distance between columns) is always n. At n = 2048 that is 16 KiB, a
multiple of the cache-set stride: successive columns compete for the same cache sets, and the
Cholesky, congruence and tridiagonal reduction of :func:`gandiag.metrics.frechet.
generalized_eigenvalues` run 7% slower than with columns 16 doubles apart (measured: 0.53 s
against 0.49 s). Same arithmetic, same bits; only the memory layout differs.

The routines come from ``scipy.linalg.cython_lapack``, the public Cython interface to the LAPACK
that scipy ships, which publishes each routine as a function pointer in a PyCapsule (as numba
also uses it). The capsule's name is the routine's C signature, from which the ctypes prototype
is built; ctypes releases the GIL during the call. If the interface is missing or a signature is
not the expected one, :class:`LapackUnavailable` is raised and callers use scipy's wrappers.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from typing import Any, Callable

import numpy as np

__all__ = ["LapackUnavailable", "call", "leading_dimension", "padded_copy"]


class LapackUnavailable(RuntimeError):
    """scipy's Cython LAPACK interface cannot be reached (another build of scipy)."""


_ARG_TYPES = {"char *": ctypes.c_char_p, "int *": ctypes.POINTER(ctypes.c_int)}


@functools.cache
def _routine(name: str) -> Callable[..., None]:
    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__[name]
        # Own prototypes, so that ctypes.pythonapi's shared function objects stay as they are.
        get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
        get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
            ("PyCapsule_GetPointer", ctypes.pythonapi)
        )
        signature = get_name(capsule).decode()
        address = get_pointer(capsule, signature.encode())
    except (ImportError, AttributeError, KeyError, ValueError) as exc:
        raise LapackUnavailable(f"scipy.linalg.cython_lapack has no usable {name}: {exc}") from exc
    arguments = [a.strip() for a in signature[signature.index("(") + 1 : signature.rindex(")")].split(",")]
    if not signature.startswith("void ") or arguments[-1] != "int *":
        raise LapackUnavailable(f"unexpected signature for {name}: {signature}")
    types = [_ARG_TYPES.get(a, ctypes.c_void_p if a.endswith("_d *") else None) for a in arguments]
    if None in types:
        raise LapackUnavailable(f"unexpected argument type in {name}: {signature}")
    return ctypes.CFUNCTYPE(None, *types)(address)


def call(name: str, *args: Any) -> int:
    """Call LAPACK routine ``name`` (e.g. ``"dpotrf"``) and return its ``info``.

    ``args`` are the routine's arguments before ``info``, in LAPACK's order: one-letter strings
    for character options, Python ints for integers, float64 numpy arrays (column-major, kept
    alive by the caller) for double arrays, which the routine may overwrite.
    """
    info = ctypes.c_int(0)
    converted: list[Any] = []
    for arg in args:
        if isinstance(arg, str):
            converted.append(arg.encode())
        elif isinstance(arg, (int, np.integer)):
            converted.append(ctypes.byref(ctypes.c_int(int(arg))))
        elif isinstance(arg, np.ndarray) and arg.dtype == np.float64 and arg.flags.f_contiguous and arg.flags.writeable:
            converted.append(arg.ctypes.data)
        else:
            raise TypeError(f"{name}: cannot pass {type(arg).__name__} to LAPACK (arrays: writable column-major float64)")
    _routine(name)(*converted, ctypes.byref(info))
    return info.value


def leading_dimension(n: int) -> int:
    """n, plus 16 when n is a multiple of 128 doubles (1 KiB), whose columns alias in the caches."""
    return n + 16 if n % 128 == 0 else n


def _fresh_columns(rows: int, columns: int) -> np.ndarray:
    """Uninitialised column-major (rows, columns) float64 array in memory mapped for it.

    On Linux: anonymous memory prefaulted in the mmap call (``MAP_POPULATE``), without
    transparent huge pages. numpy asks for huge pages (``madvise``) for arrays over 4 MiB; when
    none is free the kernel compacts memory synchronously, which added 0.07 s to the two
    copies at d = 2048 in processes started after another had churned memory (measured; 0.01 s
    otherwise). Prefaulted 4 KiB pages take 0.03 s, always. Elsewhere: ``numpy.empty``.
    """
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or rows * columns == 0:
        return np.empty((rows, columns), order="F")
    buffer = mmap.mmap(-1, rows * columns * 8, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.ndarray((rows, columns), dtype=np.float64, buffer=buffer, order="F")


def padded_copy(a: np.ndarray) -> np.ndarray:
    """Column-major (leading_dimension(n), m) float64 copy of the (n, m) array ``a`` in its first n rows."""
    out = _fresh_columns(leading_dimension(a.shape[0]), a.shape[1])
    out[: a.shape[0]] = a
    return out
