"""The ``inception`` feature extractor: torch-fidelity's ``inception-v3-compat``, 2048 features.

The network is torch-fidelity's ``FeatureExtractorInceptionV3`` (the TensorFlow FID Inception
ported to PyTorch, bilinear resize to 299 x 299 like TF1, pool3 features). gandiag never
downloads its weights: the file is given by path, ``weights=PATH`` (command line
``--inception-weights PATH``) or the environment variable ``GANDIAG_INCEPTION_WEIGHTS``. The file
is torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (the same weights as
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``), whose SHA-256 starts with ``6726825d``
(torch.hub's naming convention); a file with another hash still works (a warning says its numbers
are not comparable with published FIDs). It is loaded with ``torch.load(weights_only=True)``.

Input conversion (:func:`to_uint8_rgb`): images (n, C, H, W) float in [-1, 1] become
``uint8 = round((clip(x, -1, 1) + 1) * 127.5)``, rounding half to even (``torch.round``), so an
8-bit image mapped to [-1, 1] by p / 127.5 - 1 (or p / 255 * 2 - 1) comes back exactly; one
channel is repeated to three; uint8 input is passed through unchanged. The network then resizes
to 299 x 299 itself, as torch-fidelity does.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from .._arrays import to_numpy
from .._hashing import bytes_sha256
from ..errors import GandiagInputError

__all__ = [
    "ENV_VAR",
    "EXPECTED_SHA256_PREFIX",
    "InceptionExtractor",
    "InceptionV3",
    "WEIGHTS_FILENAME",
    "resolve_weights_path",
    "to_uint8_rgb",
    "write_random_weights",
]

ENV_VAR = "GANDIAG_INCEPTION_WEIGHTS"
WEIGHTS_FILENAME = URL_INCEPTION_V3.rsplit("/", 1)[-1]  # weights-inception-2015-12-05-6726825d.pth
EXPECTED_SHA256_PREFIX = "6726825d"
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
_HOW_TO_GET = (
    f"expected {WEIGHTS_FILENAME} (SHA-256 starting {EXPECTED_SHA256_PREFIX}), from {URL_INCEPTION_V3} "
    f"or pytorch-fid's {PYTORCH_FID_URL}; pass its path with --inception-weights / weights= or {ENV_VAR} "
    "(gandiag never downloads)"
)
_buffer = io.BytesIO()
torch.save(None, _buffer)
_NO_STATE = _buffer.getvalue()  # what torch-fidelity's constructor loads: nothing (gandiag loads the weights)
del _buffer


class InceptionWeightsError(GandiagInputError):
    """The Inception weights file is not given, missing or unreadable."""


def resolve_weights_path(weights: str | os.PathLike | None = None) -> Path:
    """The weights file: ``weights``, else ``$GANDIAG_INCEPTION_WEIGHTS``; it must exist."""
    given = weights if weights is not None else os.environ.get(ENV_VAR) or None
    if given is None:
        raise InceptionWeightsError(f"inception features need a weights file: {_HOW_TO_GET}")
    path = Path(given).expanduser()
    if not path.is_file():
        raise InceptionWeightsError(f"{path}: inception weights file not found; {_HOW_TO_GET}")
    return path


def _read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    data = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InceptionWeightsError(f"{path}: not a readable weights file ({type(exc).__name__}); {_HOW_TO_GET}") from exc
    if not isinstance(state, dict):
        raise InceptionWeightsError(f"{path}: holds {type(state).__name__}, not a state dict; {_HOW_TO_GET}")
    return state, bytes_sha256(data)


class InceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's Inception with gandiag's weight handling (registered as ``gandiag-inception``).

    Same constructor arguments as torch-fidelity's (so ``calculate_metrics`` can build it), but
    the weights path falls back to ``$GANDIAG_INCEPTION_WEIGHTS`` instead of a download, and the
    file is read with ``weights_only=True``. Input: uint8 (n, 3, H, W), as torch-fidelity's.
    """

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | os.PathLike | None = None,
        feature_extractor_internal_dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        path = resolve_weights_path(feature_extractor_weights_path)
        state, sha256 = _read_state_dict(path)
        self._build(name, features_list, feature_extractor_internal_dtype, **kwargs)
        try:
            torch.nn.Module.load_state_dict(self, state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InceptionWeightsError(f"{path}: not Inception-v3 FID weights ({first}); {_HOW_TO_GET}") from exc
        self.weights_sha256 = sha256
        if not sha256.startswith(EXPECTED_SHA256_PREFIX):
            warnings.warn(
                f"{path}: SHA-256 {sha256[:8]}... is not the FID Inception's ({EXPECTED_SHA256_PREFIX}...); "
                "its features are not comparable with published FID values",
                stacklevel=2,
            )

    def _build(self, name: str, features_list: list[str], dtype: str | None, **kwargs: Any) -> None:
        FeatureExtractorInceptionV3.__init__(
            self, name, list(features_list), feature_extractor_weights_path=io.BytesIO(_NO_STATE),
            feature_extractor_internal_dtype=dtype, **kwargs,
        )  # fmt: skip

    def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        if state_dict is None:  # the parent constructor's load of _NO_STATE: the weights come next
            return None
        return super().load_state_dict(state_dict, *args, **kwargs)

    @classmethod
    def untrained(cls, seed: int = 0) -> "InceptionV3":
        """The architecture with PyTorch's random initialisation (for plumbing tests)."""
        net = cls.__new__(cls)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net._build("gandiag-inception", ["2048"], None)
        net.weights_sha256 = "untrained"
        return net


def write_random_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Save a randomly initialised Inception state dict to ``path`` (plumbing tests, not values)."""
    out = Path(path)
    torch.save(InceptionV3.untrained(seed).state_dict(), out)
    return out


def to_uint8_rgb(x: Any) -> torch.Tensor:
    """Images (n, 1 or 3, H, W) in [-1, 1] (or uint8) to uint8 (n, 3, H, W), module docstring rule."""
    if isinstance(x, torch.Tensor) and x.dtype == torch.uint8:
        img = x.detach().cpu()
    elif isinstance(x, np.ndarray) and x.dtype == np.uint8:
        img = torch.from_numpy(x)
    else:
        arr = torch.from_numpy(to_numpy(x, name="images", dtype=np.float32))
        img = ((arr.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    if img.ndim != 4 or img.shape[1] not in (1, 3):
        raise GandiagInputError(f"images: expected shape (n, 1 or 3, H, W) for inception features, got {tuple(img.shape)}")
    return img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img


class InceptionExtractor:
    """2048 pool features of the FID Inception, float32; weights by path, never downloaded."""

    name = "inception"
    version = 1  # bump when the uint8 conversion changes: feature caches key on it

    def __init__(self, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> None:
        self.net = InceptionV3("gandiag-inception", ["2048"], feature_extractor_weights_path=weights).to(device)
        self.weights_sha256 = self.net.weights_sha256
        self.device = torch.device(device)

    @staticmethod
    def feature_dim(sample_shape: tuple[int, ...]) -> int:
        """2048 pool features whatever the image size."""
        return 2048

    def __call__(self, x: Any, *, batch_size: int = 64) -> np.ndarray:
        n = len(x)
        out = np.empty((n, 2048), dtype=np.float32)
        with torch.no_grad():
            for i in range(0, n, int(batch_size)):
                batch = to_uint8_rgb(x[i : i + int(batch_size)]).to(self.device)
                out[i : i + len(batch)] = self.net(batch)[0].cpu().numpy()
        return out
