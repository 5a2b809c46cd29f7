"""FID, KID and precision/recall/density/coverage between two sets of samples: ``gandiag fid``.

The torch-fidelity / clean-fid job in one call: two folders of images (or ``.npy``/``.npz``
sample files), the extractor chosen by the images' shape (:func:`gandiag.features.choice.choose_extractor`),
the reference side's features taken from the content-hashed feature cache
(:mod:`gandiag.features.cache`) when it holds them, then

* ``fid``: Frechet distance of the Gaussians fitted to the two feature sets (Heusel et al. 2017;
  :func:`gandiag.metrics.fid`);
* ``kid``: unbiased MMD² with the kernel (x·y/d + 1)³ over 100 seeded subsets of
  min(1000, n_generated, n_reference) (Binkowski et al. 2018; :func:`gandiag.metrics.kid`);
* ``precision``, ``recall`` (k = 3; Kynkaanniemi et al. 2019), ``density``, ``coverage``
  (k = 5; Naeem et al. 2020) (:func:`gandiag.metrics.prdc`),

each with the reference's features as ``real`` (first argument), exactly as those functions give
them on the same features. ``n`` draws a seeded subset without replacement from each side
(``numpy.random.default_rng(SeedSequence([seed, side]))``, side 0 generated, 1 reference); by
default every sample is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GandiagInputError
from ..metrics import fid, kid, prdc
from .choice import choose_extractor

__all__ = ["FeatureStatistics", "KID_SUBSET", "feature_statistics", "load_samples"]

KID_SUBSET = 1000
COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class FeatureStatistics:
    """The six statistics (``values``), the extractor, the sizes used and any ``notes``."""

    values: dict[str, float]
    extractor: str
    n_generated: int
    n_reference: int
    seed: int
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the six values, then extractor, sizes, seed and notes."""
        return {**self.values, "extractor": self.extractor, "n_generated": self.n_generated,
                "n_reference": self.n_reference, "seed": self.seed, "notes": list(self.notes)}

    def line(self) -> str:
        """One line: ``fid 1.234 kid 0.00123 precision ... (digits features, 500 vs 898 samples)``."""
        values = " ".join(f"{k} {self.values[k]:.6g}" for k in COLUMNS)
        return f"{values} ({self.extractor} features, {self.n_generated} generated vs {self.n_reference} reference)"


def load_samples(path: str | os.PathLike, *, n: int | None = None, seed: int = 0) -> np.ndarray:
    """The samples in ``path``: a folder of images (scaled to [-1, 1]), a ``.npy``/``.npz`` array, or
    a reference name (``digits``: its 1797 images; ``ring8`` and the other samplers: ``n`` samples,
    default 10,000, drawn with ``seed``).

    Errors are one line naming the path (a corrupt image: that file).
    """
    from .._arrays import check_samples
    from ..references import REFERENCE_NAMES, reference, stored_samples
    from ..sample_files import load_array_file, load_image_folder
    from ..schema import DEFAULT_N

    p = Path(path)
    if str(path) in REFERENCE_NAMES and not p.exists():
        ref = reference(str(path))
        x = ref.data if stored_samples(ref) is not None else ref.sample(n or DEFAULT_N, seed=seed)
        return x.numpy().astype(np.float32, copy=False)
    if p.is_dir():
        arr = load_image_folder(p)
    elif p.is_file() and p.suffix.lower() in (".npy", ".npz"):
        arr = load_array_file(p)
    elif not p.exists():
        raise GandiagInputError(f"{p}: no such file or folder, nor a reference name ({', '.join(REFERENCE_NAMES)})")
    else:
        raise GandiagInputError(f"{p}: give a folder of images (PNG, JPEG, ...), a .npy/.npz array of samples "
                                f"or a reference name ({', '.join(REFERENCE_NAMES)})")
    check_samples(arr, p)
    return np.asarray(arr, dtype=np.float32)


def _subset(x: np.ndarray, n: int | None, seed: int, side: int, name: str) -> np.ndarray:
    if n is None:
        return x
    if n > len(x):
        raise GandiagInputError(f"--n {n}: {name} holds {len(x)} samples; use --n {len(x)} or less")
    rng = np.random.default_rng(np.random.SeedSequence([seed, side]))
    return x[np.sort(rng.permutation(len(x))[:n])]


def feature_statistics(
    generated: Any,
    reference: Any,
    *,
    n: int | None = None,
    seed: int = 0,
    inception_weights: str | os.PathLike | None = None,
    cache: Any = True,
) -> FeatureStatistics:
    """FID, KID, precision, recall, density and coverage of ``generated`` against ``reference``.

    Parameters
    ----------
    generated, reference : path or array_like
        A folder of images, a ``.npy``/``.npz`` file, or an array (n, d) / (n, C, H, W) (images in
        [-1, 1]); both sides must have the same sample shape.
    n : int, optional
        Samples per side: a seeded subset of each (default: all of them).
    seed : int, default 0
        Seed of the subsets and of KID's subsets.
    inception_weights : path, optional
        Inception weights file, for images other than 8x8 grey ones (default ``$GANDIAG_INCEPTION_WEIGHTS``).
    cache : bool or FeatureCache, default True
        The feature cache for the reference side (``False``: compute every time).

    Returns
    -------
    FeatureStatistics
        ``values`` with the six numbers, as :func:`gandiag.metrics.fid`, :func:`~gandiag.metrics.kid`
        (``subset_size`` = min(1000, sizes), ``seed``) and :func:`~gandiag.metrics.prdc` give them on
        (reference features, generated features).

    Raises
    ------
    GandiagInputError
        Unreadable input (naming the file), shapes that differ, n larger than a side, fewer than
        two samples, or no extractor for these images (the message says how to fix it).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> stats = feature_statistics(rng.normal(size=(200, 2)), rng.normal(size=(300, 2)), cache=False)
    >>> stats.extractor, stats.n_generated, stats.n_reference, bool(stats.values["fid"] < 0.1)
    ('identity', 200, 300, True)
    """
    from . import extract_features, get_extractor

    names = ("generated", "reference")
    sides = [load_samples(x, n=n, seed=seed) if isinstance(x, (str, os.PathLike)) else np.asarray(x, dtype=np.float32)
             for x in (generated, reference)]
    labels = [str(x) if isinstance(x, (str, os.PathLike)) else f"the {names[i]} samples"
              for i, (x) in enumerate((generated, reference))]
    if sides[0].shape[1:] != sides[1].shape[1:]:
        raise GandiagInputError(f"{labels[0]} has samples of shape {sides[0].shape[1:]} but {labels[1]} of shape "
                                f"{sides[1].shape[1:]}; compare samples of one shape")
    sides = [_subset(x, n, seed, i, labels[i]) for i, x in enumerate(sides)]
    for x, label in zip(sides, labels):
        if len(x) < 2:
            raise GandiagInputError(f"{label}: {len(x)} sample(s); FID and KID need at least 2 per side")
    name = choose_extractor(sides[0].shape[1:], weights=inception_weights).require()
    extractor = get_extractor(name, **({"weights": inception_weights} if name == "inception" else {}))
    fake = extract_features(sides[0], extractor)
    real = extract_features(sides[1], extractor, cache=cache if name != "identity" else None)
    subset = min(KID_SUBSET, len(fake), len(real))
    notes = [f"KID on subsets of {subset} (fewer than {KID_SUBSET} samples)"] if subset < KID_SUBSET else []
    values = {"fid": fid(real, fake), "kid": kid(real, fake, subset_size=subset, seed=seed)}
    values.update({k: float(v) for k, v in prdc(real, fake).items()})
    return FeatureStatistics(values=values, extractor=name, n_generated=len(fake), n_reference=len(real),
                             seed=int(seed), notes=notes)
