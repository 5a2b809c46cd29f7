"""Feature extractors: what FID, KID and precision/recall/density/coverage are computed on.

A small registry maps a name to a factory of extractors. An extractor is a callable
``extractor(x, batch_size=...) -> numpy (n, dim)`` with a ``name``, a ``version`` (bumped when
its preprocessing changes) and the ``weights_sha256`` of its weights file; the last two feed the
feature cache (:mod:`gandiag.features.cache`), which also checks a stored entry's width against
``feature_dim(sample_shape)`` where an extractor has it. Built in:

* ``identity``: the samples themselves, flattened to (n, d), float64 (vector data, 2-D mixtures);
* ``digits``: penultimate layer (64 per 8x8 channel) of gandiag's shipped digits classifier
  (:mod:`gandiag.features.digits`), float32;
* ``inception``: torch-fidelity's ``inception-v3-compat`` pool features (2048), float32, from a
  weights file given by path (``weights=`` or ``GANDIAG_INCEPTION_WEIGHTS``), never downloaded
  (:mod:`gandiag.features.inception`).

:func:`register_torch_fidelity` registers them with torch-fidelity as ``gandiag-identity``,
``gandiag-digits`` and ``gandiag-inception`` so that ``torch_fidelity.calculate_metrics`` runs on
them too. torch-fidelity is imported only then (and by ``inception``).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from .._arrays import as_2d
from ..errors import GandiagInputError

__all__ = [
    "FeatureExtractor",
    "IdentityExtractor",
    "available_extractors",
    "extract_features",
    "get_extractor",
    "register_extractor",
    "register_torch_fidelity",
]


class FeatureExtractor(Protocol):
    """What the registry hands out (duck-typed)."""

    name: str
    version: int
    weights_sha256: str

    def __call__(self, x: Any, *, batch_size: int = ...) -> np.ndarray: ...


class IdentityExtractor:
    """The samples themselves as features: (n, ...) flattened to (n, d), float64."""

    name = "identity"
    version = 1
    weights_sha256 = "none"

    def __call__(self, x: Any, *, batch_size: int = 0) -> np.ndarray:
        del batch_size  # no network: nothing to batch
        return as_2d(x, name="samples")

    @staticmethod
    def feature_dim(sample_shape: tuple[int, ...]) -> int:
        """Features per sample: the sample's size."""
        return int(np.prod(sample_shape)) if sample_shape else 1


def _digits(**options: Any) -> FeatureExtractor:
    from .digits import DigitsExtractor

    return DigitsExtractor(**options)


def _inception(**options: Any) -> FeatureExtractor:
    from .inception import InceptionExtractor

    return InceptionExtractor(**options)


_REGISTRY: dict[str, Callable[..., FeatureExtractor]] = {
    "identity": IdentityExtractor,
    "digits": _digits,
    "inception": _inception,
}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Register ``factory(**options) -> extractor`` under ``name`` (replacing any previous one)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise GandiagInputError(f"feature extractor name must be a non-empty string without spaces around it, got {name!r}")
    _REGISTRY[name] = factory


def available_extractors() -> list[str]:
    """Names of the registered feature extractors."""
    return sorted(_REGISTRY)


def get_extractor(name: str, **options: Any) -> FeatureExtractor:
    """The extractor registered as ``name``, built with ``options`` (e.g. ``weights=PATH``)."""
    if name not in _REGISTRY:
        raise GandiagInputError(f"unknown feature extractor {name!r}: use one of {', '.join(available_extractors())}")
    return _REGISTRY[name](**options)


def extract_features(
    x: Any,
    extractor: str | FeatureExtractor = "identity",
    *,
    batch_size: int | None = None,
    cache: Any = None,
    key: dict[str, Any] | None = None,
    **options: Any,
) -> np.ndarray:
    """Features (n, dim) of samples ``x`` (numpy or torch) with ``extractor`` (a name or object).

    With ``cache`` (a :class:`gandiag.features.cache.FeatureCache`, or ``True`` for the default
    one) the features are looked up by the samples' content hash (or ``key``, see
    :meth:`~gandiag.features.cache.FeatureCache.features`) and stored after a miss.
    ``batch_size``: rows per forward pass (default: the extractor's own).
    """
    ext = get_extractor(extractor, **options) if isinstance(extractor, str) else extractor
    if cache is None or cache is False:
        return ext(x) if batch_size is None else ext(x, batch_size=batch_size)
    from .cache import FeatureCache

    store = FeatureCache() if cache is True else cache
    return store.features(x, ext, batch_size=batch_size, **(key or {}))


def register_torch_fidelity() -> tuple[str, ...]:
    """Register gandiag's extractors with torch-fidelity (idempotent); returns their names there."""
    from ._fidelity import register

    return register()
