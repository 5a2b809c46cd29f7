"""Nearest-neighbour classifier for the two-sample test in low dimension (vectors, d <= 8).

A network with one smooth decision function needs many optimiser steps to resolve structure at
several scales at once (25 modes of std 0.005 on a grid of spacing 2 read JS = 0 with the MLP
where the truth is 0.605 nats). A k-nearest-neighbour vote adapts to the local scale by itself:
the k nearest training points of a point on a thin mode *are* on that mode (Cover & Hart 1967;
the k-NN posterior estimate of Fix & Hodges 1951). Which k is best depends on the data, so the
classifier uses several at once and learns how to weigh them:

* a k-d tree (``scipy.spatial.cKDTree``) on the training half, both classes pooled;
* for each point, the number c_k of real points among its k nearest training points, for
  k in :data:`KS` = 1, 2, 4, ..., 32, turned into smoothed log-odds
  z_k = log((c_k + 1/2) / (k - c_k + 1/2));
* a logistic regression P(real | x) = sigmoid(w_0 + sum_k w_k z_k) (a stacked ensemble of
  k-NN estimates; Wolpert 1992, "Stacked generalization"), fitted by Newton's method with a
  small ridge penalty on *leave-one-out* features of (a seeded subset of) the training half:
  each training point's neighbours exclude itself, so the weights see honest, out-of-sample
  votes and shrink noisy small-k votes as much as the data ask.

Everything is chosen on the training half only; the held-out half is scored once, so the
classifier two-sample test on it needs no correction for the choice among k (no multiple
testing). Probabilities are clipped to [1e-6, 1 - 1e-6], so one confident mistake costs a bounded
log loss (the clipped classifier is still a classifier: the JS bound stays a bound).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["KS", "MAX_DIM", "knn_probabilities"]

MAX_DIM = 8  # vectors up to this dimension use this classifier (js.c2st)
KS = (1, 2, 4, 8, 16, 32)  # neighbourhood sizes whose votes are combined
SELECTION_POINTS = 4000  # training points whose leave-one-out votes fit the weights
RIDGE = 1e-3  # penalty on the vote weights (per sample), keeps separable data finite
CLIP = 1e-6
_NEWTON_STEPS = 50


def _log_odds(real_counts: np.ndarray, ks: tuple[int, ...]) -> np.ndarray:
    """z_k = log((c_k + 1/2) / (k - c_k + 1/2)) from cumulative real counts (rows: points)."""
    cols = [np.log((real_counts[:, k - 1] + 0.5) / (k - real_counts[:, k - 1] + 0.5)) for k in ks]
    return np.column_stack([np.ones(len(real_counts))] + cols)


def _penalised_loss(w: np.ndarray, z: np.ndarray, sign: np.ndarray, ridge: float) -> float:
    return float(np.mean(np.logaddexp(0.0, -sign * (z @ w))) + 0.5 * ridge * (w[1:] @ w[1:]))


def _fit_logistic(z: np.ndarray, y: np.ndarray, penalty: float = RIDGE) -> np.ndarray:
    """Ridge logistic regression (intercept, column 0, unpenalised) by damped Newton steps; deterministic."""
    sign = 2.0 * y - 1.0
    ridge = np.full(z.shape[1], float(penalty))
    ridge[0] = 0.0
    w = np.zeros(z.shape[1])
    loss = _penalised_loss(w, z, sign, penalty)
    for _ in range(_NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (z @ w)))  # sigmoid without overflow
        grad = z.T @ (p - y) / len(y) + ridge * w
        hess = (z * (p * (1.0 - p))[:, None]).T @ z / len(y) + np.diag(ridge + 1e-10)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-8:  # backtracking: separable data can make a full step overshoot
            trial = _penalised_loss(w - t * step, z, sign, penalty)
            if trial <= loss:
                break
            t *= 0.5
        else:
            break
        w, previous, loss = w - t * step, loss, trial
        if previous - loss < 1e-12:
            break
    return w


def _counts(tree: cKDTree, y: np.ndarray, points: np.ndarray, k: int, itself: np.ndarray | None) -> np.ndarray:
    """Cumulative real counts among the ``k`` nearest tree points of each of ``points``.

    ``itself``: each point's own index in the tree (-1 when it is not in it), left out of its
    neighbours (leave-one-out); ``None`` for points that are not training points.
    """
    extra = 0 if itself is None else 1
    _, idx = tree.query(points, k=k + extra)
    idx = idx.reshape(len(points), k + extra)
    if itself is not None:
        keep = idx != itself[:, None]
        keep[~(~keep).any(axis=1), -1] = False  # itself not among them (absent, or duplicates): drop the last
        idx = idx[keep].reshape(len(points), k)
    return np.cumsum(y[idx], axis=1)


def knn_probabilities(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """P(real | x) for each row of ``x_test`` from the stacked k-NN classifier (module docstring).

    Parameters
    ----------
    x_train : numpy.ndarray
        Training points (n, d), both classes, standardised by the caller; n >= 2.
    y_train : numpy.ndarray
        Their labels, 1 for real and 0 for fake.
    x_test : numpy.ndarray
        Points (m, d) to score.
    rng : numpy.random.Generator
        Picks the training points whose leave-one-out votes fit the weights (all when there are
        at most :data:`SELECTION_POINTS`).

    Returns
    -------
    numpy.ndarray
        Probabilities in [1e-6, 1 - 1e-6], shape (m,).
    """
    x = np.asarray(x_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64)
    tree = cKDTree(x)
    k = max(1, min(KS[-1], len(y) - 1))
    ks = tuple(j for j in KS if j <= k)
    rows = np.sort(rng.permutation(len(y))[:SELECTION_POINTS])
    w = _fit_logistic(_log_odds(_counts(tree, y, x[rows], k, rows), ks), y[rows])
    z = _log_odds(_counts(tree, y, np.asarray(x_test, dtype=np.float64), k, None), ks)
    p = 0.5 * (1.0 + np.tanh(0.5 * (z @ w)))
    return np.clip(p, CLIP, 1.0 - CLIP)
