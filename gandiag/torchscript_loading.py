"""TorchScript archives: recognised, refused by default, loaded only when the caller trusts the file.

A TorchScript archive is code: its ``__setstate__`` runs while ``torch.jit.load`` reads it and
may read or write any file. :func:`gandiag.load_generator` therefore refuses one
(:data:`TORCHSCRIPT_REFUSED`, :data:`TORCHSCRIPT_HINT`) unless ``allow_torchscript=True`` (CLI
``--allow-torchscript``). Allowed, it is first loaded in a child process (:data:`JIT_PROBE`,
killed at the time limit: the interpreter holds the GIL, so an endless ``__setstate__`` could not
be stopped in-process), then here, and every call goes through
:func:`gandiag.timeouts.interruptible` (:class:`_NativeCall`).
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .checkpoint import step_from_name
from .errors import SourceError
from .generators import Generator, LatentSpec, NetworkGenerator
from .timeouts import interruptible

__all__ = ["JIT_PROBE", "TORCHSCRIPT_HINT", "TORCHSCRIPT_REFUSED", "is_torchscript", "load_torchscript"]


def is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)



TORCHSCRIPT_REFUSED = ("a TorchScript archive: loading one runs code from the file "
                       "(it can read and write any file), so gandiag does not load it by default")
TORCHSCRIPT_HINT = ("pass allow_torchscript=True (CLI: --allow-torchscript) only for a file you trust, "
                    "or export the generator with torch.export.save (.pt2), which gandiag loads without running code")


class _NativeCall:
    """Calls a TorchScript module through :func:`gandiag.timeouts.interruptible`, in the caller's
    inference mode: the TorchScript interpreter never returns to Python, so a time limit can only
    stop the wait for it."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def __call__(self, *args: torch.Tensor) -> Any:
        inference = torch.is_inference_mode_enabled()

        def call() -> Any:
            with torch.inference_mode(inference):
                return self.module(*args)

        return interruptible(call)


def _jit_load(path: Path, device: str) -> Any:
    with warnings.catch_warnings():  # torch.jit.load is deprecated in torch >= 2.10; the format is not
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location=device)


#: Loads a TorchScript archive in a child process: torch.jit.load runs its __setstate__ holding the GIL.
JIT_PROBE = ("import sys, warnings\nimport torch\nprint('ready', flush=True)\nwarnings.simplefilter('ignore')\n"
              "torch.jit.load(sys.argv[1], map_location='cpu')\nprint('done', flush=True)\n")


def load_torchscript(path: Path, latent: str | None, latent_dim: int | None, device: str) -> Generator:
    try:
        module = interruptible(_jit_load, path, device)  # its __setstate__ runs here, and may never end
    except Exception as exc:
        raise SourceError(path, f"not a readable TorchScript archive ({type(exc).__name__})") from exc
    attr = getattr(module, "latent_dim", None)
    file_dim = attr if type(attr) is int and attr > 0 else None
    if file_dim is None and latent_dim is None:
        raise SourceError(path, "this TorchScript archive has no int attribute latent_dim",
                          hint="add `latent_dim: int` to the scripted module, or pass latent_dim= (CLI: --latent-dim)")
    module.eval()
    classes = getattr(module, "n_classes", None)  # a conditional module: forward(z, y)
    return NetworkGenerator(_NativeCall(module), LatentSpec.for_file(path, file_dim, "normal", latent, latent_dim), source=str(path),
                            step=step_from_name(path), device=device,
                            n_classes=classes if type(classes) is int and classes > 0 else None)
