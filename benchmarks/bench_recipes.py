"""How long each reference recipe takes to train with its default settings.

    python benchmarks/bench_recipes.py                  # the eight 2-D recipes, extrapolated
    python benchmarks/bench_recipes.py --full           # train every default run to the end
    python benchmarks/bench_recipes.py gan-digits --steps 100

Without ``--full`` each recipe runs ``--steps`` generator steps after a warm-up and the time of
the default run is extrapolated (step cost is constant: fixed batch size, no schedules); checkpoint
writes are excluded. Prints a Markdown table and the 1-minute load average (a loaded machine
gives times that are upper bounds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

import gandiag
from gandiag.generators import LatentSpec
from reference_models import RECIPES, make_config, train
from reference_models.trainer import _init_state, _train_step, architecture

TWO_D = [name for name in RECIPES if name.endswith(("-ring8", "-grid25"))]


def step_seconds(recipe: str, steps: int, warmup: int = 3) -> float:
    """Mean seconds per generator step over ``steps`` steps, after ``warmup`` untimed ones."""
    cfg = make_config(recipe)
    ref = gandiag.reference(cfg.reference)
    st = _init_state(cfg, architecture(cfg, ref))
    latent = LatentSpec(cfg.latent_dim, cfg.latent_distribution)
    n_classes = int(ref.n_modes or 0) if cfg.conditional else 0
    for _ in range(warmup):
        _train_step(cfg, st, ref, latent, n_classes)
    start = time.perf_counter()
    for _ in range(steps):
        _train_step(cfg, st, ref, latent, n_classes)
    return (time.perf_counter() - start) / steps


def full_seconds(recipe: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        train(make_config(recipe), out, progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=TWO_D)
    parser.add_argument("--steps", type=int, default=50, help="timed steps per recipe (default 50)")
    parser.add_argument("--full", action="store_true", help="train each default run to the end")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| recipe | default steps | ms / step | default run (s) | how |")
    print("|---|---:|---:|---:|---|")
    for recipe in args.recipes:
        steps = make_config(recipe).steps
        if args.full:
            total = full_seconds(recipe)
            per, how = total / steps, "full run"
        else:
            per = step_seconds(recipe, args.steps)
            total, how = per * steps, f"{args.steps} steps, extrapolated"
        print(f"| {recipe} | {steps} | {per * 1000:.1f} | {total:.0f} | {how} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
