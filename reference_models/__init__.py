"""Reference GAN trainers for gandiag: minimax GAN, non-saturating GAN, WGAN (clipping), WGAN-GP.

Nets are registered in the ``gandiag.architectures`` entry-point group; ``gandiag train`` and
``gandiag demo`` come from here through ``gandiag.commands``. The public names are imported on
first use (PEP 562), so registering the commands (``gandiag --help``) imports no torch.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .recipes import RECIPES, TrainConfig, make_config
    from .trainer import checkpoints, train

__all__ = ["RECIPES", "TrainConfig", "checkpoints", "make_config", "train"]

_LAZY = {"RECIPES": ".recipes", "TrainConfig": ".recipes", "make_config": ".recipes",
         "checkpoints": ".trainer", "train": ".trainer"}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'reference_models' has no attribute {name!r}")
