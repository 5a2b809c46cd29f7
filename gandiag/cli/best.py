"""gandiag best RUN_DIR --reference REF [--metric fid]: which checkpoint to keep.

Scores the checkpoints (with 95% intervals: --resamples defaults to 10 here) and prints, per run,
every checkpoint ranked by --metric (default: fid, else w2, sliced_w, ... whichever the reference
has), marking the best, the checkpoints *not significantly worse* (their interval reaches the
best one's, as the gate's baseline rule with margin 0) and the recommendation: the best of those
that raises no flag (README.md, "Watching training"). --out FILE writes the table (.csv or
.json); --store DIR reuses and extends the rows kept in DIR/scores.sqlite (an audit's --out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import add_scoring_options, run_audit

BEST_RESAMPLES = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("best", help="the best checkpoint of a run, the ties within noise, and the recommendation",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(p)
    p.set_defaults(resamples=BEST_RESAMPLES)
    p.add_argument("--metric", default=None, help="the metric to rank by (default: the first of fid, w2, sliced_w, "
                   "w1, sinkhorn, kid, js, mode_kl with a value)")
    p.add_argument("--out", default=None, metavar="FILE", help="write the ranked table to FILE (.csv or .json)")
    p.add_argument("--store", default=None, metavar="DIR", help="reuse and extend the rows kept in DIR/scores.sqlite")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..auditing.best import best_by_run, best_checkpoints, check_rank_metric
    from ..auditing.store import STORE_NAME
    from .score import write_frame

    check_rank_metric(args.metric)  # before scoring: a misspelt --metric costs no audit
    store = None if args.store is None else Path(args.store) / STORE_NAME
    report = run_audit(args, store=store)
    frame = report.frame
    choices = best_by_run(frame, args.metric) or {"": best_checkpoints(frame, args.metric)}
    tables = []
    for run_name, choice in choices.items():
        table = choice.table.copy()
        table.insert(0, "run", run_name)
        tables.append(table)
        print(f"\n{run_name or 'sources'}: {choice.describe()}")
        shown = table.drop(columns=["run"]).copy()
        for col in ("best", "tied", "recommended"):
            shown[col] = shown[col].map({True: "yes", False: ""})
        print(shown.to_string(index=False))
    print(f"\nrule: {next(iter(choices.values())).rule}")
    if args.out:
        print(f"wrote {write_frame(pd.concat(tables, ignore_index=True), Path(args.out))}", file=sys.stderr)
    return 0
