"""The ``digits`` feature extractor: penultimate-layer features of gandiag's digits classifier.

The classifier itself (its net, the shipped weights, mode labels) is :mod:`gandiag.digits_classifier`,
which the ``digits`` references use too. A (1, 8, 8) image gives 64 features; a (3, 8, 8)
stacked-digits image the concatenated features of its three channels (192).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..digits_classifier import BATCH, FEATURE_DIM, batched, images, load_digits_classifier

__all__ = ["DigitsExtractor"]


class DigitsExtractor:
    """Penultimate-layer features of the digits classifier (64 per 8x8 channel, float32)."""

    name = "digits"
    version = 1  # bump when preprocessing changes: feature caches key on it

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        self.net, self.meta, self.weights_sha256 = load_digits_classifier(weights)

    def __call__(self, x: Any, *, batch_size: int = BATCH) -> np.ndarray:
        imgs = images(x, channels=(1, 3))
        n, c = imgs.shape[:2]
        flat = imgs.reshape(n * c, 1, 8, 8)  # each channel is one digit (stacked-digits)
        feats = batched(self.net.features, flat, int(batch_size) * c)
        return feats.reshape(n, c * FEATURE_DIM).numpy()

    @staticmethod
    def feature_dim(sample_shape: tuple[int, ...]) -> int:
        """64 features per 8x8 channel."""
        channels = sample_shape[0] if len(sample_shape) == 3 else 1
        return FEATURE_DIM * int(channels)
