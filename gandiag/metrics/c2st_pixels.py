"""Classifier for the two-sample test on small images: a convex model on fixed pixel features.

Small images (at most :data:`MAX_VALUES` values, e.g. 8 x 8 digits and 3 x 8 x 8 stacked digits)
are classified real-vs-fake by a ridge logistic regression (one convex fit, L-BFGS to a tight
tolerance; no learning rate, no early stopping) on the features

* ``z``: the pixels, standardised with the training half's mean and standard deviation;
* ``s``: each channel's pixel values *sorted* (the image's intensity quantiles: a contrast,
  brightness or noise defect moves them whatever the digit), standardised likewise;
* ``z**2``: the squared standardised pixels, so that the model compares per-pixel *variances*
  (pixel noise, blur and sharpening change them; a linear model on ``z`` sees only means);
* the stacked k-nearest-neighbour votes of :mod:`gandiag.metrics.c2st_knn` on the raw pixels
  (leave-one-out for training points; smoothed log-odds for k = 1, 2, ..., 32), which carry the
  class structure a per-pixel model misses (a generator that draws one digit class only).

Logistic regression is the maximum-likelihood fit of P(real | x) within its family, so
``log 2 - BCE`` on held-out samples stays the classifier bound on JS of :mod:`gandiag.metrics.js`
(Nguyen, Wainwright & Jordan 2010). The pixel model's raw logits are over-confident on weak
defects (193 weights from ~900 images), which only lowers that bound; so they are recalibrated
and combined with the k-NN votes by a second, stacked logistic regression (Platt 1999; Wolpert
1992)

    P(real | x) = sigmoid(b + a * logit(x) + sum_k w_k z_k(x)),

fitted on *out-of-sample* inputs only: the training half is cut into :data:`FOLDS` seeded folds
and each fold's logits come from a pixel model fitted (and standardised) on the other folds;
the votes z_k of a training image leave that image out. The held-out images then get the logit
of the pixel model fitted on the whole training half and votes from all training images.

Every choice (weights, standardisation, stacking) uses the training half only and the held-out
half is scored once: the exact binomial C2ST on it needs no correction for multiple testing.

Measured on scikit-learn's digits, two random disjoint halves of 898 images (one core, load
0.2 to 0.5): 0.08 s per call where the conv net of :mod:`gandiag.metrics.js` took 6 to 8 s;
pixel noise of std 0.05 (clipped to [-1, 1]): held-out accuracy 0.97 to 0.98 where the conv net
stayed at chance (0.48, 0.51); a generator of one digit class only: 0.94; over 20 seeds of real
against real, ``js`` = 0 every time and the smallest p-value 0.058. The file's first and second
halves (not a random split) differ by writer: accuracy 0.74 (tests/test_c2st_pixels.py).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .c2st_knn import CLIP, KS, _fit_logistic, _log_odds

__all__ = ["MAX_VALUES", "FOLDS", "RIDGE", "pixel_probabilities"]

MAX_VALUES = 256  # images with at most this many values (C * H * W) use this classifier (js.c2st)
FOLDS = 4  # cross-fitting folds for the calibration of the logits
RIDGE = 1e-2  # penalty on the weights of the standardised features (per sample)
STACK_RIDGE = 1e-3  # penalty on the weights of the second level (pixel logit, k-NN votes)
BLOCK_ENTRIES = 1 << 22  # distances held at once by the k-NN search (32 MiB of float64)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _fit(z: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Ridge logistic regression (intercept, column 0, unpenalised) by scipy's L-BFGS-B; deterministic.

    The objective of :func:`gandiag.metrics.c2st_knn._fit_logistic`, whose Newton steps cost
    n d^2 each: on these standardised columns L-BFGS needs 20 to 100 gradients of n d (measured
    on 8 x 8 digits, 193 columns: 0.03 s against 0.07 s; 3 x 8 x 8, 577 columns: 0.05 s against
    0.56 s; logits equal to 5e-3).
    """
    sign, ridge = 2.0 * y - 1.0, np.full(z.shape[1], float(penalty))
    ridge[0] = 0.0

    def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
        t = z @ w
        loss = float(np.mean(np.logaddexp(0.0, -sign * t)) + 0.5 * (ridge * w) @ w)
        return loss, z.T @ (_sigmoid(t) - y) / len(y) + ridge * w

    options = {"maxiter": 2000, "gtol": 1e-7, "ftol": 1e-13}
    return minimize(loss_and_gradient, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options=options).x


def _pixel_features(x: np.ndarray) -> np.ndarray:
    """[pixels, each channel's sorted values, squared pixels] (n, 3 C H W), float64, unstandardised."""
    n, c = x.shape[:2]
    flat = x.reshape(n, -1).astype(np.float64)
    ranked = np.sort(flat.reshape(n, c, -1), axis=2).reshape(n, -1)
    return np.concatenate([flat, ranked, flat * flat], axis=1)


def _design(raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """[1, standardised features]: the columns of the pixel model's logistic regression."""
    return np.concatenate([np.ones((len(raw), 1)), (raw - mean) / std], axis=1)


def _standardiser(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = raw.mean(0), raw.std(0)
    std[std == 0] = 1.0
    return mean, std


def _nearest(train: np.ndarray, points: np.ndarray, k: int, leave_one_out: bool) -> np.ndarray:
    """Indices (m, k) of the ``k`` nearest rows of ``train`` to each row of ``points``, nearest first.

    Brute force: on a few hundred images of 64 or 192 values a k-d tree visits every point anyway
    (measured 0.09 s against 0.01 s). Squared distances |a|^2 + |b|^2 - 2 a.b in float64 (exact
    for the digits' pixels, multiples of 1/8), computed for :data:`BLOCK_ENTRIES` / len(train)
    points at a time so that memory stays bounded at any n. Ties among equal distances are broken
    by ``numpy.argpartition``'s fixed order: the same inputs always give the same neighbours. With
    ``leave_one_out`` the points are the training rows themselves and each skips itself.
    """
    train_sq = (train * train).sum(1)
    rows = max(1, BLOCK_ENTRIES // max(1, len(train)))
    out = np.empty((len(points), k), dtype=np.int64)
    for start in range(0, len(points), rows):
        block = points[start : start + rows]
        d2 = (block * block).sum(1)[:, None] + train_sq[None, :] - 2.0 * (block @ train.T)
        if leave_one_out:
            d2[np.arange(len(block)), start + np.arange(len(block))] = np.inf
        near = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d2, near, axis=1), axis=1, kind="stable")
        out[start : start + len(block)] = np.take_along_axis(near, order, axis=1)
    return out


def _votes(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-NN log-odds (no intercept column): leave-one-out for the training points, plain for the test."""
    k = max(1, min(KS[-1], len(y_train) - 1))
    ks = tuple(j for j in KS if j <= k)
    train = _log_odds(np.cumsum(y_train[_nearest(x_train, x_train, k, True)], axis=1), ks)[:, 1:]
    test = _log_odds(np.cumsum(y_train[_nearest(x_train, x_test, k, False)], axis=1), ks)[:, 1:]
    return train, test


def pixel_probabilities(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """P(real | x) for each image of ``x_test`` from the calibrated pixel-feature model (module docstring).

    Parameters
    ----------
    x_train : numpy.ndarray
        Training images (n, C, H, W), both classes, n >= 2 * :data:`FOLDS`.
    y_train : numpy.ndarray
        Their labels, 1 for real and 0 for fake.
    x_test : numpy.ndarray
        Images (m, C, H, W) to score.
    rng : numpy.random.Generator
        Cuts the training half into the calibration folds.

    Returns
    -------
    numpy.ndarray
        Probabilities in [1e-6, 1 - 1e-6], shape (m,).
    """
    y = np.asarray(y_train, dtype=np.float64)
    flat_train = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    flat_test = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    votes_train, votes_test = _votes(flat_train, y, flat_test)
    raw_train, raw_test = _pixel_features(np.asarray(x_train)), _pixel_features(np.asarray(x_test))

    folds = rng.permutation(len(y)) % FOLDS
    out_of_fold = np.empty(len(y))
    for fold in range(FOLDS):
        fit, held = folds != fold, folds == fold
        mean, std = _standardiser(raw_train[fit])
        w = _fit(_design(raw_train[fit], mean, std), y[fit], RIDGE)
        out_of_fold[held] = _design(raw_train[held], mean, std) @ w
    stack = _fit_logistic(np.column_stack([np.ones(len(y)), out_of_fold, votes_train]), y, STACK_RIDGE)

    mean, std = _standardiser(raw_train)
    w = _fit(_design(raw_train, mean, std), y, RIDGE)
    logits = _design(raw_test, mean, std) @ w
    p = _sigmoid(np.column_stack([np.ones(len(logits)), logits, votes_test]) @ stack)
    return np.clip(p, CLIP, 1.0 - CLIP)
