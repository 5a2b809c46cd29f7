"""Reference GAN trainers for gandiag: minimax GAN, non-saturating GAN, WGAN (clipping), WGAN-GP.

Nets are registered in the ``gandiag.architectures`` entry-point group; ``gandiag train`` and
``gandiag demo`` come from here through ``gandiag.commands``.
"""

from .recipes import RECIPES, TrainConfig, make_config
from .trainer import checkpoints, train

__all__ = ["RECIPES", "TrainConfig", "checkpoints", "make_config", "train"]
