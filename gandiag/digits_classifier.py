"""The digits classifier: a small conv net for 8x8 digit images, shared by the ``digits``
references (mode labels) and the ``digits`` feature extractor (:mod:`gandiag.features.digits`).

Trained reproducibly on scikit-learn's bundled digits by ``reference_models/train_digits.py``
(``python -m reference_models.train_digits --out gandiag/data/digits_classifier.pt``) and shipped
as ``gandiag/data/digits_classifier.pt`` (a plain dict of tensors and numbers, loaded with
``torch.load(weights_only=True)``; no download).

* Features: the 64 ReLU activations of the penultimate layer. A (3, 8, 8) stacked-digits image
  gives the concatenated features of its three channels (192).
* Mode labels (:func:`assign_digit_labels`): the argmax class, and *high quality* when the
  largest softmax probability is at least :data:`HQ_THRESHOLD` (0.9). The classifier was also
  taught to spread its probability uniformly on non-digits (noise, blurred noise, blends of two
  digits; "outlier exposure", Hendrycks et al. 2019), so garbage is not confidently a digit.

Images are (n, 1, 8, 8) (or (n, 64), or (n, 3, 8, 8) for features) floats in [-1, 1], the
scaling of ``gandiag.reference('digits')``; numpy or torch.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._arrays import to_numpy
from ._hashing import file_sha256
from .errors import GandiagInputError

__all__ = [
    "DigitsNet",
    "FEATURE_DIM",
    "HQ_THRESHOLD",
    "WEIGHTS_PATH",
    "assign_digit_labels",
    "held_out_mask",
    "load_digits_classifier",
]

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "digits_classifier.pt"
HQ_THRESHOLD = 0.9
FEATURE_DIM = 64
BATCH = 4096  # rows per forward pass; per-sample results do not depend on it (eval mode, no batch norm)


class DigitsNet(nn.Module):
    """conv(1->16) conv(16->32) pool conv(32->64) pool -> fc(256->64) -> fc(64->10); ~40k weights."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(256, FEATURE_DIM), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (n, 64) of images (n, 1, 8, 8)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (n, 10)."""
        return self.head(self.body(x))


def held_out_mask(n: int = 1797) -> np.ndarray:
    """The fixed held-out split of scikit-learn's digits: every fifth image (index % 5 == 4)."""
    return np.arange(n) % 5 == 4


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> tuple[DigitsNet, dict[str, Any], str]:
    del mtime_ns, size  # part of the cache key only: a rewritten file is loaded again
    file = Path(path)
    try:
        blob = torch.load(file, map_location="cpu", weights_only=True)
        net = DigitsNet()
        net.load_state_dict(blob["state_dict"])
    except FileNotFoundError:
        raise GandiagInputError(
            f"{file}: digits classifier weights not found; regenerate them with "
            "`python -m reference_models.train_digits --out gandiag/data/digits_classifier.pt`"
        ) from None
    except Exception as exc:  # not a torch file, wrong keys or shapes
        raise GandiagInputError(f"{file}: not a gandiag digits classifier ({type(exc).__name__}: {exc})") from exc
    net.eval().requires_grad_(False)
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return net, meta, file_sha256(file)


def load_digits_classifier(path: str | os.PathLike | None = None) -> tuple[DigitsNet, dict[str, Any], str]:
    """``(net, metadata, sha256)`` of the shipped classifier (or the file at ``path``), cached."""
    file = Path(path) if path is not None else WEIGHTS_PATH
    try:
        st = file.stat()
    except FileNotFoundError:
        st = None
    return _load(str(file), st.st_mtime_ns if st else -1, st.st_size if st else -1)


def images(x: Any, *, channels: tuple[int, ...] = (1,)) -> torch.Tensor:
    arr = to_numpy(x, name="digit images", dtype=np.float32)
    if arr.ndim == 2 and arr.shape[1] == 64:
        arr = arr.reshape(-1, 1, 8, 8)
    elif arr.ndim == 3 and arr.shape[1:] == (8, 8):
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[2:] != (8, 8) or arr.shape[1] not in channels:
        allowed = " or ".join(f"(n, {c}, 8, 8)" for c in channels)
        raise GandiagInputError(f"digit images: expected shape {allowed} in [-1, 1], got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def batched(fn: Any, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        parts = [fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(parts) if parts else fn(x)


def assign_digit_labels(x: Any, *, weights: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, high_quality)`` for digit images (n, 1, 8, 8) in [-1, 1], numpy or torch.

    ``labels``: int64 argmax class; ``high_quality``: bool, max softmax probability >= 0.9.
    """
    net, meta, _ = load_digits_classifier(weights)
    logits = batched(net, images(x), BATCH)
    prob = torch.softmax(logits.double(), dim=1)
    top, labels = prob.max(dim=1)
    threshold = float(meta.get("hq_threshold", HQ_THRESHOLD))
    return labels.numpy().astype(np.int64), (top >= threshold).numpy()
