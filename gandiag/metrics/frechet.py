"""Frechet distance between two Gaussians given by their statistics (the core of FID).

For N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; used for FID by Heusel et al. 2017,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"):

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr( (S1^{1/2} S2 S1^{1/2})^{1/2} ).

The last trace equals sum_i sqrt(lambda_i(S1 S2)). The textbook route (scipy ``sqrtm`` of the
non-symmetric product S1 S2, or torch-fidelity's ``eigvals(S1 S2)``) needs a Schur or a general
eigen decomposition: slow, and round-off pushes it into complex numbers and NaN. Here:

1. factor S1 = L L^T (Cholesky, float64);
2. M = L^T S2 L is symmetric positive semi-definite and *similar* to S1 S2
   (L^{-1} S1 S2 L = L^T S2 L), so it has the same eigenvalues;
3. ``eigvalsh(M)``: real by construction; the tiny negative ones that round-off produces for
   zero eigenvalues are clamped to 0 (they are zero in exact arithmetic), then
   tr sqrt = sum sqrt(lambda_i).

Nothing is inverted, so an ill-conditioned S1 is harmless. Singular covariances (fewer samples
than dimensions, constant or collinear features) take an exact route instead: factor each as
S = W W^T with W = V_r diag(sqrt(w_r)) from ``eigh`` (eigenvalues below d * eps * max are zeros
of the matrix, not data), and use tr sqrt(S1 S2) = sum of the singular values of W1^T W2 (the
eigenvalues of S1 S2 are the squared singular values of W1^T W2). Singular values carry an
absolute error of eps * ||W1|| ||W2||, whereas the square root of an eigenvalue that should be 0
would carry sqrt(eps). No jitter is added by default, because a jitter eps biases the trace by up
to sqrt(eps) per dimension that one covariance lacks; pass ``eps`` to add eps * I to both
covariances the way pytorch-fid's fallback does, when reproducing numbers computed that way.

For FID from samples with fewer samples than dimensions, :func:`gandiag.metrics.fid` avoids the
d x d problem altogether (an exact n x n Gram formulation, see :mod:`gandiag.metrics.fid`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from .._arrays import to_numpy
from ..errors import GandiagInputError
from . import _lapack

__all__ = ["frechet_distance", "generalized_eigenvalues", "nuclear_norm", "trace_sqrt_product"]


def _statistics(mu: Any, sigma: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    m = to_numpy(mu, name=f"mu{name}")
    s = to_numpy(sigma, name=f"sigma{name}")
    if m.ndim != 1 or m.size == 0:
        raise GandiagInputError(f"mu{name}: expected a mean vector of shape (d,), got {m.shape}")
    if s.shape != (m.size, m.size):
        raise GandiagInputError(
            f"sigma{name}: expected a covariance of shape ({m.size}, {m.size}) to match mu{name}, got {s.shape}"
        )
    return m, s


def _psd_factor(s: np.ndarray) -> np.ndarray:
    """W (d, r) with W W^T = s for symmetric PSD ``s``; eigenvalues under d * eps * max are zeros."""
    w, v = np.linalg.eigh(s)
    top = max(float(np.abs(w).max()), np.finfo(np.float64).tiny)
    if w.min() < -1e-6 * top:
        raise GandiagInputError(
            f"covariance is not positive semi-definite (eigenvalue {w.min():.3g} against largest {top:.3g})"
        )
    keep = w > len(w) * np.finfo(np.float64).eps * top
    return v[:, keep] * np.sqrt(w[keep])


def _covariance_pair(sigma1: Any, sigma2: Any) -> tuple[np.ndarray, np.ndarray]:
    """``sigma1``, ``sigma2`` as arrays if both are real square (d, d) with the same d >= 1."""
    s1, s2 = np.asarray(sigma1), np.asarray(sigma2)
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
            raise GandiagInputError(f"{name}: expected a square (d, d) covariance with d >= 1, got shape {s.shape}")
        if s.dtype.kind not in "biuf":
            raise GandiagInputError(f"{name}: expected real numbers, got dtype {s.dtype}")
    if s1.shape != s2.shape:
        raise GandiagInputError(f"sigma1 and sigma2 have different shapes: {s1.shape} and {s2.shape}")
    return s1, s2


def nuclear_norm(m: np.ndarray) -> float:
    """Sum of the singular values of ``m`` (0 for an empty matrix).

    Parameters
    ----------
    m : numpy.ndarray
        A real (p, q) matrix.

    Returns
    -------
    float
        The nuclear (trace) norm of ``m``; 0.0 when ``m`` is empty.

    Examples
    --------
    >>> import numpy as np
    >>> round(nuclear_norm(np.array([[3.0, 0.0], [0.0, -4.0]])), 10)
    7.0
    >>> nuclear_norm(np.zeros((3, 0)))
    0.0
    """
    return float(scipy.linalg.svdvals(m, check_finite=False).sum()) if m.size else 0.0


def sum_sqrt_eigenvalues(eigenvalues: np.ndarray) -> float:
    """sum_i sqrt(max(lambda_i, 0)): negative round-off of zero eigenvalues is clamped.

    Parameters
    ----------
    eigenvalues : numpy.ndarray
        Real eigenvalues lambda_i (any shape).

    Returns
    -------
    float
        The sum of the square roots, negative values counting as 0.

    Examples
    --------
    >>> import numpy as np
    >>> sum_sqrt_eigenvalues(np.array([4.0, 9.0, -1e-17]))
    5.0
    """
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def generalized_eigenvalues(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray | None:
    """Eigenvalues of L^T S2 L where S1 = L L^T (those of S1 S2), or None if S1 is not positive definite.

    The steps of LAPACK ``dsygv`` with ``itype = 2`` (Anderson et al., LAPACK Users' Guide,
    3rd ed., section 2.4.8), called one by one on copies: ``dpotrf`` (S1 = L L^T), ``dsygst``
    (A <- L^T S2 L, using the symmetry of S2: half the flops of two triangular products),
    ``dsytrd`` (Householder reduction to tridiagonal form T = Q^T A Q) and ``dsterf``
    (eigenvalues of T, Pal-Walker-Kahan QL/QR). Bit for bit what ``dsygv`` gives, without what
    its ``dsyev`` adds (a norm pass over the matrix, and scaling when the norm is beyond 1e146
    or below 1e-146: ``dsterf`` scales the tridiagonal itself), and on copies whose columns are
    padded apart (:mod:`gandiag.metrics._lapack`). Only the lower triangles of the inputs are
    read: the transposes of C-ordered inputs are column-major views whose upper triangles are
    the inputs' lower ones, copied straight (a transposing copy costs 0.1 s at d = 2048); the
    upper-triangle variants are also the faster ones here.

    Parameters
    ----------
    sigma1 : numpy.ndarray
        Symmetric (d, d) real matrix S1, d >= 1; only its lower triangle is read.
    sigma2 : numpy.ndarray
        Symmetric (d, d) real matrix S2 of the same d; only its lower triangle is read.

    Returns
    -------
    numpy.ndarray or None
        The d eigenvalues of S1 S2 (float64, ascending), or None when S1 is not
        numerically positive definite (or the eigenvalue iteration did not converge).

    Raises
    ------
    GandiagInputError
        If either input is not a real square matrix, or their shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> generalized_eigenvalues(np.diag([1.0, 4.0]), np.diag([9.0, 1.0]))
    array([4., 9.])
    >>> generalized_eigenvalues(np.diag([1.0, -1.0]), np.eye(2)) is None
    True
    """
    sigma1, sigma2 = _covariance_pair(sigma1, sigma2)
    if sigma1.flags.c_contiguous and sigma2.flags.c_contiguous:
        s1, s2, uplo = sigma1.T, sigma2.T, "U"
    else:
        s1, s2, uplo = sigma1, sigma2, "L"
    try:
        return _eigenvalues_by_steps(s1, s2, uplo)
    except _lapack.LapackUnavailable:
        return _eigenvalues_by_dsygv(s1, s2, uplo)


def _eigenvalues_by_steps(s1: np.ndarray, s2: np.ndarray, uplo: str) -> np.ndarray | None:
    b, a = _lapack.padded_copy(s1), _lapack.padded_copy(s2)
    if _lapack.dpotrf(uplo, b) != 0:  # info > 0: a leading minor is not positive definite
        return None
    if (info := _lapack.dsygst(2, uplo, a, b)) != 0:
        raise RuntimeError(f"LAPACK dsygst failed with info = {info}")
    info, diag, off, _ = _lapack.dsytrd(uplo, a)
    if info != 0:
        raise RuntimeError(f"LAPACK dsytrd failed with info = {info}")
    return diag if _lapack.dsterf(diag, off) == 0 else None  # info > 0: no convergence


def _eigenvalues_by_dsygv(s1: np.ndarray, s2: np.ndarray, uplo: str) -> np.ndarray | None:
    """The same through scipy's wrapper of ``dsygv`` (where scipy's Cython LAPACK is unavailable)."""
    try:
        return scipy.linalg.eigh(s2, s1, lower=uplo == "L", type=2, eigvals_only=True, driver="gv", check_finite=False)
    except np.linalg.LinAlgError:  # sigma1 is not numerically positive definite
        return None


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1^{1/2} S2 S1^{1/2})^{1/2}) = sum sqrt(eig(S1 S2)) for symmetric PSD float64 inputs.

    Through :func:`generalized_eigenvalues` (Cholesky of S1, congruence, symmetric
    eigenvalues). When S1 is not numerically positive definite, or L^T S2 L is numerically
    singular, the exact singular route of the module docstring is taken instead.

    Parameters
    ----------
    sigma1, sigma2 : numpy.ndarray
        Symmetric positive semi-definite (d, d) real matrices with the same d >= 1.

    Returns
    -------
    float
        tr sqrt(S1 S2), the sum of the square roots of the eigenvalues of S1 S2.

    Raises
    ------
    GandiagInputError
        If the inputs are not real square matrices of the same shape, or a covariance on the
        singular route is not positive semi-definite.

    Examples
    --------
    >>> import numpy as np
    >>> round(trace_sqrt_product(np.diag([1.0, 4.0]), np.diag([9.0, 1.0])), 10)
    5.0
    >>> u = np.array([1.0, 2.0, 2.0])  # rank one: the singular route, tr sqrt = |u . u|
    >>> round(trace_sqrt_product(np.outer(u, u), np.outer(u, u)), 10)
    9.0
    """
    sigma1, sigma2 = _covariance_pair(sigma1, sigma2)
    d = len(sigma1)
    w = generalized_eigenvalues(sigma1, sigma2)
    if w is not None and w.min() > d * np.finfo(np.float64).eps * max(float(w.max()), 0.0):
        return sum_sqrt_eigenvalues(w)
    return nuclear_norm(_psd_factor(sigma1).T @ _psd_factor(sigma2))


def _trace_sqrt_product_on(device: Any, sigma1: np.ndarray, sigma2: np.ndarray) -> float | None:
    """The Cholesky route in float64 with torch on ``device``; None when it does not apply."""
    import torch

    a = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    low, info = torch.linalg.cholesky_ex(a)
    if int(info) != 0:
        return None
    w = torch.linalg.eigvalsh(low.T @ torch.as_tensor(sigma2, dtype=torch.float64, device=device) @ low)
    w = w.cpu().numpy()
    return sum_sqrt_eigenvalues(w) if w.min() > len(w) * np.finfo(np.float64).eps * max(float(w.max()), 0.0) else None


def frechet_distance(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, *, eps: float | None = None, device: Any = None
) -> float:
    """Frechet distance d^2 between N(mu1, sigma1) and N(mu2, sigma2), as a Python float.

    ``mu`` are (d,) means and ``sigma`` (d, d) symmetric covariances (only their lower
    triangles are read), numpy or torch; computed in float64
    through the Cholesky factor of sigma1 and the eigenvalues of L^T sigma2 L (module docstring).
    ``eps``: optional jitter added to both diagonals (pytorch-fid's fallback); default none.
    ``device`` (e.g. ``"cuda"``): run the Cholesky route there with torch, still in float64
    (singular cases come back to the CPU routes). The result is real, finite and >= 0.

    Parameters
    ----------
    mu1, mu2 : array_like
        Means of shape (d,), numpy arrays or torch tensors.
    sigma1, sigma2 : array_like
        Symmetric positive semi-definite covariances of shape (d, d); only their lower
        triangles are read.
    eps : float, optional
        Jitter added to both diagonals (pytorch-fid's fallback); default None, no jitter.
    device : str or torch.device, optional
        Run the Cholesky route there with torch in float64 (e.g. ``"cuda"``); default None,
        the CPU LAPACK route.

    Returns
    -------
    float
        d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), clamped at 0.

    Raises
    ------
    GandiagInputError
        If shapes do not match, values are NaN or infinite, or ``eps`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4.0 * np.eye(2)), 10)
    4.0
    >>> frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3))
    0.0
    """
    m1, s1 = _statistics(mu1, sigma1, "1")
    m2, s2 = _statistics(mu2, sigma2, "2")
    if m1.shape != m2.shape:
        raise GandiagInputError(f"mu1 and mu2 have different dimensions: {m1.size} and {m2.size}")
    if eps is not None:
        if not eps >= 0:
            raise GandiagInputError(f"eps must be a non-negative jitter, got {eps!r}")
        s1 = s1 + eps * np.eye(m1.size)
        s2 = s2 + eps * np.eye(m1.size)
    diff = m1 - m2
    tr_sqrt = _trace_sqrt_product_on(device, s1, s2) if device is not None else None
    tr_sqrt = trace_sqrt_product(s1, s2) if tr_sqrt is None else tr_sqrt
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return max(value, 0.0)
