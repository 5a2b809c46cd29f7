"""gandiag audit SOURCE... --reference REF [--out DIR]: score, detect, report.

Writes report.csv, report.md, report.html, runs.csv, mode_shares.csv and the plots into --out
(default gandiag-audit), and prints the findings. README.md, "Audit a generator: score, flags,
report", explains the columns and flags.

Every scored row is also kept in --out/scores.sqlite, keyed by the file's content, the step, the
reference, n, seed, metrics, resamples and thresholds: running the audit again scores only what
is new or changed (an interrupted audit resumes); --fresh scores everything again.

--workers N scores the checkpoints on N worker processes of an embedded Dask cluster, --scheduler
ADDRESS on an existing one (one task per checkpoint; the same report; README "Scale out on Dask").
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from .options import add_scoring_options, run_audit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="score generators, flag mode dropping/collapse, write a report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(p)
    p.add_argument("--out", default="gandiag-audit", metavar="DIR", help="report folder (default gandiag-audit)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the caches of the reference side (its features, "
                   "the real-vs-real row)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore the rows kept in OUT/scores.sqlite and the floor cache from earlier audits: "
                        "score everything again")
    dask = p.add_argument_group("scale out on Dask (pip install 'gandiag[dask]'; README \"Scale out on Dask\")")
    dask.add_argument("--workers", type=int, default=None, metavar="N",
                      help="score the checkpoints on a Dask cluster of N worker processes started on this machine")
    dask.add_argument("--threads-per-worker", type=int, default=1, metavar="T",
                      help="threads of each --workers process (default 1)")
    dask.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="score the checkpoints on the existing Dask cluster whose scheduler is at ADDRESS "
                           "(tcp://host:8786); its workers read the sources by path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import check_replaceable, folder_lock, output_folder
    from ..auditing.report import REPORT_FILES
    from ..auditing.store import STORE_FILES, STORE_NAME

    out = output_folder(args.out)
    with folder_lock(out), _client(args) as client:  # a second audit into the same --out fails at once
        check_replaceable(out, REPORT_FILES | STORE_FILES)
        extra = {} if client is None else {"client": client}
        report = run_audit(args, store=out / STORE_NAME, fresh=args.fresh, feature_cache=not args.no_cache,
                            floor_cache=not args.no_cache, **extra)
        written = report.save(out, plots=not args.no_plots, keep=tuple(STORE_FILES))
    print(report.summary_text())
    kept = report.settings.get("store") or {}
    if kept.get("reused"):
        print(f"reused {kept['reused']} rows kept in {out / STORE_NAME} (--fresh scores them again); "
              f"scored {kept['scored']}", file=sys.stderr)
    floors = report.settings.get("floor_cache") or {}
    if floors.get("hit"):
        print(f"real-vs-real row read from the floor cache ({floors['path']}; --no-cache scores it again)",
              file=sys.stderr)
    print(f"wrote {len(written)} files to {out}/ ({', '.join(p.name for p in written)})", file=sys.stderr)
    return 0


def _client(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The Dask client of --workers/--scheduler (gandiag.auditing.distributed), or no client."""
    if args.workers is None and args.scheduler is None:
        return contextlib.nullcontext()
    from ..auditing.distributed import open_client

    return open_client(workers=args.workers, threads_per_worker=args.threads_per_worker, scheduler=args.scheduler,
                       quiet=args.quiet)
