"""The gandiag checkpoint format (CONTRACT.md section 4).

One file per saved step, ``step-{step:07d}.pt``, written atomically, holding a dict:

``gandiag_format`` (int, 1), ``architecture`` ({``name``, ``kwargs``} of the generator, plus
``discriminator``: {``name``, ``kwargs``}), ``latent`` ({``dim``, ``distribution``}),
``generator`` and ``discriminator`` (state dicts), ``optimizers``, ``step``, ``rng``,
``config`` and ``versions``. Every value is a tensor, a container of them or a plain Python
type, so ``torch.load(path, weights_only=True)`` reads it without unpickling code.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .errors import SourceError

FORMAT_VERSION = 1
REQUIRED_KEYS = ("gandiag_format", "architecture", "latent", "generator", "step")
_STEP = re.compile(r"step[-_]?(\d+)")


def checkpoint_name(step: int) -> str:
    """``step-{step:07d}.pt``."""
    return f"step-{int(step):07d}.pt"


def step_from_name(path: str | Path) -> int | None:
    """The training step in a file name such as ``step-0001000.pt``, else ``None``."""
    m = _STEP.search(Path(path).stem)
    return int(m.group(1)) if m else None


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a gandiag checkpoint with ``weights_only=True`` and check its format.

    Raises :class:`SourceError` for truncated files, random bytes, pickles that would execute
    code, and dicts that are not gandiag checkpoints.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # a foreign pickle makes torch warn before it refuses it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise SourceError(path, "refused: the file holds pickled Python objects that could run code "
                              "(gandiag loads checkpoints with weights_only=True)") from exc
        raise SourceError(path, "not a torch checkpoint (unreadable pickle data)") from exc
    except RuntimeError as exc:
        if "TorchScript" in str(exc):  # torch refuses TorchScript under weights_only=True
            raise SourceError(path, "a TorchScript archive: loading one runs code from the file, so gandiag does "
                              "not load it by default", hint="pass allow_torchscript=True (CLI: --allow-torchscript) "
                              "only for a file you trust") from exc
        raise SourceError(path, f"truncated or not a torch file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from exc
    except (EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceError(path, f"truncated or not a torch file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from exc
    if not isinstance(ckpt, dict) or "gandiag_format" not in ckpt:
        raise SourceError(path, "a torch file, but not a gandiag checkpoint (no 'gandiag_format' key)")
    if ckpt["gandiag_format"] != FORMAT_VERSION:
        raise SourceError(path, f"gandiag checkpoint format {ckpt['gandiag_format']!r}; this gandiag reads format {FORMAT_VERSION}",
                          hint="upgrade gandiag")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    arch = ckpt.get("architecture")
    if missing or not isinstance(arch, dict) or "name" not in arch:
        raise SourceError(path, f"incomplete gandiag checkpoint (missing {missing or ['architecture.name']})")
    return ckpt
