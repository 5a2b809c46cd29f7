"""Synthetic conditional generators with known defects (tests of issue 13): truths built in the test.

``ToyConditional(reference, defect)`` is a module ``(z, y) -> x`` with ``latent_dim = 3`` and
``n_classes = K``: asked for class y it draws class k(y) of the reference with its true variety,
where by defect

* ``perfect``: k = y;
* ``ignored``: k uniform from z (the whole mixture, whatever y says);
* ``shifted``: k = (y + 1) mod K (class confusion: depends on y perfectly);
* ``collapsed``: k = y, but class 2 always the same point (its mode's first sample);
* ``missing``: k = y, but asked for 5 it draws class 4 (class 5 never comes out).

For ``ring8``/``grid25`` class k is the mixture's component k; for ``digits`` it is the real images of
digit k (the first ``M`` of each class, drawn by an index from z).
"""

from __future__ import annotations

import numpy as np
import torch

import gandiag
from gandiag.references import _digits_arrays

DEFECTS = ("perfect", "ignored", "shifted", "collapsed", "missing")


class ToyConditional(torch.nn.Module):
    def __init__(self, reference: str, defect: str) -> None:
        super().__init__()
        assert defect in DEFECTS
        self.defect = defect
        self.latent_dim = 3
        ref = gandiag.reference(reference)
        self.n_classes = int(ref.n_modes)
        self.images = reference == "digits"
        if self.images:
            data, labels = _digits_arrays()
            per = [data[labels == k] for k in range(10)]
            m = min(len(p) for p in per)
            self.register_buffer("bank", torch.stack([p[:m] for p in per]))  # (10, m, 1, 8, 8)
        else:
            self.register_buffer("centres", ref.centres.clone())
            self.std = float(ref.std)

    def _class(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k_all = self.n_classes
        if self.defect == "ignored":
            return torch.clamp((torch.special.ndtr(z[:, 0]) * k_all).long(), 0, k_all - 1)
        if self.defect == "shifted":
            return (y + 1) % k_all
        if self.defect == "missing":
            return torch.where(y == 5, torch.full_like(y, 4), y)
        return y

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k = self._class(z, y)
        keep = torch.ones_like(z[:, 0])
        if self.defect == "collapsed":
            keep = (y != 2).to(z.dtype)
        if self.images:
            m = self.bank.shape[1]
            idx = torch.clamp((torch.special.ndtr(z[:, 1]) * m).long(), 0, m - 1)
            idx = (idx.to(z.dtype) * keep).long()  # the collapsed class: always its first image
            return self.bank[k, idx]
        return self.centres[k] + self.std * z[:, 1:3] * keep[:, None]


def draw(module: ToyConditional, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples with balanced requested labels y_i = i mod K (a seeded shuffle), as numpy."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % module.n_classes
    y = y[torch.randperm(n, generator=g)]
    z = torch.randn(n, module.latent_dim, generator=g)
    with torch.no_grad():
        x = module(z, y)
    return x.numpy(), y.numpy()


def labelled_reference(reference: str, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real samples and their true classes."""
    ref = gandiag.reference(reference)
    x, y = ref.draw(n, torch.Generator().manual_seed(seed))
    return x.numpy(), y.numpy()
