"""gandiag watch RUN_DIR --reference REF [--every SECONDS] [--out DIR]: follow a training run.

Scores each new checkpoint of RUN_DIR once it is completely written, prints one line per
checkpoint, and an ALERT line when a flag's onset is confirmed (raised on --confirm consecutive
checkpoints, default 2) or mode hopping starts. The report in --out (default gandiag-watch) is
rewritten after each checkpoint; its rows are kept in --out/scores.sqlite, shared with
`gandiag audit RUN_DIR --out DIR`, so nothing is scored twice.

Ends at --until-step N, at the first confirmed --exit-on rule (exit status 1, so a training
script can stop), or with Ctrl-C (exit 130; the report on disk is complete). --exit-on takes a
flag name (mode_collapse), any (every flag), or a bound as in the gate's [gate.metrics.NAME]
table: fid.max=20, coverage.min=0.5 (repeatable).
"""

from __future__ import annotations

import argparse
import sys

from .options import add_scoring_options, latent_kwargs, resamples, thresholds


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="follow a training run: score each new checkpoint, alert on confirmed flags",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder a trainer is writing checkpoints into")
    add_scoring_options(p, sources=False)
    p.add_argument("--every", type=float, default=10.0, metavar="SECONDS", help="seconds between looks (default 10)")
    p.add_argument("--out", default="gandiag-watch", metavar="DIR", help="report folder (default gandiag-watch)")
    p.add_argument("--confirm", type=int, default=2, metavar="K",
                   help="consecutive checkpoints that confirm a flag's onset or an --exit-on rule (default 2)")
    p.add_argument("--exit-on", action="append", default=[], metavar="RULE",
                   help="exit 1 at the first confirmed RULE: a flag, 'any', or METRIC.max=V / METRIC.min=V (repeatable)")
    p.add_argument("--until-step", type=int, default=None, metavar="N", help="stop after a checkpoint of step N or later")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--fresh", action="store_true", help="ignore rows kept in OUT/scores.sqlite: score everything again")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the caches of the reference side "
                   "(its features, the real-vs-real row)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..auditing.watch import watch

    outcome = watch(args.run_dir, args.reference, out=args.out, every=args.every, confirm=args.confirm,
                    exit_on=args.exit_on, until_step=args.until_step, fresh=args.fresh, floor=not args.no_floor,
                    floor_cache=not args.no_cache,
                    plots=not args.no_plots,
                    echo=lambda line: print(line, flush=True), n=args.n, seed=args.seed, metrics=args.metrics,
                    resamples=resamples(args), thresholds=thresholds(args.threshold),
                    inception_weights=args.inception_weights, feature_cache=not args.no_cache, **latent_kwargs(args))
    print(f"watched {outcome.scored} checkpoints of {args.run_dir} ({outcome.reason}); report in {args.out}/",
          file=sys.stderr)
    return 1 if outcome.stop is not None else 0
