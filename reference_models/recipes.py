"""Training recipes ``{loss}-{reference}`` and their hyperparameters.

Defaults follow the papers: minimax/non-saturating GAN with Adam(beta1 = 0.5) and one
discriminator step per generator step (Goodfellow et al. 2014; Radford et al. 2016); WGAN with
RMSProp lr 5e-5, clipping c = 0.01 and 5 critic steps (Arjovsky et al. 2017, Algorithm 1);
WGAN-GP with Adam(beta = (0.5, 0.9)), lambda = 10 and 5 critic steps (Gulrajani et al. 2017,
Algorithm 1), lr 1e-4 on images and 5e-4 on 2-D data (where the paper trains 100k steps and a
CPU budget allows about a thousand). 2-D references use the WGAN-GP toy MLP (3 x 512, latent 2); digit
references the small DCGAN pair. Default step counts keep each 2-D recipe under 2 minutes
on 2 CPU cores (measured times are in README.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gandiag import GandiagInputError
from gandiag.references import REFERENCE_NAMES

from .conditional import conditional_recipes
from .cyclegan import CYCLEGAN_RECIPES
from .losses import LOSSES

VECTOR_REFERENCES = ("ring8", "grid25")

# Keys that may change between a run and its --resume without changing the computation's
# meaning: how long to train, how often to save/log, and where to compute.
RESUMABLE_KEYS = ("steps", "checkpoint_every", "log_every", "device")


@dataclass
class TrainConfig:
    """Everything that determines a training run; stored in every checkpoint as ``config``."""

    recipe: str
    loss: str
    reference: str
    arch: str = "mlp"
    latent_dim: int = 2
    latent_distribution: str = "normal"
    width: int = 512
    depth: int = 3
    conditional: bool = False
    d_batchnorm: bool = False
    batch_size: int = 256
    n_critic: int = 1
    optimizer: str = "adam"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    clip: float = 0.01
    gp_lambda: float = 10.0
    steps: int = 2000
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"
    # PacGAN (Lin et al. 2018): D sees `pack` samples at once; the PacGAN pair's own sizes (0: as G).
    pack: int = 1
    d_width: int = 0
    d_depth: int = 0
    d_maxout: int = 1
    g_batchnorm: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> "TrainConfig":
        positive = ("latent_dim", "width", "depth", "batch_size", "n_critic", "steps", "checkpoint_every", "log_every")
        for key in positive:
            if getattr(self, key) < 1:
                raise GandiagInputError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.optimizer not in ("adam", "rmsprop"):
            raise GandiagInputError(f"optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.latent_distribution not in ("normal", "uniform"):
            raise GandiagInputError(f"latent_distribution must be normal or uniform, got {self.latent_distribution!r}")
        if self.pack < 1 or self.batch_size % self.pack:
            raise GandiagInputError(f"--set pack={self.pack}: batch_size {self.batch_size} must be a multiple of "
                                    f"pack >= 1; --set batch_size={max(self.pack, 1) * 100}, say")
        if self.pack > 1 and self.conditional:
            raise GandiagInputError(f"--set pack={self.pack}: packing is not implemented for conditional recipes")
        return self


def _defaults(loss: str, reference: str) -> dict[str, Any]:
    vector = reference in VECTOR_REFERENCES
    cfg: dict[str, Any] = dict(recipe=f"{loss}-{reference}", loss=loss, reference=reference)
    if vector:
        cfg.update(arch="mlp", latent_dim=2, width=512, depth=3, batch_size=256)
    else:
        cfg.update(arch="dcgan8", latent_dim=32, width=64, batch_size=64, d_batchnorm=loss != "wgangp")
    if loss in ("gan", "nsgan"):
        # gan and nsgan share every setting, so the generator loss is the only difference.
        lr = 1e-3 if vector else 2e-4
        cfg.update(n_critic=1, optimizer="adam", lr_g=lr, lr_d=lr, beta1=0.5, beta2=0.999,
                   steps=2000 if vector else 3000, checkpoint_every=250)
    elif loss == "wgan":
        cfg.update(n_critic=5, optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, clip=0.01,
                   steps=800 if vector else 2000, checkpoint_every=100 if vector else 250)
    else:  # wgangp; on 2-D, lr 5e-4 (the paper's 1e-4 barely moves within a CPU budget)
        lr = 5e-4 if vector else 1e-4
        cfg.update(n_critic=5, optimizer="adam", lr_g=lr, lr_d=lr, beta1=0.5, beta2=0.9, gp_lambda=10.0,
                   steps=500 if vector else 2000, checkpoint_every=100 if vector else 250)
    return cfg


RECIPES: dict[str, dict[str, Any]] = {
    f"{loss}-{ref}": _defaults(loss, ref) for ref in REFERENCE_NAMES for loss in LOSSES
}
# Conditional generators (issue 13): class-conditional twins, and the cyclegan translation recipe.
RECIPES.update(conditional_recipes(_defaults, LOSSES))
RECIPES.update(CYCLEGAN_RECIPES)


def _pacgan(pack: int, reference: str, steps: int) -> dict[str, Any]:
    """PacGAN's 2-D setting, scaled to a CPU budget. The paper's code (synthetic_data_experiments/
    2D*_GAN&PacGAN/config.py, pacgan_task.py): G 4 x 400 ReLU with BatchNorm, latent N(0, I_2); D
    3 x 200 maxout(5 pieces), linear output; the non-saturating loss; Adam(lr 1e-4, beta1 0.8);
    100 packed rows per batch (100 * pack samples); 400 epochs of 1,000 steps. Kept: depths, maxout,
    loss, beta1, batch. Changed (README, "Reproducing the literature (PacGAN)"): widths 128 / 64, no
    BatchNorm in G, lr 1e-3, ``steps`` steps, torch's default initialisation (not N(0, 0.02))."""
    return dict(recipe=f"pacgan{pack}-{reference}", loss="nsgan", reference=reference, arch="mlp", latent_dim=2,
                width=128, depth=4, g_batchnorm=False, d_width=64, d_depth=3, d_maxout=5, pack=pack,
                batch_size=100 * pack, n_critic=1, optimizer="adam", lr_g=1e-3, lr_d=1e-3, beta1=0.8, beta2=0.999,
                steps=steps, checkpoint_every=steps // 4)


#: PacGAN table 1 rows (issue 19): the unpacked GAN (pack 1) and PacGAN in the same architecture.
LITERATURE_RECIPES = {cfg["recipe"]: cfg for cfg in (
    _pacgan(1, "ring8", 3000), _pacgan(2, "ring8", 3000), _pacgan(1, "grid25", 3000), _pacgan(4, "grid25", 3000))}
RECIPES.update(LITERATURE_RECIPES)


def config_defaults() -> dict[str, Any]:
    """The default of every :class:`TrainConfig` field that has one."""
    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def _coerce(key: str, value: str, current: Any) -> Any:
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise GandiagInputError(f"--set {key}={value}: expected true or false")
    try:
        return type(current)(value)
    except (TypeError, ValueError):
        raise GandiagInputError(f"--set {key}={value}: expected a {type(current).__name__}") from None


def make_config(recipe: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The configuration of ``recipe`` with ``overrides`` applied (strings are coerced).

    Unknown recipes and unknown or ill-typed override keys raise :class:`GandiagInputError`.
    """
    if recipe not in RECIPES:
        raise GandiagInputError(f"unknown recipe {recipe!r}; `gandiag train --list` prints the recipes")
    cfg = TrainConfig(**RECIPES[recipe])
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"recipe", "loss", "reference", "extra"}
    for key, value in (overrides or {}).items():
        if key not in names:
            raise GandiagInputError(f"unknown setting {key!r}; settable: {', '.join(sorted(names))}")
        current = getattr(cfg, key)
        setattr(cfg, key, _coerce(key, value, current) if isinstance(value, str) else type(current)(value))
    return cfg.validate()
