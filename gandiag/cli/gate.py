"""gandiag gate SOURCE --config FILE [--baseline SOURCE] [--junit FILE]: a CI quality gate.

Scores SOURCE (a checkpoint, program, TorchScript archive or sample file; a run folder is gated
on its last checkpoint) and, with --baseline, the baseline the same way, then judges the checks
of FILE: a pyproject.toml with [tool.gandiag.gate] or a TOML file with [gate] (README.md, "CI
quality gates"). Prints a table of checks; --junit writes JUnit XML (one test case per check);
when GITHUB_STEP_SUMMARY is set, a Markdown summary is appended to the file it names.

Exit status: 0 every check passed, 1 some check failed, 2 bad input (configuration, files) or an
error while scoring (then no JUnit file or summary is written).
"""

from __future__ import annotations

import argparse
import sys

from ..errors import GandiagInputError
from .options import add_threads_option, add_timeout_option, add_torchscript_option, timeout


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="CI quality gate: exit 1 when a checkpoint fails its checks",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="checkpoint (.pt), program (.pt2), TorchScript (.pt, with --allow-torchscript), "
                   "samples (.npy/.npz), or a run folder (its last checkpoint)")
    p.add_argument("--config", required=True, metavar="FILE",
                   help="pyproject.toml with [tool.gandiag.gate], or a TOML file with [gate]")
    p.add_argument("--baseline", default=None, metavar="SOURCE",
                   help="baseline checkpoint for the metrics' margin rules")
    p.add_argument("--junit", default=None, metavar="FILE", help="write JUnit XML, one test case per check")
    p.add_argument("--device", default="cpu", help="torch device to run generators on (default cpu)")
    add_threads_option(p)
    add_torchscript_option(p)
    add_timeout_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..gate.checks import run_gate
    from ..gate.config import load_config
    from ..gate.output import append_step_summary, format_table, write_junit

    config = load_config(args.config)
    try:
        result = run_gate(args.source, config, args.baseline, device=args.device,
                          allow_torchscript=args.allow_torchscript, timeout=timeout(args))
    except GandiagInputError:
        raise
    except Exception as exc:  # an error while scoring is exit 2, not a failed gate
        print(f"gandiag gate: error while scoring {args.source}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(format_table(result), end="")
    try:
        if args.junit:
            print(f"wrote {write_junit(result, args.junit)}", file=sys.stderr)
        append_step_summary(result)
    except OSError as exc:
        raise GandiagInputError(f"cannot write the gate's report: {exc}") from None
    return 0 if result.passed else 1
