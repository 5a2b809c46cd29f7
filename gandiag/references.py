"""Reference distributions (docs/contract.md section 2).

A reference is the distribution a generator is supposed to match. Every reference has

* ``shape``: the shape of one sample, ``(d,)`` for vectors or ``(C, H, W)`` for images;
* ``sample(n, seed) -> torch.Tensor``: ``n`` samples, float32, deterministic in ``seed``;
* ``draw(n, generator)``: the same from a caller's ``torch.Generator`` (used by the trainers),
  returning ``(x, labels)`` where labels are mode indices or ``None``;

and, where the reference has modes, ``n_modes`` and ``assign_modes(x) -> (modes, high_quality)``.

Empirical references (``digits``, files, image folders) draw without replacement when ``n`` is at
most the number of stored samples, and with replacement (with a warning) beyond it.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ._arrays import to_numpy
from .errors import GandiagInputError
from .sample_files import load_array_file, load_image_folder

__all__ = [
    "Reference",
    "GaussianMixture",
    "Digits",
    "StackedDigits",
    "ArrayReference",
    "reference",
    "REFERENCE_NAMES",
]



def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


class Reference:
    """Base class: a distribution gandiag can sample from and compare against."""

    name: str = "reference"
    shape: tuple[int, ...] = ()
    n_modes: int | None = None

    @property
    def is_image(self) -> bool:
        """True for image data (C, H, W), False for vectors (d,)."""
        return len(self.shape) == 3

    @property
    def has_modes(self) -> bool:
        return self.n_modes is not None

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Return ``n`` samples, float32, shape ``(n, *self.shape)``; same seed, same samples."""
        return self.draw(_check_n(n), _generator(seed))[0]

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw ``n`` samples and their mode labels (or ``None``) from ``generator``."""
        raise NotImplementedError

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(modes, high_quality)``: an int mode index and a bool mask per sample."""
        raise GandiagInputError(
            f"reference {self.name!r} has no modes; mode metrics use NDB bins instead"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, shape={self.shape}, n_modes={self.n_modes})"


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise GandiagInputError(f"n must be a positive integer, got {n!r}")
    return int(n)


class GaussianMixture(Reference):
    """Equal-weight mixture of isotropic Gaussians with a common standard deviation.

    p(x) = (1/K) sum_k N(x; c_k, std^2 I). A sample is *high quality* when it lies within
    ``hq_radius`` standard deviations (Euclidean) of its nearest centre; in 2-D a perfect
    sample is high quality with probability 1 - exp(-hq_radius^2 / 2) (0.9889 for 3 std),
    the protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018).
    """

    def __init__(self, name: str, centres: Any, std: float, hq_radius: float = 3.0) -> None:
        self.name = name
        self.centres = torch.as_tensor(np.asarray(centres, dtype=np.float32))
        self.std = float(std)
        self.hq_radius = float(hq_radius)
        self.n_modes = int(self.centres.shape[0])
        self.shape = (int(self.centres.shape[1]),)

    @property
    def weights(self) -> np.ndarray:
        return np.full(self.n_modes, 1.0 / self.n_modes)

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        k = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, self.shape[0], generator=generator)
        return self.centres[k] + self.std * noise, k

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centre and ``distance <= hq_radius * std`` for each row of ``x`` (n, d)."""
        pts = to_numpy(x, name="samples").reshape(len(x), -1)
        if pts.shape[1] != self.shape[0]:
            raise GandiagInputError(
                f"{self.name}: samples have dimension {pts.shape[1]}, expected {self.shape[0]}"
            )
        centres = self.centres.double().numpy()
        modes = np.empty(len(pts), dtype=np.int64)
        dist = np.empty(len(pts))
        for start in range(0, len(pts), 65536):  # bounded memory: block x K distances
            block = pts[start : start + 65536]
            d2 = ((block[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
            modes[start : start + len(block)] = d2.argmin(1)
            dist[start : start + len(block)] = np.sqrt(d2.min(1))
        return modes, dist <= self.hq_radius * self.std

    def log_prob(self, x: Any) -> np.ndarray:
        """Exact log density log p(x) in nats, for analytic checks of divergence estimates."""
        pts = to_numpy(x, name="samples").reshape(len(x), -1)
        centres = self.centres.double().numpy()
        d = pts.shape[1]
        d2 = ((pts[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        log_comp = -0.5 * d2 / self.std**2 - d * math.log(self.std) - 0.5 * d * math.log(2 * math.pi)
        m = log_comp.max(1, keepdims=True)
        return (m[:, 0] + np.log(np.exp(log_comp - m).mean(1)))


def ring8() -> GaussianMixture:
    """8 Gaussians on a circle of radius 2, std 0.02 (docs/contract.md section 2)."""
    angles = 2 * np.pi * np.arange(8) / 8
    return GaussianMixture("ring8", np.stack([2 * np.cos(angles), 2 * np.sin(angles)], 1), 0.02)


def grid25() -> GaussianMixture:
    """25 Gaussians on the grid {-4,-2,0,2,4}^2, std 0.05 (docs/contract.md section 2)."""
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return GaussianMixture("grid25", [(i, j) for i in axis for j in axis], 0.05)


class _Empirical(Reference):
    """A reference given by a finite set of stored samples (and optional labels)."""

    def __init__(self, name: str, data: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self.name = name
        self.data = data
        self.labels = labels
        self.shape = tuple(int(s) for s in data.shape[1:])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def _indices(self, n: int, generator: torch.Generator, replace: bool) -> torch.Tensor:
        if replace:
            return torch.randint(len(self), (n,), generator=generator)
        return torch.randperm(len(self), generator=generator)[:n]

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` stored samples, without replacement when ``n <= len(self)``, else with it."""
        n = _check_n(n)
        replace = n > len(self)
        if replace:
            warnings.warn(
                f"reference {self.name!r} holds {len(self)} samples; drawing {n} with replacement",
                stacklevel=2,
            )
        return self.data[self._indices(n, _generator(seed), replace)]

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` i.i.d. draws (with replacement) from the stored samples, for training batches."""
        idx = self._indices(n, generator, replace=True)
        return self.data[idx], None if self.labels is None else self.labels[idx]


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # bundled with scikit-learn: no download
    images = torch.as_tensor(bunch.images, dtype=torch.float32) / 16.0 * 2.0 - 1.0
    return images.unsqueeze(1).contiguous(), torch.as_tensor(bunch.target, dtype=torch.int64)


def _digit_classifier() -> Callable[[Any], tuple[np.ndarray, np.ndarray]]:
    try:
        from .digits_classifier import assign_digit_labels
    except ImportError as exc:  # pragma: no cover - present once the feature issue lands
        raise GandiagInputError(
            "mode labels for digits need gandiag's shipped digits classifier (gandiag.digits_classifier)"
        ) from exc
    return assign_digit_labels


class Digits(_Empirical):
    """scikit-learn's bundled 8x8 digits: 1797 images, shape (1, 8, 8), pixels scaled to [-1, 1].

    Modes are the 10 classes as labelled by gandiag's shipped digits classifier.
    """

    n_modes = 10

    def __init__(self) -> None:
        images, labels = _digits_arrays()
        super().__init__("digits", images, labels)

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        return _digit_classifier()(x)


class StackedDigits(Reference):
    """Three independent ``digits`` images stacked as channels: shape (3, 8, 8), 1000 modes.

    The mode of a sample is the class triple 100*c0 + 10*c1 + c2; it is high quality when all
    three channels are (Metz et al. 2017, "Unrolled GANs", stacked MNIST).
    """

    name = "stacked-digits"
    shape = (3, 8, 8)
    n_modes = 1000

    def __init__(self) -> None:
        self.images, self.digit_labels = _digits_arrays()

    def _stack(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx.reshape(-1)].reshape(idx.shape[0], 3, 8, 8)
        lab = self.digit_labels[idx]
        return x, lab[:, 0] * 100 + lab[:, 1] * 10 + lab[:, 2]

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self._stack(torch.randint(len(self.images), (n, 3), generator=generator))

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        arr = to_numpy(x, name="samples", dtype=np.float32)
        if arr.ndim != 4 or arr.shape[1:] != self.shape:
            raise GandiagInputError(f"stacked-digits: samples have shape {arr.shape[1:]}, expected (3, 8, 8)")
        classify = _digit_classifier()
        labels, hq = zip(*(classify(arr[:, c : c + 1]) for c in range(3)))
        modes = labels[0] * 100 + labels[1] * 10 + labels[2]
        return modes.astype(np.int64), hq[0] & hq[1] & hq[2]


class ArrayReference(_Empirical):
    """Real samples from a ``.npy``/``.npz`` file or a folder of images; no modes (NDB bins)."""


def _reference_from_path(path: Path) -> ArrayReference:
    if path.is_dir():
        arr = load_image_folder(path)
    elif path.suffix.lower() in (".npy", ".npz"):
        arr = load_array_file(path)
    else:
        raise GandiagInputError(f"{path}: a reference file must be .npy or .npz, or a folder of images")
    if arr.ndim not in (2, 4) or arr.shape[0] < 2:
        raise GandiagInputError(
            f"{path}: reference samples have shape {arr.shape}; expected (n, d) or (n, C, H, W) with n >= 2"
        )
    data = torch.as_tensor(to_numpy(arr, name=str(path), dtype=np.float32))
    return ArrayReference(str(path), data)


_BUILTIN: dict[str, Callable[[], Reference]] = {
    "ring8": ring8,
    "grid25": grid25,
    "digits": Digits,
    "stacked-digits": StackedDigits,
}
REFERENCE_NAMES = tuple(_BUILTIN)


def reference(name_or_path: str | Path | Reference) -> Reference:
    """Return the reference distribution named ``name_or_path`` (README "Reference distributions").

    Parameters
    ----------
    name_or_path : str, Path or Reference
        ``ring8`` (8 Gaussians on a circle of radius 2, std 0.02), ``grid25`` (25 Gaussians on a
        5 x 5 grid, std 0.05), ``digits`` (scikit-learn's 8x8 digits in [-1, 1]),
        ``stacked-digits`` (three digits as channels); otherwise a path to a ``.npy``/``.npz`` array
        of real samples or a folder of images. A :class:`Reference` is returned as it is.

    Returns
    -------
    Reference
        With ``sample(n, seed)``, ``shape``, and where it has modes ``assign_modes(x)`` (mode index
        and high-quality mask per sample).

    Raises
    ------
    GandiagInputError
        An unknown name, or a path that does not hold usable samples.

    Examples
    --------
    >>> import gandiag
    >>> ring = gandiag.reference("ring8")
    >>> x = ring.sample(800, seed=0)
    >>> modes, high_quality = ring.assign_modes(x)
    >>> tuple(x.shape), len(set(modes.tolist())), bool(high_quality.mean() > 0.98)  # 98.9% within 3 std in 2-D
    ((800, 2), 8, True)
    """
    if isinstance(name_or_path, Reference):
        return name_or_path
    key = str(name_or_path)
    if key in _BUILTIN:
        return _BUILTIN[key]()
    path = Path(key)
    if path.exists():
        return _reference_from_path(path)
    raise GandiagInputError(
        f"unknown reference {key!r}: use one of {', '.join(REFERENCE_NAMES)}, "
        "or a path to a .npy/.npz file or a folder of images"
    )


#: Seed offset of the second, independent sample of an unlimited reference (the real-vs-real row).
FLOOR_SEED_OFFSET = 1_000_003


def stored_samples(ref: Reference) -> int | None:
    """How many samples a reference made of stored samples holds (``None`` for a sampler without limit)."""
    return len(ref) if isinstance(ref, _Empirical) else None


def reference_pair(ref: Reference, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real, second)``: the reference sample every row is scored against, and an independent one.

    The one seeding scheme of the real-vs-real floor, used by ``score``, ``audit``, ``compare``
    and ``gate``: ``real = ref.sample(n, seed)`` and ``second = ref.sample(n, seed +
    FLOOR_SEED_OFFSET)``; for a reference of stored samples, the two halves of one seeded
    permutation, ``ref.sample(2n, seed)``, so that no stored sample is in both (it needs 2n of
    them). Comparing ``second`` with ``real`` is what a perfect generator would score.
    """
    stored = stored_samples(ref)
    if stored is not None:
        if 2 * n > stored:
            raise GandiagInputError(
                f"--n {n}: reference {ref.name!r} holds {stored} samples; the real-vs-real floor needs "
                f"two disjoint sets of n, so use --n {stored // 2} or less"
            )
        both = ref.sample(2 * n, seed=seed)
        return both[:n], both[n:]
    return ref.sample(n, seed=seed), ref.sample(n, seed=seed + FLOOR_SEED_OFFSET)
