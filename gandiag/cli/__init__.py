"""The ``gandiag`` command line (CONTRACT.md section 7).

Each command is a module under ``gandiag.cli`` with ``add_parser(subparsers)``, which adds its
sub-parser and sets ``func(args) -> int``. Commands that need trainers (``train``, ``demo``)
come from other packages through the entry-point group ``gandiag.commands`` (so gandiag never
imports ``reference_models`` by name). Bad input exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from typing import Sequence

from ..errors import GandiagInputError

BUILTIN_COMMANDS = ("sample", "score", "audit", "compare", "gate")
PLUGIN_GROUP = "gandiag.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gandiag", description="Diagnostics for trained GAN generators.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in BUILTIN_COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GandiagInputError as exc:
        print(f"gandiag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gandiag {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
