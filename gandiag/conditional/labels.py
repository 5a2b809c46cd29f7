"""Does the output obey the label? Accuracy, confusion and mutual information of requested vs assigned class.

A class-conditional generator G(z, y) is asked for class y_i and produces x_i; an *assigner* (the
reference's mode assignment in 2-D, the shipped digits classifier for ``digits``) gives x_i a
class a_i. With K classes and the K x K confusion matrix C (rows: requested, columns: assigned,
C_yk = #{i : y_i = y, a_i = k}), n = sum C and p = C / n:

* ``label_accuracy`` = trace(C) / n, the share of samples whose assigned class is the requested
  one (the classifier accuracy of StudioGAN; Odena et al. 2017 for AC-GAN). Chance is the
  accuracy of a generator that ignores y: sum_k P(y = k) P(a = k), 1/K for balanced labels. The
  floor a perfect generator reaches is the assigner's own accuracy on real labelled data.
* ``label_mi`` = I(y; a) = sum_{y,k} p_yk log(p_yk / (p_y. p_.k)) in nats, the plug-in estimate
  (Cover & Thomas 2006, eq. 2.28): 0 when the output ignores the label, log K when the label
  fixes the assigned class. Unlike accuracy it is blind to *which* class comes out, so a generator
  that draws 9s when asked for 4 (class confusion) has accuracy near 0 but MI near log K. The
  plug-in estimate is biased upward by about (K - 1)^2 / (2n) (Miller 1955; Paninski 2003),
  e.g. 0.003 nats for K = 8 at n = 10,000, 0.029 for K = 25.
* the independence p-value: a permutation test of H0 "a is independent of y" with I(y; a) as the
  statistic (Good 2005, "Permutation, Parametric and Bootstrap Tests of Hypotheses", ch. 3):
  p = (1 + #{b : I_b >= I_obs}) / (B + 1), I_b computed after a random permutation of a. The B
  contingency tables are counted in one ``bincount`` per block of permutations (no Python loop
  over permutations), so B = 999 at n = 10,000 takes a fraction of a second.
* ``relabelled_accuracy`` = (1/n) sum_y max_k C_yk: the accuracy of the best class-by-class
  relabelling. Near chance when the output does not depend on the label; near 1 for a generator
  that obeys the label under another name (the shifted-labels case).

Intervals of ``label_mi`` are percentile bootstrap intervals over the (y, a) pairs (Efron &
Tibshirani 1993, ch. 13), counted the same vectorised way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GandiagInputError

__all__ = [
    "chance_accuracy",
    "confusion_matrix",
    "independence_pvalue",
    "label_accuracy",
    "label_mi",
    "label_mi_interval",
    "mutual_information",
    "relabelled_accuracy",
]

#: Values counted per block of permutations or bootstrap resamples (bounds memory at ~16 MB).
BLOCK_VALUES = 2_000_000


def _labels(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if arr.ndim != 1 or arr.size == 0:
        raise GandiagInputError(f"{name}: expected a non-empty 1-D array of class indices, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0)):
            raise GandiagInputError(f"{name}: expected integer class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _pair(requested: Any, assigned: Any, n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    y, a = _labels(requested, "requested labels"), _labels(assigned, "assigned labels")
    if y.shape != a.shape:
        raise GandiagInputError(f"requested and assigned labels differ in length: {len(y)} and {len(a)}")
    k = int(max(y.max(), a.max()) + 1) if n_classes is None else int(n_classes)
    if k < 1:
        raise GandiagInputError(f"n_classes must be a positive integer, got {n_classes!r}")
    for arr, name in ((y, "requested labels"), (a, "assigned labels")):
        if arr.min() < 0 or arr.max() >= k:
            raise GandiagInputError(f"{name}: class indices must be in [0, {k}), got {arr.min()} to {arr.max()}")
    return y, a, k


def confusion_matrix(requested: Any, assigned: Any, n_classes: int | None = None) -> np.ndarray:
    """K x K counts, rows the requested class, columns the assigned class (int64).

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 2).tolist()
    [[1, 1], [0, 2]]
    """
    y, a, k = _pair(requested, assigned, n_classes)
    return np.bincount(y * k + a, minlength=k * k).reshape(k, k)


def label_accuracy(requested: Any, assigned: Any) -> float:
    """Share of samples whose assigned class equals the requested one: trace(C) / n.

    Examples
    --------
    >>> label_accuracy([0, 1, 2, 3], [0, 1, 2, 0])
    0.75
    """
    y, a, _ = _pair(requested, assigned, None)
    return float(np.mean(y == a))


def _mi_of_tables(tables: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) of each K x K count table in ``tables`` (..., K, K)."""
    t = tables.astype(np.float64)
    n = t.sum(axis=(-2, -1), keepdims=True)
    p = t / n
    outer = p.sum(-1, keepdims=True) * p.sum(-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / outer), 0.0)
    return np.maximum(terms.sum(axis=(-2, -1)), 0.0)


def mutual_information(table: Any) -> float:
    """Plug-in I(y; a) in nats of a K x K contingency table (counts).

    Examples
    --------
    >>> round(mutual_information([[5, 0], [0, 5]]), 6) == round(float(np.log(2)), 6)
    True
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or np.any(t < 0) or t.sum() <= 0:
        raise GandiagInputError(f"expected a square table of non-negative counts, got shape {t.shape}")
    return float(_mi_of_tables(t))


def label_mi(requested: Any, assigned: Any, n_classes: int | None = None) -> float:
    """I(requested; assigned) in nats, the plug-in estimate on the confusion matrix (module docstring).

    .. math:: I(y; a) = \\sum_{y,k} p_{yk} \\log \\frac{p_{yk}}{p_{y\\cdot} p_{\\cdot k}}

    Parameters
    ----------
    requested, assigned : array_like of int, shape (n,)
        The class asked for and the class the assigner gave each sample (numpy or torch).
    n_classes : int, optional
        K; default the largest index + 1.

    Returns
    -------
    float
        Mutual information in nats, in [0, log K]; biased upward by about (K - 1)^2 / (2n).

    Raises
    ------
    GandiagInputError
        Labels that are not 1-D integer indices in [0, K), or of different lengths.

    Examples
    --------
    >>> round(label_mi([0, 1, 2, 3] * 10, [1, 2, 3, 0] * 10), 4)  # shifted labels: log 4
    1.3863
    >>> label_mi([0, 1] * 10, [0] * 20)
    0.0
    """
    return mutual_information(confusion_matrix(requested, assigned, n_classes))


def _block_tables(codes_y: np.ndarray, a_blocks: np.ndarray, k: int) -> np.ndarray:
    """Count tables for each row of ``a_blocks`` (B, n) against fixed ``codes_y`` = y * k: (B, k, k)."""
    b = a_blocks.shape[0]
    offsets = (np.arange(b, dtype=np.int64) * k * k)[:, None]
    flat = np.bincount((offsets + codes_y[None, :] + a_blocks).ravel(), minlength=b * k * k)
    return flat.reshape(b, k, k)


def independence_pvalue(requested: Any, assigned: Any, n_classes: int | None = None, *, n_permutations: int = 999,
                        seed: int = 0) -> float:
    """Permutation p-value of "assigned is independent of requested", statistic I(y; a).

    p = (1 + #{b : I_b >= I_obs}) / (B + 1) with B = ``n_permutations`` permutations of the
    assigned labels (seeded: same seed, same p). The smallest possible p is 1 / (B + 1). The
    permuted tables are counted by one ``bincount`` per block of permutations (about 2e6 labels
    per block), never one Python iteration per permutation.

    Parameters
    ----------
    requested, assigned : array_like of int, shape (n,)
        Requested and assigned classes.
    n_classes : int, optional
        K; default the largest index + 1.
    n_permutations : int, default 999
        B, the number of permutations.
    seed : int, default 0
        Seed of the permutations.

    Returns
    -------
    float
        The p-value, in [1 / (B + 1), 1].

    Examples
    --------
    >>> y = np.arange(200) % 4
    >>> independence_pvalue(y, y, n_permutations=99)
    0.01
    """
    y, a, k = _pair(requested, assigned, n_classes)
    if int(n_permutations) < 1:
        raise GandiagInputError(f"n_permutations must be at least 1, got {n_permutations!r}")
    observed = float(_mi_of_tables(np.bincount(y * k + a, minlength=k * k).reshape(k, k)))
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_VALUES // len(y))
    exceed, done = 0, 0
    tol = 1e-12 * max(1.0, observed)  # ties: a permutation equal to the observed table counts
    while done < n_permutations:
        b = min(per_block, n_permutations - done)
        perms = rng.permuted(np.broadcast_to(a, (b, len(a))), axis=1)
        exceed += int(np.count_nonzero(_mi_of_tables(_block_tables(y * k, perms, k)) >= observed - tol))
        done += b
    return (1 + exceed) / (n_permutations + 1)


def label_mi_interval(requested: Any, assigned: Any, n_classes: int | None = None, *, n_boot: int = 200,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of :func:`label_mi`: (y, a) pairs resampled with replacement."""
    y, a, k = _pair(requested, assigned, n_classes)
    if not 0.0 < level < 1.0:
        raise GandiagInputError(f"confidence level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    codes = y * k + a
    per_block = max(1, BLOCK_VALUES // len(y))
    values: list[np.ndarray] = []
    done = 0
    while done < n_boot:
        b = min(per_block, n_boot - done)
        idx = rng.integers(0, len(codes), size=(b, len(codes)))
        offsets = (np.arange(b, dtype=np.int64) * k * k)[:, None]
        tables = np.bincount((offsets + codes[idx]).ravel(), minlength=b * k * k).reshape(b, k, k)
        values.append(_mi_of_tables(tables))
        done += b
    lo, hi = np.quantile(np.concatenate(values), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def relabelled_accuracy(confusion: Any) -> float:
    """(1/n) sum_y max_k C_yk: the accuracy of the best class-by-class relabelling of the output."""
    c = np.asarray(confusion, dtype=np.float64)
    return float(c.max(axis=1).sum() / c.sum())


def chance_accuracy(confusion: Any) -> float:
    """sum_k P(y = k) P(a = k): the accuracy of an output independent of the label, same marginals."""
    c = np.asarray(confusion, dtype=np.float64)
    p = c / c.sum()
    return float(np.sum(p.sum(1) * p.sum(0)))
