"""The reference trainer: deterministic, checkpointed, bit-exactly resumable.

A run folder holds ``step-{step:07d}.pt`` checkpoints (docs/contract.md section 4; step 0 is the
initialisation) and ``train_log.csv``. Every random draw comes from one of three
``torch.Generator`` streams (data, latent, penalty) seeded from the run seed; their states go
into every checkpoint with the optimiser states, so ``--resume`` continues the exact
computation an uninterrupted run would have done.

Safety (README, "Safety and failure behaviour"): a trainer holds the run folder's lock
(:func:`gandiag.atomic.folder_lock`) for its whole run, so a second trainer on the same ``--out``
fails at once naming the holder; temporary files a killed trainer left (``.step-*.tmp``) are
removed when the next one starts; ``--resume`` refuses a folder whose checkpoints come from
different configurations (seeds, recipes); and ``train_log.csv`` is written *before* each
checkpoint is renamed into place (rows beyond the last checkpoint are dropped on resume), so
after a kill at any moment the resumed log holds exactly one row per logged step.

Threads: training runs on :func:`training_threads` torch intra-op threads (``threads=``,
``--threads``, ``$GANDIAG_THREADS``, else :data:`DEFAULT_THREADS`: one, the fastest for these small
nets, idle or on a shared machine). A run is bit-reproducible for a fixed thread count; a
different count can change the last bits of the trained weights (the count used is recorded in
the checkpoint's ``versions["torch_threads"]``). The caller's thread count is restored afterwards.
"""

from __future__ import annotations

import csv
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import gandiag
from gandiag import GandiagInputError
from gandiag._arrays import format_bytes, memory_budget
from gandiag.atomic import atomic_path, folder_lock, output_folder
from gandiag.checkpoint import FORMAT_VERSION, checkpoint_name, read_checkpoint, step_from_name, write_checkpoint
from gandiag.generators import LatentSpec, check_device
from gandiag.network_build import NetworkTooLarge, meta_network
from gandiag.references import Reference
from gandiag.references import reference as get_reference
from gandiag.threads import resolve_threads, torch_threads

from . import losses
from .nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, Packed
from .recipes import RESUMABLE_KEYS, TrainConfig, config_defaults

LOG_COLUMNS = ("step", "loss_d", "loss_g", "d_real", "d_fake", "penalty", "grad_norm_d", "grad_norm_g", "seconds")
STREAMS = ("data", "latent", "penalty")
#: Default torch intra-op threads for training, by architecture (measured: README, "Threads").
DEFAULT_THREADS = {"mlp": 1, "dcgan8": 1}


def training_threads(cfg: TrainConfig, threads: int | None = None) -> int:
    """Threads for training ``cfg``: ``threads``, else ``$GANDIAG_THREADS``, else :data:`DEFAULT_THREADS`."""
    return int(resolve_threads(threads, DEFAULT_THREADS.get(cfg.arch, 1)))


def architecture(cfg: TrainConfig, ref: Reference) -> dict[str, Any]:
    """Registered names and kwargs of the generator and discriminator for ``cfg`` on ``ref``."""
    n_classes = int(ref.n_modes or 0) if cfg.conditional else 0
    if cfg.arch == "mlp":
        if ref.is_image:
            raise GandiagInputError(f"arch mlp needs vector data; reference {ref.name} has shape {ref.shape}")
        g = dict(latent_dim=cfg.latent_dim, out_dim=ref.shape[0], width=cfg.width, depth=cfg.depth, n_classes=n_classes)
        d = dict(in_dim=ref.shape[0] * cfg.pack, width=cfg.d_width or cfg.width, depth=cfg.d_depth or cfg.depth,
                 n_classes=n_classes)
        if cfg.g_batchnorm:  # PacGAN's pair; keys only when set, so older records are unchanged
            g["batchnorm"] = True
        if cfg.d_maxout > 1:
            d["maxout"] = cfg.d_maxout
        return _packed(cfg, {"name": "mlp-generator", "kwargs": g,
                             "discriminator": {"name": "mlp-discriminator", "kwargs": d}})
    if cfg.arch == "dcgan8":
        if ref.shape[1:] != (8, 8):
            raise GandiagInputError(f"arch dcgan8 needs (C, 8, 8) images; reference {ref.name} has shape {ref.shape}")
        g = dict(latent_dim=cfg.latent_dim, channels=ref.shape[0], width=cfg.width, n_classes=n_classes)
        d = dict(channels=ref.shape[0] * cfg.pack, width=cfg.width, batchnorm=cfg.d_batchnorm, n_classes=n_classes)
        return _packed(cfg, {"name": "dcgan8-generator", "kwargs": g,
                             "discriminator": {"name": "dcgan8-discriminator", "kwargs": d}})
    raise GandiagInputError(f"unknown arch {cfg.arch!r}: use mlp or dcgan8")


def _packed(cfg: TrainConfig, arch: dict[str, Any]) -> dict[str, Any]:
    """Name the packing in the discriminator's record: ``pack`` m means ``Packed(name(**kwargs), m)``
    (kwargs sized for m samples; state-dict keys prefixed ``inner.``)."""
    if cfg.pack > 1:
        arch["discriminator"]["pack"] = cfg.pack
    return arch


def _discriminator(record: dict[str, Any]) -> torch.nn.Module:
    D = _NETS[record["name"]](**record["kwargs"])
    return Packed(D, record["pack"]) if record.get("pack", 1) > 1 else D


_NETS = {"mlp-generator": MLPGenerator, "mlp-discriminator": MLPDiscriminator,
         "dcgan8-generator": DCGANGenerator, "dcgan8-discriminator": DCGANDiscriminator}

#: Most parameter and buffer tensors the two nets of a run may register (depth=10**8 is refused).
MAX_TENSORS = 10_000
#: Copies of each parameter training holds: weights, gradients and two optimiser moments.
TRAINING_COPIES = 4


def check_settings(cfg: TrainConfig, arch: dict[str, Any]) -> None:
    """Refuse ``--set`` values that would fail deep inside torch, train on NaN, or exhaust memory.

    Learning rates, ``clip``: finite and > 0; ``beta1``/``beta2``: in [0, 1); ``gp_lambda``: finite
    and >= 0; ``device``: one this machine has; the two nets (built on the meta device, so nothing
    is allocated) within :data:`MAX_TENSORS` tensors and, times :data:`TRAINING_COPIES`, within
    gandiag's memory budget (``GANDIAG_MEMORY_BUDGET``). Errors name the ``--set`` key.
    """
    def refuse(key: str, expected: str) -> GandiagInputError:
        return GandiagInputError(f"--set {key}={getattr(cfg, key)!r}: {expected}")

    for key in ("lr_g", "lr_d", "clip"):
        if not math.isfinite(getattr(cfg, key)) or getattr(cfg, key) <= 0:
            raise refuse(key, "must be a finite number > 0")
    for key in ("beta1", "beta2"):
        if not 0 <= getattr(cfg, key) < 1:
            raise refuse(key, "must be in [0, 1)")
    if not math.isfinite(cfg.gp_lambda) or cfg.gp_lambda < 0:
        raise refuse("gp_lambda", "must be a finite number >= 0")
    check_device(cfg.device, "--device")
    if cfg.depth * 2 > MAX_TENSORS:
        raise refuse("depth", f"the nets would hold more than {MAX_TENSORS} tensors")
    budget = memory_budget()
    sizes = f"--set width={cfg.width} depth={cfg.depth} latent_dim={cfg.latent_dim}"
    nets = [(arch["name"], arch["kwargs"]), (arch["discriminator"]["name"], arch["discriminator"]["kwargs"])]
    try:
        size = sum(sum(p.numel() * p.element_size() for p in meta_network(
            _NETS[name], kwargs, max_bytes=budget // TRAINING_COPIES, max_tensors=MAX_TENSORS).parameters())
            for name, kwargs in nets)
    except NetworkTooLarge as exc:
        raise GandiagInputError(f"{sizes}: a net would hold {exc}, and training keeps {TRAINING_COPIES} copies of "
                                f"each parameter within gandiag's memory budget of {format_bytes(budget)}") from None
    if size * TRAINING_COPIES > budget:
        raise GandiagInputError(f"{sizes}: the nets' {format_bytes(size)} of parameters, {TRAINING_COPIES} copies in "
                                f"training, exceed gandiag's memory budget of {format_bytes(budget)}")


@dataclass
class _State:
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    streams: dict[str, torch.Generator]
    step: int = 0


def _optimizer(cfg: TrainConfig, params: Any, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))


def _init_state(cfg: TrainConfig, arch: dict[str, Any]) -> _State:
    seeds = np.random.SeedSequence(cfg.seed).generate_state(len(STREAMS) + 1, np.uint64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        G = _NETS[arch["name"]](**arch["kwargs"])
        D = _discriminator(arch["discriminator"])
    G, D = G.to(cfg.device), D.to(cfg.device)
    streams = {name: torch.Generator().manual_seed(int(s)) for name, s in zip(STREAMS, seeds[1:])}
    return _State(G, D, _optimizer(cfg, G.parameters(), cfg.lr_g), _optimizer(cfg, D.parameters(), cfg.lr_d), streams)


def _payload(cfg: TrainConfig, arch: dict[str, Any], st: _State) -> dict[str, Any]:
    # Every random draw of training comes from the named streams (the nets' initialisation runs
    # under a seeded, forked global RNG), so they are all the state a bit-exact resume needs. The
    # process's global RNG state is left out: it is seeded randomly per process, and saving it made
    # two same-seed runs write different files.
    rng: dict[str, Any] = {name: g.get_state() for name, g in st.streams.items()}
    if torch.cuda.is_available() and str(cfg.device).startswith("cuda"):
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "gandiag_format": FORMAT_VERSION,
        "architecture": arch,
        "latent": {"dim": cfg.latent_dim, "distribution": cfg.latent_distribution},
        "generator": st.G.state_dict(),
        "discriminator": st.D.state_dict(),
        "optimizers": {"generator": st.opt_g.state_dict(), "discriminator": st.opt_d.state_dict()},
        "step": st.step,
        "rng": rng,
        "config": cfg.to_dict(),
        "versions": {"gandiag": gandiag.__version__, "torch": str(torch.__version__), "numpy": str(np.__version__),
                     "python": platform.python_version(), "torch_threads": torch.get_num_threads()},
    }


def checkpoints(out: Path) -> list[Path]:
    """The run's checkpoints ``step-*.pt``, ordered by step."""
    found = [p for p in Path(out).glob("step-*.pt") if step_from_name(p) is not None]
    return sorted(found, key=step_from_name)


def _config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    saved = {**config_defaults(), **saved}  # checkpoints written before a field existed hold its default
    keys = sorted((set(saved) | set(current)) - set(RESUMABLE_KEYS))
    return [f"{k}: checkpoint {saved.get(k)!r}, command {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def _saved_config(path: Path) -> dict[str, Any]:
    """The ``config`` stored in checkpoint ``path`` (memory-mapped: the weights are not read)."""
    try:
        config = torch.load(path, weights_only=True, mmap=True).get("config", {})
    except Exception as exc:
        raise GandiagInputError(f"{path}: cannot be read ({type(exc).__name__}); --resume needs every checkpoint "
                                "of the run intact") from None
    return config if isinstance(config, dict) else {}


def check_one_run(paths: list[Path]) -> None:
    """Refuse checkpoints of one folder that come from different runs (seed, recipe or settings differ).

    Such a folder is what two trainers writing into one ``--out`` leave (the lock now prevents it);
    resuming it would continue a hybrid without a word.
    """
    last = _saved_config(paths[-1])
    for path in paths[:-1]:
        saved = _saved_config(path)
        keys = sorted((set(saved) | set(last)) - set(RESUMABLE_KEYS))
        diffs = [f"{k} {saved.get(k)!r} vs {last.get(k)!r}" for k in keys if saved.get(k) != last.get(k)]
        if diffs:
            raise GandiagInputError(f"--out {path.parent}: its checkpoints come from different runs ({path.name} and "
                                    f"{paths[-1].name} differ: {'; '.join(diffs[:3])}); --resume would continue a "
                                    "hybrid: train into a new folder, or remove the checkpoints of the other run")


def _restore(cfg: TrainConfig, arch: dict[str, Any], path: Path) -> _State:
    ckpt = read_checkpoint(path)
    diffs = _config_differences(ckpt.get("config", {}), cfg.to_dict())
    if diffs:
        raise GandiagInputError(f"{path}: --resume with a different config ({'; '.join(diffs)}); "
                                "use the same recipe and settings, or train into a new folder")
    st = _init_state(cfg, arch)
    st.G.load_state_dict(ckpt["generator"])
    st.D.load_state_dict(ckpt["discriminator"])
    st.opt_g.load_state_dict(ckpt["optimizers"]["generator"])
    st.opt_d.load_state_dict(ckpt["optimizers"]["discriminator"])
    for name, g in st.streams.items():
        g.set_state(ckpt["rng"][name])
    if "cuda" in ckpt["rng"] and str(cfg.device).startswith("cuda"):
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    st.step = int(ckpt["step"])
    return st


def _grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad.detach().pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(grads).sum().sqrt()) if grads else float("nan")


class _Log:
    """``train_log.csv``: kept in memory, rewritten atomically at every checkpoint."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        self.rows: list[dict[str, str]] = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as fh:
                self.rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
        self.offset = float(self.rows[-1]["seconds"]) if self.rows else 0.0

    def add(self, **values: float) -> None:
        self.rows.append({k: repr(float(values[k])) if k != "step" else str(int(values[k])) for k in LOG_COLUMNS})

    def flush(self) -> None:
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
                writer.writeheader()
                writer.writerows(self.rows)


def _train_step(cfg: TrainConfig, st: _State, ref: Reference, latent: LatentSpec, n_classes: int) -> dict[str, float]:
    """One generator step preceded by ``n_critic`` discriminator steps; returns the logged values."""
    bs, dev = cfg.batch_size, cfg.device
    wasserstein = cfg.loss in ("wgan", "wgangp")
    out: dict[str, float] = {}
    for _ in range(cfg.n_critic):
        real, y = ref.draw(bs, st.streams["data"])
        real = real.to(dev)
        z = latent.draw(bs, st.streams["latent"]).to(dev)
        labels = (y.to(dev),) if n_classes else ()
        with torch.no_grad():
            fake = st.G(z, *labels)
        real_out, fake_out = st.D(real, *labels), st.D(fake, *labels)
        loss_d = losses.discriminator_loss(cfg.loss, real_out, fake_out)
        penalty = torch.zeros(())
        if cfg.loss == "wgangp":  # packed: the penalty is per packed sample, (x, x') -> x_hat in R^{m d}
            critic, r, f = (st.D.inner, st.D.packed(real), st.D.packed(fake)) if cfg.pack > 1 else (st.D, real, fake)
            eps = torch.rand(r.shape[0], generator=st.streams["penalty"]).to(dev)
            penalty = losses.gradient_penalty(losses.gradient_norms(critic, r, f, eps, *labels))
            loss_d = loss_d + cfg.gp_lambda * penalty
        st.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        st.opt_d.step()
        if cfg.loss == "wgan":
            losses.clip_weights(st.D, cfg.clip)
    z = latent.draw(bs, st.streams["latent"]).to(dev)
    labels = (torch.randint(n_classes, (bs,), generator=st.streams["latent"]).to(dev),) if n_classes else ()
    loss_g = losses.generator_loss(cfg.loss, st.D(st.G(z, *labels), *labels))
    st.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    st.opt_g.step()
    st.step += 1
    if st.step % cfg.log_every == 0:
        squash = (lambda t: t.mean()) if wasserstein else (lambda t: torch.sigmoid(t).mean())
        out = dict(step=st.step, loss_d=float(loss_d.detach()), loss_g=float(loss_g.detach()), d_real=float(squash(real_out.detach())),
                   d_fake=float(squash(fake_out.detach())), penalty=float(penalty.detach()), grad_norm_d=_grad_norm(st.D),
                   grad_norm_g=_grad_norm(st.G))
    return out


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          threads: int | None = None) -> list[Path]:
    """Train ``cfg`` into run folder ``out``; return the checkpoints written by this call.

    Without ``resume`` the folder must hold no checkpoints. With it, training continues from
    the last checkpoint (whose config must equal ``cfg`` but for ``steps``, ``checkpoint_every``,
    ``log_every`` and ``device``), producing the same checkpoints bit for bit as a run never stopped
    on the same number of threads. ``threads``: torch intra-op threads while training (default
    :func:`training_threads`: ``$GANDIAG_THREADS``, else one); the caller's setting is restored.
    """
    n_threads = training_threads(cfg, threads)
    with torch_threads(n_threads):
        return _train(cfg, out, resume=resume, progress=progress)


def _remove_stale_temporary_files(out: Path) -> None:
    """Remove what a killed trainer left half-written in ``out`` (we hold the folder's lock)."""
    for tmp in [*out.glob(".step-*.tmp"), *out.glob(".train_log.csv.*.tmp")]:
        tmp.unlink(missing_ok=True)


def _train(cfg: TrainConfig, out: str | Path, *, resume: bool, progress: bool) -> list[Path]:
    cfg.validate()
    out = output_folder(out)
    ref = get_reference(cfg.reference)
    arch = architecture(cfg, ref)
    check_settings(cfg, arch)
    with folder_lock(out):  # one trainer per run folder: a second one fails here, naming the holder
        if out.exists():
            _remove_stale_temporary_files(out)
        return _train_locked(cfg, out, ref, arch, resume=resume, progress=progress)


def _train_locked(cfg: TrainConfig, out: Path, ref: Reference, arch: dict[str, Any], *, resume: bool,
                  progress: bool) -> list[Path]:
    existing = checkpoints(out) if out.exists() else []
    if existing and not resume:
        raise GandiagInputError(f"--out {out}: already holds {len(existing)} checkpoints; "
                                "pass --resume to continue that run, or choose a new folder")
    if resume and not existing:
        raise GandiagInputError(f"--out {out}: --resume found no step-*.pt checkpoint to continue from")
    if existing:
        check_one_run(existing)
    out.mkdir(parents=True, exist_ok=True)
    st = _restore(cfg, arch, existing[-1]) if existing else _init_state(cfg, arch)
    log = _Log(out / "train_log.csv", st.step if existing else None)
    written: list[Path] = []

    def save() -> None:
        path = out / checkpoint_name(st.step)
        log.flush()  # first: a kill after the rename below finds this checkpoint's rows already logged
        write_checkpoint(path, _payload(cfg, arch, st))
        written.append(path)

    if not existing:
        save()  # step 0: the initialisation
    latent = LatentSpec(cfg.latent_dim, cfg.latent_distribution)
    n_classes = int(ref.n_modes or 0) if cfg.conditional else 0
    st.G.train()
    st.D.train()
    start = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=min(st.step, cfg.steps), desc=cfg.recipe, unit="step",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    with bar:
        while st.step < cfg.steps:
            values = _train_step(cfg, st, ref, latent, n_classes)
            if values:
                log.add(seconds=log.offset + time.perf_counter() - start, **values)
                bar.set_postfix(loss_d=f"{values['loss_d']:.3f}", loss_g=f"{values['loss_g']:.3f}", refresh=False)
            if st.step % cfg.checkpoint_every == 0 or st.step == cfg.steps:
                save()
            bar.update(1)
    return written
