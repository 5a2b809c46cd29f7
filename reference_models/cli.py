"""``gandiag train`` and ``gandiag demo``, plugged into the gandiag CLI through the entry-point
group ``gandiag.commands`` (gandiag itself never imports this package by name).

Registering the parsers imports nothing heavy (no torch): the trainer is imported when a command
runs, so ``gandiag --help`` and ``gandiag train --help`` answer at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gandiag.errors import GandiagInputError
from gandiag.threads import THREADS_ENV, check_threads

THREADS_HELP = (f"torch intra-op threads while training (default: ${THREADS_ENV} if set, else 1, the fastest "
                "for these small nets); a run is bit-reproducible for a fixed thread count")


def _parse_set(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GandiagInputError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _recipe_table() -> str:
    from .recipes import RECIPES

    w = max(22, *(len(name) for name in RECIPES))
    rows = [f"{'recipe':<{w}} {'steps':>6} {'k':>2} {'optimizer':<8} {'lr':>7} {'arch':<7} batch"]
    for name, cfg in RECIPES.items():
        rows.append(f"{name:<{w}} {cfg['steps']:>6} {cfg['n_critic']:>2} {cfg['optimizer']:<8} {cfg['lr_d']:>7g} "
                    f"{cfg['arch']:<7} {cfg['batch_size']}")
    return "\n".join(rows)


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a reference model (recipes: gandiag train --list)",
                       description="Train a reference GAN; writes step-*.pt checkpoints and train_log.csv into --out.")
    p.add_argument("recipe", nargs="?", help="{gan,nsgan,wgan,wgangp}-{ring8,grid25,digits,stacked-digits}, "
                   "{loss}-{ring8,grid25,digits}-conditional, cyclegan-ring8, cyclegan-digits")
    p.add_argument("--list", action="store_true", help="print the recipes and their defaults, then exit")
    p.add_argument("--out", help="run folder for checkpoints and train_log.csv")
    p.add_argument("--steps", type=int, help="generator steps (default: the recipe's)")
    p.add_argument("--seed", type=int, help="seed (default 0); same seed, same checkpoints")
    p.add_argument("--checkpoint-every", type=int, help="save a checkpoint every K generator steps")
    p.add_argument("--resume", action="store_true", help="continue bit-exactly from the last checkpoint in --out")
    p.add_argument("--device", help="torch device (default cpu)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter, e.g. --set width=128 --set conditional=true")
    p.add_argument("--threads", type=int, default=None, metavar="N", help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def _threads(args: argparse.Namespace) -> int | None:
    return None if args.threads is None else check_threads(args.threads, "--threads")


def run_train(args: argparse.Namespace) -> int:
    from .recipes import make_config
    from .trainer import checkpoints, train

    if args.list:
        print(_recipe_table())
        return 0
    if not args.recipe or not args.out:
        raise GandiagInputError("give a RECIPE and --out DIR (recipes: gandiag train --list)")
    overrides: dict[str, object] = _parse_set(args.set)
    for key in ("steps", "seed", "checkpoint_every", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    cfg = make_config(args.recipe, overrides)
    if cfg.recipe.startswith("cyclegan"):  # two generators and a cycle loss: its own loop
        from .cyclegan import train_cyclegan as train
    written = train(cfg, args.out, resume=args.resume, progress=not args.quiet, threads=_threads(args))
    last = checkpoints(Path(args.out))[-1]
    print(f"{args.recipe}: wrote {len(written)} checkpoints to {args.out} (last: {last.name}, step {cfg.steps})")
    return 0


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    from .demo import DEMO_N, DEMO_RECIPES, DEMO_STEPS  # plain constants: importing them imports no torch

    p = sub.add_parser("demo", help="train two reference models, audit them, write a report",
                       description=f"Train {' and '.join(DEMO_RECIPES)} (they differ only in the generator's loss) "
                       "at the same time, audit both runs against ring8 and write the report (report.md, "
                       "report.html, report.csv, plots) into --out.")
    p.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--steps", type=int, default=None, help=f"generator steps per run (default {DEMO_STEPS})")
    p.add_argument("--n", type=int, default=DEMO_N, help=f"samples per checkpoint in the audit (default {DEMO_N})")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"torch intra-op threads for training and the audit (default: ${THREADS_ENV} if set, "
                        "else 1 per training run and torch's own count for the audit)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="runs trained at once, each in its own process (default: as many as the CPUs allow at "
                        "--threads each, at most 2); the checkpoints do not depend on it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run_demo(args.out, seed=args.seed, steps=args.steps, n=args.n, threads=_threads(args),
                         jobs=args.jobs, progress=not args.quiet)
