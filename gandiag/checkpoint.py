"""The gandiag checkpoint format (docs/contract.md section 4).

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
from pathlib import Path
from typing import Any

import torch

from ._arrays import one_line
from .atomic import atomic_path
from .errors import SourceError
from .generators import LATENT_DISTRIBUTIONS

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
    """Save ``payload`` to ``path`` atomically (temporary file, fsync, rename).

    Saved through a file object, so the zip's record prefix is torch's fixed ``archive`` rather
    than the random temporary file name: the same payload always gives the same bytes.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a gandiag checkpoint with ``weights_only=True`` and check its format.

    Raises :class:`SourceError` for truncated or empty files, random bytes, pickles that would
    execute code, dicts that are not gandiag checkpoints, and checkpoints whose fields have the
    wrong types (:func:`check_fields`).
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
        raise SourceError(path, _unreadable(exc)) from exc
    except Exception as exc:  # EOFError, BadZipFile, OSError, ValueError, IndexError on an empty file...
        raise SourceError(path, _unreadable(exc)) from exc
    if not isinstance(ckpt, dict) or "gandiag_format" not in ckpt:
        raise SourceError(path, "a torch file, but not a gandiag checkpoint (no 'gandiag_format' key)")
    fmt = ckpt["gandiag_format"]
    if type(fmt) is not int or fmt != FORMAT_VERSION:
        raise SourceError(path, f"gandiag checkpoint format {one_line(repr(fmt), 40)}; this gandiag reads format "
                          f"{FORMAT_VERSION}", hint="upgrade gandiag")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise SourceError(path, f"incomplete gandiag checkpoint (missing {missing})")
    check_fields(path, ckpt)
    return ckpt


def _unreadable(exc: BaseException) -> str:
    detail = one_line(exc, 120)
    return f"truncated or not a torch file ({type(exc).__name__}{': ' + detail if detail else ''})"


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_fields(path: str | Path, ckpt: dict[str, Any]) -> None:
    """Raise :class:`SourceError` naming the field when a field that loading reads has the wrong type.

    ``architecture``: {``name``: non-empty str, ``kwargs``: dict with str keys}; ``latent``:
    {``dim``: int >= 1, ``distribution``: one of ``normal``, ``uniform``}; ``step``: int >= 0;
    ``generator``: a state dict (str keys).
    """
    def bad(field: str, value: Any, expected: str) -> SourceError:
        return SourceError(path, f"malformed gandiag checkpoint: {field} is {one_line(repr(value), 60)} "
                           f"({type(value).__name__}); expected {expected}", hint="")

    arch = ckpt["architecture"]
    if not isinstance(arch, dict):
        raise bad("architecture", arch, "a dict with name and kwargs")
    name = arch.get("name")
    if not isinstance(name, str) or not name:
        raise bad("architecture.name", name, "the registered architecture's name (a string)")
    kwargs = arch.get("kwargs", {})
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
        raise bad("architecture.kwargs", kwargs, "a dict of keyword arguments")
    latent = ckpt["latent"]
    if not isinstance(latent, dict):
        raise bad("latent", latent, "a dict with dim and distribution")
    dim = latent.get("dim")
    if not _is_int(dim) or dim < 1:
        raise bad("latent.dim", dim, "a positive integer")
    dist = latent.get("distribution", "normal")
    if dist not in LATENT_DISTRIBUTIONS:
        raise bad("latent.distribution", dist, " or ".join(LATENT_DISTRIBUTIONS))
    if not _is_int(ckpt["step"]) or ckpt["step"] < 0:
        raise bad("step", ckpt["step"], "an integer >= 0")
    state = ckpt["generator"]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise bad("generator", state, "a state dict (parameter names to tensors)")
