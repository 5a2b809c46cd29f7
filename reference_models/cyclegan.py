"""The ``cyclegan-ring8`` and ``cyclegan-digits`` recipes: unpaired translation between two toy domains whose
true map is known.

``cyclegan-digits``: X = ``digits``, Y = colour-inverted ``digits`` (-x in the [-1, 1] pixel scale,
:class:`InvertedDigits`); the true map is x -> -x, which keeps each image's digit: the class is
preserved, which the shipped digits classifier checks on -G(x) and F(G(x)). The nets are the same
generators are small convolutional nets (:class:`reference_models.nets.ConvTranslator`, 3 x 3
convolutions as in CycleGAN: an MLP on the 64 pixels learns some class permutation instead), the
discriminators the MLP on the flattened pixels; the identity term is off (its weight 0: the true map
is far from the identity), and ``map_accuracy``'s tolerance is a third of the mean distance between
two random digits.

Domains: X = ``ring8`` and Y = ``ring8`` rotated by a *quarter* of a mode spacing (pi/16,
:func:`rotated_ring8`); the true correspondence is that rotation R. (A rotation by half a spacing
would be ambiguous: R and R^-1 then map X onto the same Y, are equally short, and no unpaired
method can tell them apart; a quarter spacing leaves one nearest target mode per source mode.)

Two generators G: X -> Y and F: Y -> X (the MLP of the 2-D recipes with a 2-D input, latent 2 = the
sample) and two discriminators D_Y, D_X are trained as in CycleGAN (Zhu et al. 2017, eq. 3 and 6):

    L = L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda_cyc (E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1)
        + lambda_id (E|G(y) - y|_1 + E|F(x) - x|_1)

with the recipe's adversarial loss (non-saturating by default), one D step per G step, Adam. The
identity term (the paper's eq. 6) prefers the shortest map among the exact ones, which makes the
known rotation the one learned. Checkpoints follow docs/contract.md section 4 (``generator`` is G,
``discriminator`` D_Y) and add ``translation``: the source reference's name, the target mixture
(centres, std), the true map (a 2 x 2 matrix), the tolerance of ``map_accuracy`` (3 std), and the
inverse pair (F's architecture and weights, D_X's weights). gandiag loads such a checkpoint as a
translation generator (G, with F as its inverse): ``gandiag.score`` then gives ``input_dependence``,
``output_diversity``, ``cycle_error`` and ``map_accuracy``. ``train_log.csv`` has the trainer's
columns; ``penalty`` holds the cycle loss (D outputs and gradient norms are not logged: NaN).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gandiag
from gandiag import GandiagInputError
from gandiag.atomic import output_folder
from gandiag.checkpoint import FORMAT_VERSION, checkpoint_name, read_checkpoint, write_checkpoint
from gandiag.references import GaussianMixture
from gandiag.references import reference as get_reference
from gandiag.threads import torch_threads

from . import losses
from .nets import ConvTranslator, MLPDiscriminator, MLPGenerator

#: The cyclegan recipes (TrainConfig fields; ``extra`` holds the cycle and identity weights and the angle).
CYCLEGAN_RECIPES: dict[str, dict[str, Any]] = {
    "cyclegan-ring8": dict(recipe="cyclegan-ring8", loss="nsgan", reference="ring8", arch="mlp", latent_dim=2,
                           width=64, depth=3, batch_size=256, n_critic=1, optimizer="adam", lr_g=1e-3, lr_d=1e-3,
                           beta1=0.5, beta2=0.999, steps=600, checkpoint_every=200, log_every=10,
                           extra={"cycle_lambda": 10.0, "identity_lambda": 1.0, "angle": math.pi / 16}),
    "cyclegan-digits": dict(recipe="cyclegan-digits", loss="nsgan", reference="digits", arch="conv8", latent_dim=64,
                            width=16, depth=2, batch_size=64, n_critic=1, optimizer="adam", lr_g=1e-3, lr_d=1e-3,
                            beta1=0.5, beta2=0.999, steps=300, checkpoint_every=100, log_every=10,
                            extra={"cycle_lambda": 10.0, "identity_lambda": 0.0}),
}
IMAGE_SHAPE = (1, 8, 8)


class InvertedDigits:
    """Colour-inverted ``digits``: each image x of the reference as -x (pixels in [-1, 1]), labels kept."""

    name = "digits-inverted"

    def __init__(self) -> None:
        self.digits = get_reference("digits")

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` inverted images and their digits, drawn with ``generator``."""
        x, y = self.digits.draw(n, generator)
        return -x, y


def _images(cfg: Any) -> bool:
    return cfg.reference == "digits"


def _target(cfg: Any) -> Any:
    """The target domain Y of the recipe."""
    return InvertedDigits() if _images(cfg) else rotated_ring8(float(cfg.extra["angle"]))
STREAMS = ("data", "init")


def rotated_ring8(angle: float = math.pi / 16) -> GaussianMixture:
    """``ring8`` rotated by ``angle`` (radians) about the origin: the target domain Y."""
    ring = get_reference("ring8")
    return GaussianMixture(f"ring8-rotated-{angle:.4f}", ring.centres.double().numpy() @ _rotation(angle).T, ring.std)


def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def _arch(cfg: Any) -> dict[str, Any]:
    """G's and D's architecture names and kwargs: MLPs on 2-D vectors; a conv translator and an MLP critic of
    the 64 flattened pixels on images."""
    if _images(cfg):
        g = {"name": "conv8-translator", "kwargs": dict(channels=IMAGE_SHAPE[0], width=cfg.width, depth=cfg.depth,
                                                         size=IMAGE_SHAPE[1])}
        dim = int(np.prod(IMAGE_SHAPE))
    else:
        g = {"name": "mlp-generator", "kwargs": dict(latent_dim=2, out_dim=2, width=cfg.width, depth=cfg.depth)}
        dim = 2
    return {**g, "discriminator": {"name": "mlp-discriminator",
                                   "kwargs": dict(in_dim=dim, width=cfg.width, depth=cfg.depth)}}


def _nets(cfg: Any) -> dict[str, torch.nn.Module]:
    arch = _arch(cfg)
    make = ConvTranslator if arch["name"] == "conv8-translator" else MLPGenerator
    d = arch["discriminator"]["kwargs"]
    return {"G": make(**arch["kwargs"]), "F": make(**arch["kwargs"]), "D_Y": MLPDiscriminator(**d),
            "D_X": MLPDiscriminator(**d)}


def _translation(cfg: Any, target: Any) -> dict[str, Any]:
    """The checkpoint's target, true map (a matrix) and ``map_accuracy`` tolerance."""
    if _images(cfg):
        x, _ = target.digits.draw(400, torch.Generator().manual_seed(0))
        flat = x.flatten(1)
        spacing = float((flat[:200] - flat[200:]).norm(dim=1).mean())  # mean distance of two random digits
        return {"target": {"name": target.name}, "true_map": (-np.eye(flat.shape[1])).tolist(),
                "tolerance": spacing / 3}
    return {"target": {"name": target.name, "centres": target.centres.tolist(), "std": target.std},
            "true_map": _rotation(float(cfg.extra["angle"])).tolist(), "tolerance": 3.0 * target.std}


def _payload(cfg: Any, nets: dict[str, torch.nn.Module], opts: dict[str, torch.optim.Optimizer],
             streams: dict[str, torch.Generator], step: int, target: Any) -> dict[str, Any]:
    return {
        "gandiag_format": FORMAT_VERSION, "architecture": _arch(cfg), "latent": {"dim": int(cfg.latent_dim), "distribution": "normal"},
        "generator": nets["G"].state_dict(), "discriminator": nets["D_Y"].state_dict(),
        "optimizers": {k: o.state_dict() for k, o in opts.items()}, "step": step,
        "rng": {k: g.get_state() for k, g in streams.items()}, "config": cfg.to_dict(),
        "versions": {"gandiag": gandiag.__version__, "torch": str(torch.__version__),
                     "torch_threads": torch.get_num_threads()},
        "translation": {
            "source": cfg.reference, **_translation(cfg, target),
            "inverse": {"architecture": _arch(cfg), "generator": nets["F"].state_dict(),
                        "discriminator": nets["D_X"].state_dict()},
        },
    }


def _step(cfg: Any, nets: dict[str, torch.nn.Module], opts: dict[str, torch.optim.Optimizer],
          streams: dict[str, torch.Generator], source: Any, target: Any) -> dict[str, float]:
    G, F, D_Y, D_X = nets["G"], nets["F"], nets["D_Y"], nets["D_X"]
    x, _ = source.draw(cfg.batch_size, streams["data"])
    y, _ = target.draw(cfg.batch_size, streams["data"])
    with torch.no_grad():
        fake_y, fake_x = G(x), F(y)
    loss_d = (losses.discriminator_loss(cfg.loss, D_Y(y), D_Y(fake_y))
              + losses.discriminator_loss(cfg.loss, D_X(x), D_X(fake_x)))
    opts["discriminators"].zero_grad(set_to_none=True)
    loss_d.backward()
    opts["discriminators"].step()
    gy, fx = G(x), F(y)
    cycle = (F(gy) - x).abs().mean() + (G(fx) - y).abs().mean()
    identity = (G(y) - y).abs().mean() + (F(x) - x).abs().mean()
    loss_g = (losses.generator_loss(cfg.loss, D_Y(gy)) + losses.generator_loss(cfg.loss, D_X(fx))
              + cfg.extra["cycle_lambda"] * cycle + cfg.extra["identity_lambda"] * identity)
    opts["generators"].zero_grad(set_to_none=True)
    loss_g.backward()
    opts["generators"].step()
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()), "cycle": float(cycle.detach())}


def train_cyclegan(cfg: Any, out: str | Path, *, resume: bool = False, progress: bool = False,
                   threads: int | None = None) -> list[Path]:
    """Train the cyclegan recipe ``cfg`` into ``out``; return the checkpoints written (step 0 first).

    Deterministic: every draw comes from the seeded ``data`` stream (nets initialised under a forked,
    seeded RNG), so the same seed gives the same checkpoints; ``resume`` continues from the last one.
    """
    from .trainer import _Log, _optimizer, checkpoints, training_threads

    cfg.validate()
    out = output_folder(out)
    existing = checkpoints(out) if out.exists() else []
    if existing and not resume:
        raise GandiagInputError(f"--out {out}: already holds {len(existing)} checkpoints; pass --resume or choose a "
                                "new folder")
    source, target = get_reference(cfg.reference), _target(cfg)
    with torch_threads(training_threads(cfg, threads)):
        seeds = np.random.SeedSequence(cfg.seed).generate_state(len(STREAMS), np.uint64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seeds[1]))
            nets = _nets(cfg)
        streams = {"data": torch.Generator().manual_seed(int(seeds[0]))}
        opts = {"generators": _optimizer(cfg, [*nets["G"].parameters(), *nets["F"].parameters()], cfg.lr_g),
                "discriminators": _optimizer(cfg, [*nets["D_Y"].parameters(), *nets["D_X"].parameters()], cfg.lr_d)}
        step = 0
        if existing:
            ckpt = read_checkpoint(existing[-1])
            nets["G"].load_state_dict(ckpt["generator"])
            nets["D_Y"].load_state_dict(ckpt["discriminator"])
            nets["F"].load_state_dict(ckpt["translation"]["inverse"]["generator"])
            nets["D_X"].load_state_dict(ckpt["translation"]["inverse"]["discriminator"])
            for k, o in opts.items():
                o.load_state_dict(ckpt["optimizers"][k])
            streams["data"].set_state(ckpt["rng"]["data"])
            step = int(ckpt["step"])
        out.mkdir(parents=True, exist_ok=True)
        log = _Log(out / "train_log.csv", step if existing else None)
        written: list[Path] = []

        def save() -> None:
            path = out / checkpoint_name(step)
            write_checkpoint(path, _payload(cfg, nets, opts, streams, step, target))
            log.flush()
            written.append(path)

        if not existing:
            save()
        start = time.perf_counter()
        while step < cfg.steps:
            values = _step(cfg, nets, opts, streams, source, target)
            step += 1
            if step % cfg.log_every == 0:
                log.add(step=step, loss_d=values["loss_d"], loss_g=values["loss_g"], d_real=float("nan"),
                        d_fake=float("nan"), penalty=values["cycle"], grad_norm_d=float("nan"),
                        grad_norm_g=float("nan"), seconds=log.offset + time.perf_counter() - start)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save()
    return written
