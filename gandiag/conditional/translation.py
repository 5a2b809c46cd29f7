"""Does a translation generator G: X -> Y use its input? Distance correlation, diversity, cycle error.

* ``input_dependence`` = dCor(x, G(x)), the distance correlation of Szekely, Rizzo & Bakirov
  (2007, "Measuring and testing dependence by correlation of distances", Ann. Statist. 35(6)):
  with a_ij = ||x_i - x_j||, b_ij = ||G(x_i) - G(x_j)||, A and B their double-centred matrices
  (A_ij = a_ij - a_i. - a_.j + a_..), dCov^2 = (1/n^2) sum_ij A_ij B_ij (the V-statistic, eq. 2.8)
  and dCor^2 = dCov^2(x, y) / sqrt(dVar^2(x) dVar^2(y)). It is 0 in the population exactly when
  x and G(x) are independent (whatever the dependence's shape), 1 for a map G(x) = a + b C x with
  C orthogonal (a rotation), and defined as 0 when either variable is constant. Its permutation
  test (Szekely et al., section 4) recomputes dCov^2 with the outputs permuted: p = (1 + #{b :
  dCov_b >= dCov_obs}) / (B + 1); the B permuted distance matrices are gathered in blocks
  (no Python loop over permutations). O(n^2) memory: at most ``max_points`` (500) seeded pairs.
* ``output_diversity`` = E||G(x) - G(x')|| / E||y - y'||: the mean distance between the outputs of
  two independent inputs over that of two independent target samples (pairs: first half against
  second half). About 1 for a map onto the target distribution; 0 for a constant map G(x) = c.
* ``cycle_error`` = mean_i ||F(G(x_i)) - x_i|| / E||x - x'||, and the same for y through G(F(y))
  when the target side is given, averaged over both directions (CycleGAN, Zhu et al. 2017, eq. 2,
  with the L2 distance and normalised by the data's own spread so it is unitless): 0 for a true
  inverse pair, about 1 when F(G(x)) is an unrelated source sample.
* ``map_accuracy`` = share of outputs within ``tolerance`` (3 std of the target's modes) of the true
  image of their input, where the toy task's true map is known.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import to_numpy
from ..errors import GandiagInputError

__all__ = ["cycle_error", "distance_correlation", "input_dependence", "map_accuracy", "output_diversity"]

BLOCK_VALUES = 4_000_000  # entries of the permuted distance matrices gathered per block (32 MB)


def _rows(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x, name=name)
    if arr.ndim < 2 or arr.shape[0] < 2:
        raise GandiagInputError(f"{name}: expected at least 2 samples of shape (n, d) or (n, C, H, W), got {arr.shape}")
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def _paired(x: Any, y: Any, xname: str, yname: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _rows(x, xname), _rows(y, yname)
    if len(a) != len(b):
        raise GandiagInputError(f"{xname} and {yname} must have one row per input: {len(a)} and {len(b)} rows")
    return a, b


def _centred_distances(x: np.ndarray) -> np.ndarray:
    sq = (x * x).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0))
    np.fill_diagonal(d, 0.0)
    return d - d.mean(0, keepdims=True) - d.mean(1, keepdims=True) + d.mean()


def distance_correlation(x: Any, y: Any) -> float:
    """dCor(x, y) in [0, 1] (V-statistic, module docstring); 0 when either side is constant.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> round(distance_correlation(x, 3 * x + 1), 6)
    1.0
    """
    a, b = _paired(x, y, "x", "y")
    A, B = _centred_distances(a), _centred_distances(b)
    vx, vy = float((A * A).mean()), float((B * B).mean())
    scale = max(vx, vy, 1e-300)
    if vx <= 1e-12 * scale or vy <= 1e-12 * scale:
        return 0.0
    return float(np.sqrt(max(float((A * B).mean()), 0.0) / np.sqrt(vx * vy)))


def input_dependence(x: Any, y: Any, *, n_permutations: int = 199, max_points: int = 500,
                     seed: int = 0) -> tuple[float, float]:
    """``(dCor(x, G(x)), permutation p-value)`` on at most ``max_points`` seeded pairs.

    Parameters
    ----------
    x, y : array_like, shape (n, ...)
        The inputs x_i and outputs G(x_i), row i of one paired with row i of the other (vectors or
        images, flattened).
    n_permutations : int, default 199
        B; the smallest possible p-value is 1 / (B + 1).
    max_points : int, default 500
        Pairs used (a seeded subset beyond it): the test holds two n x n distance matrices.
    seed : int, default 0
        Seed of the subset and of the permutations.

    Returns
    -------
    (float, float)
        The distance correlation in [0, 1] and the permutation p-value; ``(0.0, 1.0)`` when either
        side is constant.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(300, 2))
    >>> dep, p = input_dependence(x, x[:, ::-1], n_permutations=99)
    >>> round(dep, 6), p
    (1.0, 0.01)
    """
    a, b = _paired(x, y, "inputs", "outputs")
    if int(n_permutations) < 1:
        raise GandiagInputError(f"n_permutations must be at least 1, got {n_permutations!r}")
    rng = np.random.default_rng(seed)
    if len(a) > max_points:
        keep = np.sort(rng.permutation(len(a))[:max_points])
        a, b = a[keep], b[keep]
    dcor = distance_correlation(a, b)
    A, B = _centred_distances(a), _centred_distances(b)
    if dcor == 0.0:
        return 0.0, 1.0
    n = len(a)
    observed = float((A * B).mean())
    tol = 1e-12 * abs(observed)
    per_block = max(1, BLOCK_VALUES // (n * n))
    exceed, done = 0, 0
    while done < n_permutations:
        m = min(per_block, n_permutations - done)
        perms = rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
        permuted = B[perms[:, :, None], perms[:, None, :]]  # (m, n, n): B with rows and columns permuted
        stats = (permuted * A[None]).mean(axis=(1, 2))
        exceed += int(np.count_nonzero(stats >= observed - tol))
        done += m
    return dcor, (1 + exceed) / (n_permutations + 1)


def _mean_pair_distance(x: np.ndarray) -> float:
    half = len(x) // 2
    return float(np.linalg.norm(x[:half] - x[half:2 * half], axis=1).mean())


def output_diversity(target: Any, outputs: Any) -> float:
    """E||G(x) - G(x')|| / E||y - y'|| (target first): about 1 on target, 0 for a constant map.

    Examples
    --------
    >>> y = np.random.default_rng(0).normal(size=(400, 2))
    >>> output_diversity(y, np.zeros((400, 2)))
    0.0
    """
    t, o = _rows(target, "target"), _rows(outputs, "outputs")
    if t.shape[1] != o.shape[1]:
        raise GandiagInputError(f"target and outputs differ in size per sample: {t.shape[1]} and {o.shape[1]}")
    ref = _mean_pair_distance(t)
    if ref <= 0:
        raise GandiagInputError("target: all samples are equal, output_diversity is undefined")
    return _mean_pair_distance(o) / ref


def _cycle(x: np.ndarray, back: np.ndarray) -> float:
    spread = _mean_pair_distance(x)
    if spread <= 0:
        raise GandiagInputError("cycle_error: the source samples are all equal; the error has no scale")
    return float(np.linalg.norm(back - x, axis=1).mean()) / spread


def cycle_error(source: Any, source_cycled: Any, target: Any | None = None, target_cycled: Any | None = None) -> float:
    """mean ||F(G(x)) - x|| / E||x - x'||, averaged with the y -> G(F(y)) direction when given.

    Parameters
    ----------
    source, source_cycled : array_like, shape (n, ...)
        x and F(G(x)), row by row.
    target, target_cycled : array_like, shape (m, ...), optional
        y and G(F(y)) for the other direction (both or neither).

    Returns
    -------
    float
        0 for a true inverse pair; about 1 when the cycle returns an unrelated sample.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(100, 2))
    >>> cycle_error(x, x)
    0.0
    """
    x, back = _paired(source, source_cycled, "source", "source_cycled")
    errors = [_cycle(x, back)]
    if (target is None) != (target_cycled is None):
        raise GandiagInputError("cycle_error: give both target and target_cycled, or neither")
    if target is not None:
        y, yback = _paired(target, target_cycled, "target", "target_cycled")
        errors.append(_cycle(y, yback))
    return float(np.mean(errors))


def map_accuracy(expected: Any, produced: Any, tolerance: float) -> float:
    """Share of rows of ``produced`` within ``tolerance`` (Euclidean) of the same row of ``expected``.

    Examples
    --------
    >>> map_accuracy(np.zeros((4, 2)), np.array([[0, 0], [0, 0.1], [0, 1], [1, 0]]), 0.5)
    0.5
    """
    e, p = _paired(expected, produced, "expected", "produced")
    if not (isinstance(tolerance, (int, float)) and tolerance > 0):
        raise GandiagInputError(f"map_accuracy: tolerance must be a positive number, got {tolerance!r}")
    return float(np.mean(np.linalg.norm(p - e, axis=1) <= tolerance))
