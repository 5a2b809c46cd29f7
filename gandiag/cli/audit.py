"""gandiag audit SOURCE... --reference REF [--out DIR]: score, detect, report.

Writes report.csv, report.md, report.html, runs.csv, mode_shares.csv and the plots into --out
(default gandiag-audit), and prints the findings. README.md, "Audit a generator: score, flags,
report", explains the columns and flags.
"""

from __future__ import annotations

import argparse
import sys

from .options import add_scoring_options, run_audit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="score generators, flag mode dropping/collapse, write a report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(p)
    p.add_argument("--out", default="gandiag-audit", metavar="DIR", help="report folder (default gandiag-audit)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import folder_lock, output_folder

    out = output_folder(args.out)
    with folder_lock(out):  # a second audit into the same --out fails at once, before any scoring
        report = run_audit(args)
        written = report.save(out, plots=not args.no_plots)
    print(report.summary_text())
    print(f"wrote {len(written)} files to {out}/ ({', '.join(p.name for p in written)})", file=sys.stderr)
    return 0
