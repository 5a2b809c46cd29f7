"""gandiag compare: Jensen-Shannon against Wasserstein on the same work (README.md,
"Divergences: Jensen-Shannon against Wasserstein").

* gandiag compare lines [--thetas T ...] [--n N] [--seed S] [--out DIR] - the WGAN paper's
  Example 1 sweep with the analytic values;
* gandiag compare SOURCE... --reference REF [--n N] [--seed S] [--out DIR] - every divergence
  for each checkpoint, with Spearman rank correlations against step and between divergences.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GandiagInputError
from .options import add_resamples_option, add_threads_option, resamples, setting

LINES = "lines"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="compare divergences (JS, Wasserstein, Sinkhorn, FID) on the same work",
        description="'gandiag compare lines' runs the WGAN paper's parallel-lines example; "
        "'gandiag compare SOURCE... --reference REF' scores every checkpoint of a run with every divergence "
        "and ranks them against the training step and against each other.")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="'lines', or generator sources: checkpoints, sample files, run folders")
    p.add_argument("--reference", default=None, help="reference distribution (name or path); required with SOURCE")
    p.add_argument("--thetas", type=float, nargs="+", default=None, help="lines only: the theta values of the sweep")
    p.add_argument("--n", type=int, default=2000, help="samples per side (default 2000)")
    setting(p, "seed", type=int)
    add_resamples_option(p, "repeats")
    p.add_argument("--no-floor", action="store_true", help="skip the real-vs-real floor row")
    p.add_argument("--out", default=None, help="folder for the table (.csv, .md) and plot (.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from ..atomic import output_folder

    if args.n < 16:
        raise GandiagInputError(f"--n {args.n}: need at least 16 samples per side")
    args.resamples = resamples(args)
    if args.out is not None:
        output_folder(args.out)
    if args.sources[0] == LINES:
        if len(args.sources) > 1:
            raise GandiagInputError(f"compare lines takes no SOURCE arguments, got {' '.join(args.sources[1:])}")
        if args.reference is not None:
            raise GandiagInputError("--reference: not used by 'compare lines' (the lines example has its own P_0)")
    else:
        if args.reference is None:
            raise GandiagInputError("--reference: required when comparing SOURCEs (e.g. --reference ring8)")
        if args.thetas is not None:
            raise GandiagInputError("--thetas: only for 'gandiag compare lines'")


def run(args: argparse.Namespace) -> int:
    from .. import compare

    _check(args)
    progress = not args.quiet
    if args.sources[0] == LINES:
        thetas = compare.DEFAULT_THETAS if args.thetas is None else args.thetas
        frame = compare.lines_sweep(thetas, n=args.n, seed=args.seed, resamples=args.resamples, progress=progress)
        print(compare.markdown_table(frame, ["theta", "js", "js_true", "js_density", "w1", "w1_true", "sliced_w",
                                             "sliced_w_true", "sinkhorn"]), end="")
        written = compare.write_lines(frame, Path(args.out)) if args.out else []
    else:
        frame = compare.compare_sources(args.sources, args.reference, n=args.n, seed=args.seed,
                                        resamples=args.resamples, floor=not args.no_floor, progress=progress)
        correlations = compare.rank_correlations(frame)
        shown = ["source", "step", *[c for c in compare.ROW_COLUMNS if frame[c].notna().any()]]
        print(compare.markdown_table(frame, shown), end="")
        print("\nSpearman rank correlations (vs_step: against training step)\n")
        print(compare.markdown_table(correlations, digits=3), end="")
        written = compare.write_run(frame, correlations, Path(args.out)) if args.out else []
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
