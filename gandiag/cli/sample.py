"""``gandiag sample SOURCE --n N --seed S --out FILE.npy``: draw samples from any generator source."""

from __future__ import annotations

import argparse

from ..errors import GandiagInputError
from . import output_file, write_failed
from .options import add_latent_options, add_threads_option, latent_kwargs


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a generator source into a .npy file",
                       description="Load SOURCE (checkpoint, .pt2 program, TorchScript archive, .npy/.npz) "
                       "and save n samples to a .npy file.")
    p.add_argument("source", help="generator source (README, 'Load any generator and draw samples'); "
                   "a folder uses its last checkpoint")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--reference", default=None, help="check the sample shape against this reference")
    p.add_argument("--out", required=True, help="output .npy file")
    p.add_argument("--labels", type=int, default=None, metavar="C",
                   help="class-conditional generators: draw class C only (default: classes drawn uniformly)")
    add_threads_option(p)
    add_latent_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..atomic import atomic_path
    from ..loading import Run, load_generator

    out = output_file(args.out)
    if out.suffix != ".npy":
        raise GandiagInputError(f"--out {out}: must end in .npy")
    gen = load_generator(args.source, reference=args.reference, **latent_kwargs(args))
    if isinstance(gen, Run):
        gen = gen.load(len(gen) - 1)
    options = {} if args.labels is None else {"labels": args.labels}  # out of range: one line, exit 2
    x = gen.sample(args.n, seed=args.seed, **options).numpy()  # checked: finite, rank 2 or 4, images in [-1, 1]
    try:
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x)
    except OSError as exc:
        raise write_failed(out, exc) from exc
    print(f"{out}: {x.shape[0]} samples of shape {tuple(x.shape[1:])} from {gen.source} (seed {args.seed})")
    return 0
