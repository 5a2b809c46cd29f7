"""Jensen-Shannon divergence from a trained classifier, and the classifier two-sample test.

The GAN connection (Goodfellow et al. 2014, "Generative adversarial nets", NeurIPS, Theorem 1):
for a discriminator D and balanced classes,

    V(D) = E_P log D(x) + E_Q log(1 - D(y)) <= max_D V(D) = -log 4 + 2 JS(P || Q),

with JS(P || Q) = KL(P || M)/2 + KL(Q || M)/2, M = (P + Q)/2, in [0, log 2] nats. Since the
mean binary cross-entropy of D on a balanced set is BCE(D) = -V(D)/2,

    JS_hat = log 2 - BCE_test(D)        (clipped to [0, log 2])

is an estimate of JS from any classifier D, and a *lower bound* in expectation: every D is at
best the optimal one, so a weak or under-trained classifier only lowers the value (the
variational bound of Nguyen, Wainwright & Jordan 2010). To keep it honest the classifier is
trained on one half of both sample sets (with early stopping on a validation split of that
half) and BCE is measured on the other half, so overfitting cannot inflate it.

The same held-out predictions give the classifier two-sample test (C2ST; Lopez-Paz & Oquab
2017, "Revisiting classifier two-sample tests", ICLR): under H0 (P = Q) the number of correct
held-out predictions is Binomial(n_test, 1/2); ``c2st_pvalue`` is the exact one-sided binomial
p-value of the observed accuracy (scipy.stats.binomtest).

Classifier, by kind of data (``classifier="auto"``):

* vectors with d <= 8: a stacked k-nearest-neighbour classifier on a k-d tree
  (:mod:`gandiag.metrics.c2st_knn`), which adapts to the local scale (thin modes of std 0.005 on
  grid25 read 0.58 nats at n = 10,000 where the truth is 0.605; the MLP read 0) and needs no
  optimiser at all;
* other vectors: an MLP (two hidden layers, LeakyReLU) on standardised vectors;
* images (n, C, H, W) of at most 256 values (8 x 8 digits, 3 x 8 x 8 stacked digits): a ridge
  logistic regression on pixel, sorted-pixel and squared-pixel features stacked with k-NN votes
  (:mod:`gandiag.metrics.c2st_pixels`; 0.08 s on 898 digits per side where the conv net took
  6 to 8 s, and it sees pixel noise of std 0.05 that the conv net missed);
* larger images: a small conv net.

Only one classifier is trained per call and every choice it makes (the k-NN vote weights, the
pixel model's weights and stacking, the network's early stopping) uses the training half only,
so the held-out test needs no correction for multiple classifiers. The networks are trained with Adam written out here (the update of
Kingma & Ba 2015, as ``torch.optim.Adam`` computes it): constructing a ``torch.optim`` optimiser
imports ``torch._dynamo``, seconds per process. Deterministic for a given seed (own numpy and torch
RNG streams; the global RNGs are left as they were).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from scipy.stats import binomtest
from torch import nn

from .._arrays import as_2d, to_numpy
from ..errors import GandiagInputError
from ._threads import torch_threads
from .c2st_knn import MAX_DIM as KNN_MAX_DIM
from .c2st_knn import knn_probabilities
from .c2st_pixels import MAX_VALUES as PIXEL_MAX_VALUES
from .c2st_pixels import pixel_probabilities

__all__ = ["js", "c2st", "CLASSIFIERS"]

LOG2 = math.log(2.0)
MIN_STEPS = 600  # optimiser steps before early stopping may end training (see _train)
CLASSIFIERS = ("auto", "knn", "pixels", "network")
SINGLE_THREAD_MAX_FEATURES = 4096  # up to 64 x 64 values per sample: train on one torch thread


def _mlp(d: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )


def _convnet(shape: tuple[int, ...], hidden: int) -> nn.Module:
    """Two convolutions, pooled to 4 x 4, two linear layers; ``shape`` is one image's (C, H, W).

    Images of 7 or 8 pixels a side are 4 x 4 after the strided convolution already: the pooling
    would average single values (the same numbers) and is left out, since on one CPU thread it
    and its gradient took a third of the training time on 8 x 8 digits.
    """
    channels, height, width_px = shape
    width = max(8, hidden // 4)
    already_4x4 = (height + 1) // 2 == 4 and (width_px + 1) // 2 == 4
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Identity() if already_4x4 else nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(2 * width * 16, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )


def _as_pair(real: Any, fake: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both as (n, d) float32, or both as images (n, C, H, W) of the same shape."""
    r = to_numpy(real, name="real", dtype=np.float32)
    f = to_numpy(fake, name="fake", dtype=np.float32)
    if r.ndim == 4 and f.ndim == 4:
        if r.shape[1:] != f.shape[1:]:
            raise GandiagInputError(f"real and fake images have different shapes: {r.shape[1:]} and {f.shape[1:]}")
        return r, f
    r, f = as_2d(r, name="real", dtype=np.float32), as_2d(f, name="fake", dtype=np.float32)
    if r.shape[1] != f.shape[1]:
        raise GandiagInputError(f"real and fake have different dimensions: {r.shape[1]} and {f.shape[1]}")
    return r, f


def _splits(n: int, rng: np.random.Generator, val_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded permutation of range(n) cut into train, validation and test (the second half)."""
    perm = rng.permutation(n)
    n_test = n // 2
    n_val = max(1, int(round(val_fraction * (n - n_test))))
    return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]


def _bce(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    with torch.no_grad():
        logits = net(x).squeeze(1)
        return float(nn.functional.binary_cross_entropy_with_logits(logits, y)), logits


class _Adam:
    """Adam (Kingma & Ba 2015) with torch's defaults (betas 0.9, 0.999, eps 1e-8), written out.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps),
    the arithmetic of ``torch.optim.Adam``'s single-tensor update, without importing
    ``torch.optim`` (whose first optimiser imports ``torch._dynamo``).
    """

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        step_size = self.lr / (1.0 - b1**self.t)
        root_correction = math.sqrt(1.0 - b2**self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1.0 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1.0 - b2)
            p.addcdiv_(m, (v.sqrt() / root_correction).add_(self.eps), value=-step_size)


def _train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor, *,
           seed: int, lr: float, batch_size: int, max_epochs: int, patience: int) -> nn.Module:
    """Adam on the BCE loss; keep the weights with the lowest validation BCE (early stopping).

    Stopping needs ``patience`` epochs without improvement *and* at least :data:`MIN_STEPS`
    optimiser steps in all: on small sets an epoch is a handful of steps, and a classifier that
    has not yet left its initial plateau (thin structures such as a ring of narrow modes) would
    otherwise be stopped at chance level and report JS = 0 for clearly different sets.
    """
    adam = _Adam(list(net.parameters()), lr)
    order = torch.Generator().manual_seed(int(seed))
    best, best_state, waited, steps = math.inf, copy.deepcopy(net.state_dict()), 0, 0
    for _ in range(max_epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            net.zero_grad(set_to_none=True)
            nn.functional.binary_cross_entropy_with_logits(net(x[idx]).squeeze(1), y[idx]).backward()
            adam.step()
            steps += 1
        net.eval()
        loss = _bce(net, x_val, y_val)[0]
        if loss < best - 1e-5:
            best, best_state, waited = loss, copy.deepcopy(net.state_dict()), 0
        else:
            waited += 1
            if waited >= patience and steps >= MIN_STEPS:
                break
    net.load_state_dict(best_state)
    return net.eval()


def _network_test(parts: list[np.ndarray], labels: list[np.ndarray], shape: tuple[int, ...], *, seed: int,
                  hidden: int, **training: Any) -> tuple[float, int]:
    """Train the MLP (vectors) or conv net (images); held-out BCE and number of correct predictions."""
    (x_tr, x_val, x_te), (y_tr, y_val, y_te) = [torch.from_numpy(np.ascontiguousarray(p)) for p in parts], [
        torch.from_numpy(y) for y in labels]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = _convnet(shape, hidden) if len(shape) == 3 else _mlp(shape[0], hidden)
    with torch_threads(1 if math.prod(shape) <= SINGLE_THREAD_MAX_FEATURES else torch.get_num_threads()):
        net = _train(net, x_tr, y_tr, x_val, y_val, seed=seed, **training)
        bce, logits = _bce(net, x_te, y_te)
    return bce, int(((logits > 0).float() == y_te).sum())


def c2st(
    real: Any,
    fake: Any,
    seed: int = 0,
    *,
    hidden: int = 128,
    lr: float = 3e-3,
    batch_size: int = 256,
    max_epochs: int = 300,
    patience: int = 20,
    val_fraction: float = 0.25,
    classifier: str = "auto",
) -> dict[str, float]:
    """Train a classifier real-vs-fake; return ``js`` (nats), ``c2st_accuracy``, ``c2st_pvalue``.

    Classes are balanced by using min(n_real, n_fake) samples of each (a seeded subset). Half of
    them are held out for the estimates, ``val_fraction`` of the rest drives early stopping.
    Also returned: ``n_test`` (held-out samples per class).

    Parameters
    ----------
    real, fake : array_like
        Vectors (n, d), or images (n, C, H, W) of the same shape, numpy arrays or torch tensors;
        at least 8 of each.
    seed : int, default 0
        Seeds the balanced subsets, the train/validation/test split, the initial weights and the
        batch order (own streams: the global RNGs are left as they were).
    hidden : int, default 128
        Width of the classifier's hidden layers.
    lr : float, default 3e-3
        Adam learning rate.
    batch_size : int, default 256
        Training batch size.
    max_epochs : int, default 300
        Most training epochs.
    patience : int, default 20
        Epochs without a lower validation BCE after which training stops (once at least
        ``MIN_STEPS`` optimiser steps are done).
    val_fraction : float, default 0.25
        Share of the training half used for early stopping, in (0, 1).
    classifier : {"auto", "knn", "pixels", "network"}, default "auto"
        ``auto``: the k-NN classifier for vectors with d <= 8, the pixel classifier for images
        of at most 256 values, the network otherwise; ``knn`` (vectors: any d; images are
        flattened), ``pixels`` (images; vectors are read as one-row images) or ``network``
        force one. The network options above do not apply to ``knn`` and ``pixels``, which
        use the whole training half.

    Returns
    -------
    dict of str to float
        ``js``: JS estimate in nats, in [0, log 2]; ``c2st_accuracy``: held-out accuracy;
        ``c2st_pvalue``: one-sided binomial p-value of that accuracy under P = Q; ``n_test``:
        held-out samples per class.

    Raises
    ------
    GandiagInputError
        Fewer than 8 samples in a set, sets of different dimensions or image shapes, NaN or
        infinite values, ``val_fraction`` outside (0, 1), or a classifier option that is not a
        positive integer.

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> from gandiag.metrics import c2st
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [3.0, 0.0]
    >>> out = c2st(real, fake)
    >>> sorted(out)
    ['c2st_accuracy', 'c2st_pvalue', 'js', 'n_test']
    >>> out["n_test"]
    32.0
    >>> out["c2st_accuracy"] > 0.8 and out["c2st_pvalue"] < 1e-3
    True
    >>> 0.0 < out["js"] <= math.log(2)
    True
    """
    r, f = _as_pair(real, fake)
    k = min(len(r), len(f))
    if k < 8:
        raise GandiagInputError(f"js/c2st need at least 8 samples of each set, got {len(r)} real and {len(f)} fake")
    if classifier not in CLASSIFIERS:
        raise GandiagInputError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    if not 0.0 < val_fraction < 1.0:
        raise GandiagInputError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    for name, value in (("hidden", hidden), ("batch_size", batch_size), ("max_epochs", max_epochs), ("patience", patience)):
        if int(value) != value or value < 1:
            raise GandiagInputError(f"{name} must be a positive integer, got {value!r}")
    rng = np.random.default_rng(int(seed))
    r, f = r[rng.permutation(len(r))[:k]], f[rng.permutation(len(f))[:k]]
    parts = [np.concatenate([r[i], f[i]]) for i in _splits(k, rng, val_fraction)]
    labels = [np.concatenate([np.ones(len(i) // 2), np.zeros(len(i) // 2)]).astype(np.float32) for i in parts]
    images = r.ndim == 4
    if not images:  # standardise with training statistics (pooled classes)
        mean, std = parts[0].mean(0), parts[0].std(0)
        std[std == 0] = 1.0
        parts = [(p - mean) / std for p in parts]
    if classifier == "auto":
        if images:
            classifier = "pixels" if math.prod(r.shape[1:]) <= PIXEL_MAX_VALUES else "network"
        else:
            classifier = "knn" if r.shape[1] <= KNN_MAX_DIM else "network"
    if classifier == "network":
        bce, correct = _network_test(parts, labels, r.shape[1:], seed=seed, hidden=hidden, lr=lr,
                                     batch_size=batch_size, max_epochs=max_epochs, patience=patience)
    else:  # the convex classifiers use the whole training half (training and validation parts)
        if classifier == "knn":
            flat = [p.reshape(len(p), -1) for p in parts]
            p = knn_probabilities(np.concatenate(flat[:2]), np.concatenate(labels[:2]), flat[2], rng)
        else:
            shaped = [p.reshape(len(p), -1, 1, p.shape[-1]) if p.ndim == 2 else p for p in parts]
            p = pixel_probabilities(np.concatenate(shaped[:2]), np.concatenate(labels[:2]), shaped[2], rng)
        y_te = labels[2]
        bce = float(-np.mean(y_te * np.log(p) + (1.0 - y_te) * np.log1p(-p)))
        correct = int(((p > 0.5) == (y_te > 0.5)).sum())
    n_test = len(labels[2])
    return {
        "js": float(min(max(LOG2 - bce, 0.0), LOG2)),
        "c2st_accuracy": correct / n_test,
        "c2st_pvalue": float(binomtest(correct, n_test, 0.5, alternative="greater").pvalue),
        "n_test": float(n_test // 2),
    }


def js(real: Any, fake: Any, seed: int = 0, **classifier_options: Any) -> float:
    """Classifier estimate of the Jensen-Shannon divergence in nats, in [0, log 2] (a lower bound).

    ``classifier_options`` are those of :func:`c2st`.

    Parameters
    ----------
    real, fake, seed
        As for :func:`c2st` (same seed, same value).
    **classifier_options
        ``hidden``, ``lr``, ``batch_size``, ``max_epochs``, ``patience``, ``val_fraction``,
        ``classifier``.

    Returns
    -------
    float
        ``log 2 - BCE`` of the classifier on held-out samples, clipped to [0, log 2] (nats).

    Raises
    ------
    GandiagInputError
        As :func:`c2st`.

    Examples
    --------
    Two samples of one distribution score near 0, well-separated ones near log 2 (d = 2: the
    k-NN classifier; ``classifier="network"`` with fewer epochs trains the MLP instead):

    >>> import math
    >>> import numpy as np
    >>> from gandiag.metrics import js
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> same = rng.normal(size=(64, 2))
    >>> far = rng.normal(size=(64, 2)) + [6.0, 0.0]
    >>> 0.0 <= js(real, same) < 0.1 < 0.5 < js(real, far) <= math.log(2)
    True
    >>> 0.5 < js(real, far, classifier="network", max_epochs=50) <= math.log(2)
    True
    """
    return c2st(real, fake, seed, **classifier_options)["js"]
