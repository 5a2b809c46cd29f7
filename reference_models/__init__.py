"""Reference GAN trainers for gandiag: minimax GAN, non-saturating GAN, WGAN (clipping), WGAN-GP.

Nets are registered in the ``gandiag.architectures`` entry-point group; ``gandiag train`` and
``gandiag demo`` come from here through ``gandiag.commands``. The public names are imported on
first use (PEP 562), so registering the commands (``gandiag --help``) imports no torch.
"""

from typing import TYPE_CHECKING

from gandiag._lazy import lazy_attributes

if TYPE_CHECKING:
    from .recipes import RECIPES, TrainConfig, make_config
    from .trainer import checkpoints, train

__all__ = ["RECIPES", "TrainConfig", "checkpoints", "make_config", "train"]

_LAZY = {"RECIPES": ".recipes", "TrainConfig": ".recipes", "make_config": ".recipes",
         "checkpoints": ".trainer", "train": ".trainer"}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals(), __all__)
