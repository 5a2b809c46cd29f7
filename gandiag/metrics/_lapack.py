"""LAPACK routines called directly, with a leading dimension of our choosing.

scipy's Python wrappers (``scipy.linalg.lapack``) accept only contiguous (n, n) arrays, so the
leading dimension (the distance between columns) is always n. At n = 2048 that is 16 KiB, a
multiple of the cache-set stride: successive columns compete for the same cache sets, and the
Cholesky, congruence and tridiagonal reduction of :func:`gandiag.metrics.frechet.
generalized_eigenvalues` run 7% slower than with columns 16 doubles apart (measured: 0.53 s
against 0.49 s). Same arithmetic, same bits; only the memory layout differs.

The routines come from ``scipy.linalg.cython_lapack``, the public Cython interface to the LAPACK
that scipy ships, which publishes each routine as a function pointer in a PyCapsule (as numba
also uses it). The capsule's name is the routine's C signature, checked against the one expected
before the ctypes prototype is built; ctypes releases the GIL during the call. If the interface
is missing or a signature is not the expected one, :class:`LapackUnavailable` is raised and
callers use scipy's wrappers.

Memory safety: LAPACK trusts the sizes it is given, so a wrong one overruns a buffer and can
kill the interpreter. The wrappers :func:`dpotrf`, :func:`dsygst`, :func:`dsytrd` and
:func:`dsterf` therefore take numpy arrays only and derive every size from them: the order n
is the number of columns of a column-major (lda, n) matrix (or the length of the diagonal),
lda its number of rows; the workspace and the outputs of ``dsytrd`` are allocated here. Before
any pointer is handed over, each array is checked: a numpy array of native float64, aligned,
of the expected number of dimensions, column-major contiguous, writeable where LAPACK writes,
lda >= n >= 1, every size within the 32-bit ``int`` LAPACK takes, vectors long enough, and
outputs not overlapping other arguments. Anything else raises ``TypeError`` or ``ValueError``
naming the routine and the argument. The ctypes prototypes declare the arrays as
``numpy.ctypeslib.ndpointer`` (float64, contiguous, aligned, writeable where written) as a
second check.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from typing import Any, Callable

import numpy as np

__all__ = ["LapackUnavailable", "dpotrf", "dsterf", "dsygst", "dsytrd", "leading_dimension", "padded_copy"]

_INT_MAX = 2**31 - 1  # LAPACK's integers are C ints (LP64)


class LapackUnavailable(RuntimeError):
    """scipy's Cython LAPACK interface cannot be reached (another build of scipy)."""


# Argument kinds, before the trailing ``int *info``: c = char *, i = int *, w = double array
# LAPACK writes, r = double array LAPACK only reads.
_SIGNATURES = {
    "dpotrf": "ciwi",  # uplo, n, a, lda
    "dsygst": "iciwiri",  # itype, uplo, n, a, lda, b, ldb
    "dsytrd": "ciwiwwwwi",  # uplo, n, a, lda, d, e, tau, work, lwork
    "dsterf": "iww",  # n, d, e
}
_C_TYPES = {"char *": "c", "int *": "i"}


def _argtype(kind: str) -> Any:
    if kind == "c":
        return ctypes.c_char_p
    if kind == "i":
        return ctypes.POINTER(ctypes.c_int)
    flags = ["F_CONTIGUOUS", "ALIGNED"] + (["WRITEABLE"] if kind == "w" else [])
    return np.ctypeslib.ndpointer(dtype=np.float64, flags=flags)


@functools.cache
def _routine(name: str) -> Callable[..., None]:
    """ctypes function of LAPACK routine ``name``; called only by the checked wrappers below."""
    try:
        from scipy.linalg import cython_lapack

        expected = _SIGNATURES[name]
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
    kinds = "".join(_C_TYPES.get(a, "d" if a.endswith("_d *") else "?") for a in arguments)
    expected_kinds = expected.replace("w", "d").replace("r", "d") + "i"
    if not signature.startswith("void ") or kinds != expected_kinds or not address:
        raise LapackUnavailable(f"unexpected signature for {name}: {signature}")
    return ctypes.CFUNCTYPE(None, *(_argtype(k) for k in expected + "i"))(address)


def _int(value: int) -> Any:
    return ctypes.byref(ctypes.c_int(value))


def _uplo(routine: str, uplo: Any) -> bytes:
    if not isinstance(uplo, str):
        raise TypeError(f"{routine}: uplo must be the string 'U' or 'L', got {type(uplo).__name__}")
    if uplo not in ("U", "L"):
        raise ValueError(f"{routine}: uplo must be 'U' or 'L', got {uplo!r}")
    return uplo.encode()


def _float64_array(routine: str, name: str, x: Any, ndim: int, *, written: bool) -> np.ndarray:
    """``x`` if it is an aligned, contiguous, native float64 array of ``ndim`` dimensions."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{routine}: {name} must be a numpy float64 array, got {type(x).__name__}")
    if x.dtype != np.dtype(np.float64) or not x.dtype.isnative:
        raise TypeError(f"{routine}: {name} must be native float64, got dtype {x.dtype.str}")
    if x.ndim != ndim:
        raise ValueError(f"{routine}: {name} must be {ndim}-D, got shape {x.shape}")
    if not x.flags.f_contiguous:
        layout = "column-major (Fortran-ordered)" if ndim == 2 else "contiguous"
        raise ValueError(f"{routine}: {name} must be {layout}, got strides {x.strides}")
    if not x.flags.aligned:
        raise ValueError(f"{routine}: {name} must be aligned to 8 bytes")
    if written and not x.flags.writeable:
        raise ValueError(f"{routine}: {name} must be writeable (LAPACK overwrites it)")
    if any(s > _INT_MAX for s in x.shape):
        raise ValueError(f"{routine}: {name} has shape {x.shape}, beyond LAPACK's 32-bit int sizes")
    return x


def _matrix(routine: str, name: str, a: Any, *, written: bool = True) -> tuple[int, int]:
    """(n, lda) of the column-major (lda, n) matrix ``a``, whose leading n x n block LAPACK uses."""
    lda, n = _float64_array(routine, name, a, 2, written=written).shape
    if n < 1:
        raise ValueError(f"{routine}: {name} must have at least one column (order n >= 1), got shape {a.shape}")
    if lda < n:
        raise ValueError(f"{routine}: {name} has {lda} rows for {n} columns; need lda = rows >= n = columns")
    return n, lda


def _apart(routine: str, **arrays: np.ndarray) -> None:
    """Raise if two of ``arrays`` (at least one of them written by LAPACK) may share memory."""
    items = list(arrays.items())
    for i, (name, x) in enumerate(items):
        for other, y in items[i + 1 :]:
            if np.may_share_memory(x, y):
                raise ValueError(f"{routine}: {name} and {other} overlap in memory")


def _info(routine: str, info: ctypes.c_int) -> int:
    if info.value < 0:  # an illegal argument: the checks above should make this impossible
        raise ValueError(f"{routine}: LAPACK rejected argument {-info.value}")
    return info.value


def dpotrf(uplo: str, a: np.ndarray) -> int:
    """Cholesky factor, in place, of the leading n x n block of the (lda, n) column-major ``a``.

    Returns LAPACK's ``info``: 0, or k > 0 when the leading minor of order k is not positive
    definite.
    """
    flag = _uplo("dpotrf", uplo)
    n, lda = _matrix("dpotrf", "a", a)
    info = ctypes.c_int(0)
    _routine("dpotrf")(flag, _int(n), a, _int(lda), ctypes.byref(info))
    return _info("dpotrf", info)


def dsygst(itype: int, uplo: str, a: np.ndarray, b: np.ndarray) -> int:
    """Reduce a generalised symmetric-definite problem to standard form, overwriting ``a``.

    ``a`` (lda, n) and ``b`` (ldb, n), column-major, the same n; ``b`` holds the Cholesky
    factor from :func:`dpotrf` with the same ``uplo`` and is only read. ``itype`` 1, 2 or 3 as
    in LAPACK (2: A <- L^T A L for B = L L^T). Returns ``info`` (0).
    """
    if isinstance(itype, bool) or not isinstance(itype, (int, np.integer)):
        raise TypeError(f"dsygst: itype must be the int 1, 2 or 3, got {type(itype).__name__}")
    if itype not in (1, 2, 3):
        raise ValueError(f"dsygst: itype must be 1, 2 or 3, got {itype}")
    flag = _uplo("dsygst", uplo)
    n, lda = _matrix("dsygst", "a", a)
    nb, ldb = _matrix("dsygst", "b", b, written=False)
    if nb != n:
        raise ValueError(f"dsygst: a and b must have the same order n (columns), got {n} and {nb}")
    _apart("dsygst", a=a, b=b)
    info = ctypes.c_int(0)
    _routine("dsygst")(_int(int(itype)), flag, _int(n), a, _int(lda), b, _int(ldb), ctypes.byref(info))
    return _info("dsygst", info)


def dsytrd(uplo: str, a: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Householder reduction of the symmetric ``a`` (lda, n) to tridiagonal form, in place.

    Returns ``(info, d, e, tau)``: the diagonal (n), the off-diagonal (n - 1, at least one
    element) and the reflector scalars (likewise), all allocated here, as is the workspace (of
    the size LAPACK's query asks for).
    """
    flag = _uplo("dsytrd", uplo)
    n, lda = _matrix("dsytrd", "a", a)
    diag, off, tau, work = np.empty(n), np.empty(max(n - 1, 1)), np.empty(max(n - 1, 1)), np.empty(1)
    info = ctypes.c_int(0)
    function = _routine("dsytrd")
    function(flag, _int(n), a, _int(lda), diag, off, tau, work, _int(-1), ctypes.byref(info))
    _info("dsytrd", info)
    lwork = max(int(work[0]), 1)
    if lwork > _INT_MAX:
        raise ValueError(f"dsytrd: workspace of {lwork} doubles asked for, beyond LAPACK's 32-bit ints")
    work = np.empty(lwork)
    function(flag, _int(n), a, _int(lda), diag, off, tau, work, _int(lwork), ctypes.byref(info))
    return _info("dsytrd", info), diag, off, tau


def dsterf(d: np.ndarray, e: np.ndarray) -> int:
    """Eigenvalues, in place in ``d`` (n), of the symmetric tridiagonal matrix (d, e).

    ``e`` holds the n - 1 off-diagonal elements (it may be longer) and is destroyed. Returns
    ``info``: 0, or > 0 when the iteration did not converge.
    """
    n = _float64_array("dsterf", "d", d, 1, written=True).size
    m = _float64_array("dsterf", "e", e, 1, written=True).size
    if n < 1:
        raise ValueError("dsterf: d must hold at least one element (order n >= 1)")
    if m < n - 1:
        raise ValueError(f"dsterf: e must hold n - 1 = {n - 1} elements for {n} in d, got {m}")
    _apart("dsterf", d=d, e=e)
    info = ctypes.c_int(0)
    _routine("dsterf")(_int(n), d, e, ctypes.byref(info))
    return _info("dsterf", info)


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
    if rows < 0 or columns < 0:
        raise ValueError(f"cannot allocate a ({rows}, {columns}) array")
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or rows * columns == 0:
        return np.empty((rows, columns), order="F")
    buffer = mmap.mmap(-1, rows * columns * 8, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.ndarray((rows, columns), dtype=np.float64, buffer=buffer, order="F")


def padded_copy(a: np.ndarray) -> np.ndarray:
    """Column-major (leading_dimension(n), m) float64 copy of the (n, m) array ``a`` in its first n rows."""
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise ValueError(f"padded_copy: expected a 2-D numpy array, got {getattr(a, 'shape', type(a).__name__)}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"padded_copy: expected real numbers, got dtype {a.dtype}")
    out = _fresh_columns(leading_dimension(a.shape[0]), a.shape[1])
    out[: a.shape[0]] = a
    return out
