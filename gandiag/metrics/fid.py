"""Frechet Inception Distance on features (Heusel et al. 2017, NeurIPS, arXiv:1706.08500).

    FID = ||mu_r - mu_f||^2 + tr(S_r) + tr(S_f) - 2 tr((S_r^{1/2} S_f S_r^{1/2})^{1/2})

with mu the feature means and S the covariances with ddof = 1 (as torch-fidelity and
pytorch-fid; docs/contract.md section 5). "Inception" is historical: the features are whatever the
caller extracted (the samples themselves for vector data, ``gandiag.features`` for images).

Two exact routes, both float64:

* n > d for both sets: the statistics go to :func:`gandiag.metrics.frechet_distance`
  (Cholesky and a symmetric eigenproblem, d x d);
* n <= d for either set (its covariance is singular): the Gram route. With A (n_r - 1, d) such
  that S_r = A^T A (centred samples / sqrt(n_r - 1), the centring's null direction removed, see
  ``_contrasts``) and B likewise, the non-zero eigenvalues of S_r S_f = A^T (A B^T) B are those of
  (A B^T)(A B^T)^T, so tr sqrt(S_r S_f) is the sum of the singular values of the small
  (n_r - 1) x (n_f - 1) matrix A B^T. No d x d factorisation, no jitter, nothing singular to
  invert, and no square root of a round-off eigenvalue.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._arrays import as_2d
from ..errors import GandiagInputError
from .frechet import frechet_distance, nuclear_norm

__all__ = ["fid", "feature_pair", "feature_statistics", "features_2d"]
_ROWS = 4096  # rows per float64 chunk: 50,000 float32 Inception features never become 800 MB copies


def features_2d(x: Any, name: str) -> np.ndarray:
    """(n, d) features; float32 inputs stay float32 (no copy), anything else becomes float64.

    Parameters
    ----------
    x : array_like
        Features (n, d), numpy array or torch tensor; a 1-D array is n features of d = 1 and
        images (n, C, H, W) are flattened.
    name : str
        What ``x`` is, for error messages (``"real"``, ``"fake"``).

    Returns
    -------
    numpy.ndarray
        The (n, d) array, float32 when ``x`` was float32, float64 otherwise.

    Raises
    ------
    GandiagInputError
        An empty array, or NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics.fid import features_2d
    >>> single = np.zeros((4, 3), dtype=np.float32)
    >>> features_2d(single, "real").dtype, features_2d(single, "real") is single
    (dtype('float32'), True)
    >>> out = features_2d([1, 2, 3], "fake")
    >>> out.shape, out.dtype
    ((3, 1), dtype('float64'))
    """
    single = getattr(x, "dtype", None) in (np.float32, torch.float32)
    return as_2d(x, name=name, dtype=np.float32 if single else np.float64)


def feature_pair(real: Any, fake: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`features_2d` of both sets, which must have the same dimension.

    Parameters
    ----------
    real, fake : array_like
        Feature sets (n_r, d) and (n_f, d), numpy arrays or torch tensors.

    Returns
    -------
    real, fake : tuple of numpy.ndarray
        Both as (n, d) arrays (float32 kept, anything else float64).

    Raises
    ------
    GandiagInputError
        Different dimensions, an empty set, or NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics.fid import feature_pair
    >>> r, f = feature_pair(np.zeros((5, 2)), np.ones((3, 2)))
    >>> r.shape, f.shape
    ((5, 2), (3, 2))
    >>> feature_pair(np.zeros((5, 2)), np.ones((3, 4)))
    Traceback (most recent call last):
    ...
    gandiag.errors.GandiagInputError: real and fake have different dimensions: 2 and 4
    """
    r, f = features_2d(real, "real"), features_2d(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise GandiagInputError(f"real and fake have different dimensions: {r.shape[1]} and {f.shape[1]}")
    return r, f


def feature_statistics(features: Any, *, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d), ddof = 1, of an (n, d) feature array (n >= 2).

    Accumulated in float64 over chunks of rows, centred on the mean (two passes).

    Parameters
    ----------
    features : array_like
        Features (n, d), n >= 2, numpy array or torch tensor (float32 is read in float64
        chunks, never copied whole).
    name : str, default "features"
        What ``features`` are, for error messages.

    Returns
    -------
    mu : numpy.ndarray
        Float64 mean, shape (d,).
    sigma : numpy.ndarray
        Float64 covariance with ddof = 1, shape (d, d).

    Raises
    ------
    GandiagInputError
        Fewer than 2 rows, an empty array, or NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics.fid import feature_statistics
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> mu, sigma = feature_statistics(x)
    >>> mu.shape, sigma.shape
    ((3,), (3, 3))
    >>> bool(np.allclose(mu, x.mean(axis=0)) and np.allclose(sigma, np.cov(x, rowvar=False)))
    True
    """
    x = features_2d(features, name)
    _check_two(x, name)
    chunks = [slice(i, i + _ROWS) for i in range(0, len(x), _ROWS)]
    mu = sum(x[c].sum(axis=0, dtype=np.float64) for c in chunks) / len(x)
    cov = np.zeros((x.shape[1], x.shape[1]))
    for c in chunks:
        xc = x[c].astype(np.float64) - mu
        cov += xc.T @ xc
    return mu, cov / (len(x) - 1)


def _check_two(x: np.ndarray, name: str) -> None:
    if len(x) < 2:
        raise GandiagInputError(f"{name}: FID needs at least 2 samples for a covariance, got {len(x)}")


def _contrasts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and A (n - 1, d) with A^T A = the ddof = 1 covariance of ``x``.

    A = C (x - mean) / sqrt(n - 1), C the last n - 1 rows of the Householder reflection that maps
    1/sqrt(n) to e_1: orthonormal rows orthogonal to the all-ones vector. Unlike the n centred
    rows, A has no structural zero singular value (the centring's), so nothing spurious enters
    the square roots.
    """
    n = len(x)
    mu = x.mean(axis=0)
    xc = x - mu
    v = np.full(n, 1.0 / np.sqrt(n))
    v[0] -= 1.0
    reflected = xc - (2.0 / (v @ v)) * np.outer(v, v @ xc)
    return mu, reflected[1:] / np.sqrt(n - 1)


def fid(real: Any, fake: Any) -> float:
    """FID between two feature sets (n_r, d) and (n_f, d), numpy or torch, real first.

    Exact in float64 for any n and d (module docstring); returns a Python float >= 0.

    Parameters
    ----------
    real, fake : array_like
        Feature sets (n_r, d) and (n_f, d), numpy arrays or torch tensors, at least 2 rows each.

    Returns
    -------
    float
        The Frechet distance between the Gaussians with the sets' means and ddof = 1
        covariances, >= 0.

    Raises
    ------
    GandiagInputError
        Fewer than 2 rows in a set, sets of different dimensions, or NaN or infinite values.

    Examples
    --------
    A translation by v leaves the covariances equal, so FID is |v|^2; through the d x d route
    (n > d) and the Gram route (n <= d) alike:

    >>> import numpy as np
    >>> from gandiag.metrics import fid
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(64, 2))
    >>> round(fid(x, x), 6), round(fid(x, x + [3.0, 4.0]), 6)
    (0.0, 25.0)
    >>> wide = rng.normal(size=(5, 10))
    >>> shift = np.zeros(10)
    >>> shift[:2] = [3.0, 4.0]
    >>> round(fid(wide, wide + shift), 6)
    25.0
    """
    r, f = feature_pair(real, fake)
    _check_two(r, "real")
    _check_two(f, "fake")
    if min(len(r), len(f)) > r.shape[1]:
        return frechet_distance(*feature_statistics(r, name="real"), *feature_statistics(f, name="fake"))
    mu_r, a = _contrasts(r.astype(np.float64))
    mu_f, b = _contrasts(f.astype(np.float64))
    diff = mu_r - mu_f
    value = float(diff @ diff + np.sum(a * a) + np.sum(b * b) - 2.0 * nuclear_norm(a @ b.T))
    return max(value, 0.0)
