"""gandiag score SOURCE... --reference REF [--out FILE]: one row of metrics per checkpoint.

The table (the metric columns of README.md, "Audit a generator: score, flags, report", plus the
real-vs-real row) is printed, and written to --out by its suffix: .csv, .parquet or .json
(records), atomically. A SOURCE may be a folder of images (PNG, JPEG, ...), scored as generated
samples; the reference side's features are kept in the feature cache (--no-cache: recompute them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import GandiagInputError
from . import output_file, write_failed
from .options import add_scoring_options, run_audit

if TYPE_CHECKING:
    import pandas as pd

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".json": lambda frame, path: frame.to_json(path, orient="records", indent=1),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score generators against a reference: one row per checkpoint",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_options(p)
    p.add_argument("--out", default=None, metavar="FILE", help="write the table to FILE (.csv, .parquet or .json)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the caches of the reference side (its features, the real-vs-real row)")
    p.set_defaults(func=run)


def _writer(path: Path):
    """The writer for ``path``'s suffix, or the error naming the accepted ones."""
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise GandiagInputError(f"--out {path}: unknown suffix {path.suffix or '(none)'!r}; use .csv, .parquet or .json")
    return writer


def write_frame(frame: "pd.DataFrame", path: Path) -> Path:
    """Write ``frame`` by ``path``'s suffix (.csv, .parquet, .json), atomically."""
    from ..atomic import atomic_path

    writer = _writer(path)
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise GandiagInputError(f"--out {path}: writing parquet needs pyarrow (pip install pyarrow), "
                                    "or write .csv/.json instead") from None
    try:
        with atomic_path(path) as tmp:
            writer(frame, tmp)
    except OSError as exc:
        raise write_failed(path, exc) from exc
    return path


def run(args: argparse.Namespace) -> int:
    from ..auditing.report import filled_columns, untrusted_notes
    from ..features.choice import NO_EXTRACTOR
    from ..tables import markdown_table

    out = output_file(args.out) if args.out else None
    if out is not None:
        _writer(out)  # a bad suffix or a folder fails before any scoring
    report = run_audit(args, feature_cache=not args.no_cache, floor_cache=not args.no_cache)
    frame = report.frame
    for note in sorted({n for cell in frame.get("notes", ()) for n in str(cell).split("; ") if n.startswith(NO_EXTRACTOR)}):
        print(f"gandiag score: {note}", file=sys.stderr)  # why the feature columns are empty, and the fix
    for note in untrusted_notes(frame):  # n too small: "mode_dropping False" would mean little
        print(f"gandiag score: warning: {note}", file=sys.stderr)
    shown = [c for c in filled_columns(frame)
             if not c.endswith(("_ci_low", "_ci_high")) and c not in ("n", "seed", "run", "notes")]
    print(markdown_table(frame, shown), end="")
    if out is not None:
        print(f"wrote {write_frame(frame, out)}", file=sys.stderr)
    return 0
