"""torch-fidelity adapters: gandiag's extractors registered in its feature-extractor registry.

After :func:`register`, ``torch_fidelity.calculate_metrics(input1=..., input2=...,
feature_extractor="gandiag-digits", ...)`` (or ``gandiag-identity``, ``gandiag-inception``)
computes its metrics on gandiag's features. Inputs are torch Datasets of samples as gandiag
takes them (floats in [-1, 1]; uint8 images for ``gandiag-inception``, as torch-fidelity's own
Inception). Each provides one feature layer, ``"features"`` (``"2048"`` etc. for the Inception).
"""

from __future__ import annotations

from typing import Any

import torch
from torch_fidelity import register_feature_extractor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from . import get_extractor
from .inception import InceptionV3

LAYER = "features"


class _Adapter(FeatureExtractorBase):
    """A gandiag extractor behind torch-fidelity's interface (runs on the CPU)."""

    gandiag_name = ""

    def __init__(self, name: str, features_list: list[str], **kwargs: Any) -> None:
        super().__init__(name, features_list)
        weights = kwargs.get("feature_extractor_weights_path")
        options = {"weights": weights} if weights is not None and self.gandiag_name != "identity" else {}
        self.extractor = get_extractor(self.gandiag_name, **options)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return (LAYER,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return LAYER

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        raise NotImplementedError("gandiag feature extractors are not compiled")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.from_numpy(self.extractor(x.cpu(), batch_size=len(x))),)


class IdentityAdapter(_Adapter):
    gandiag_name = "identity"


class DigitsAdapter(_Adapter):
    gandiag_name = "digits"


NAMES = {"gandiag-identity": IdentityAdapter, "gandiag-digits": DigitsAdapter, "gandiag-inception": InceptionV3}


def register() -> tuple[str, ...]:
    """Register every adapter not yet registered; returns the torch-fidelity names."""
    for name, cls in NAMES.items():
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)
    return tuple(NAMES)
