"""The ``gandiag`` command line (README.md, "Two commands" and the sections of each command).

Each command is a module under ``gandiag.cli`` with ``add_parser(subparsers)``, which adds its
sub-parser and sets ``func(args) -> int``. Commands that need trainers (``train``, ``demo``)
come from other packages through the entry-point group ``gandiag.commands`` (so gandiag never
imports ``reference_models`` by name). Building the parser imports no torch, numpy or pandas
(each command imports what it needs when it runs), so ``gandiag --help``, ``gandiag CMD --help``
and ``gandiag --version`` answer at once.

``--threads N`` (or ``GANDIAG_THREADS``) sets torch's intra-op threads while a command runs
(:mod:`gandiag.threads`); without it scoring keeps torch's count (the metrics limit their own).

:func:`main` is the one place where failures become exit codes: the options every command shares
(``--seed``, ``--n``, ``--latent-dim``, ``--device``, ``--out``, ``--junit``) are checked before
the command runs, and any exception the command raises is printed as one line on stderr with exit
status 2 (130 after Ctrl-C). ``--debug`` (or ``GANDIAG_DEBUG=1``) re-raises it with its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..errors import GandiagInputError
from ..threads import resolve_threads, torch_threads

BUILTIN_COMMANDS = ("sample", "score", "audit", "watch", "best", "fid", "compare", "gate")
PLUGIN_GROUP = "gandiag.commands"
DEBUG_ENV = "GANDIAG_DEBUG"
DEBUG_HELP = f"on an error, show the full traceback instead of one line (also {DEBUG_ENV}=1)"
#: Longest error line printed (messages are one line; a pathological one is cut).
MESSAGE_LIMIT = 4000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gandiag", description="Diagnostics for trained GAN generators.",
        epilog="Run 'gandiag COMMAND --help' for a command's options. README.md explains each command "
               "(sections 'Two commands', 'Audit a generator', 'CI quality gates').")
    parser.add_argument("--version", action="version", version=f"gandiag {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in BUILTIN_COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin breaks its own command only, not --help or the others
            _unavailable(sub, ep.name, ep.value, exc)
    for command in sub.choices.values():  # `gandiag COMMAND ... --debug` works too
        if not any("--debug" in action.option_strings for action in command._actions):
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _unavailable(sub: argparse._SubParsersAction, name: str, where: str, exc: Exception) -> None:
    """Register plugin command ``name`` whose parser could not be loaded: running it says why."""
    reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    p = sub.add_parser(name, help=f"unavailable: {where} could not be loaded ({reason})", add_help=True)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run(args: argparse.Namespace) -> int:
        raise GandiagInputError(f"command {name!r} ({where}) could not be loaded: {reason}")

    p.set_defaults(func=run)


def output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a file to write; an existing folder there is an input error naming ``option``."""
    out = Path(path)
    if out.is_dir():
        raise GandiagInputError(f"{option} {path}: is a folder; give a file name, e.g. {out / ('out' + out.suffix)}")
    return out


def check_writable(path: str | os.PathLike, option: str) -> None:
    """Refuse, before any work, an output ``path`` whose folder (or nearest existing ancestor) is not writable."""
    target = Path(path)
    folder = target if target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise GandiagInputError(f"{option} {path}: {folder} exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else "permission denied"
        raise GandiagInputError(f"{option} {path}: cannot write into {folder} ({why})")


def write_failed(path: str | os.PathLike, exc: OSError, option: str = "--out") -> GandiagInputError:
    """The one-line error for an output that could not be written (full disk, I/O error, lost permission)."""
    from .._arrays import one_line

    reason = exc.strerror or one_line(exc, 200) or type(exc).__name__
    with contextlib.suppress(OSError):
        if exc.errno is None and shutil.disk_usage(Path(path).parent).free < 2**20:
            reason += "; the file system is full"
    return GandiagInputError(f"{option} {path}: cannot write it ({reason}); nothing was written")


def check_arguments(args: argparse.Namespace) -> None:
    """The options several commands share, checked before the command runs; errors name the option."""
    from .._arrays import check_budget
    from ..generators import check_device, check_n, check_seed
    from ..references import REFERENCE_NAMES, reference

    if getattr(args, "seed", None) is not None:
        check_seed(args.seed, "--seed")
    if getattr(args, "latent_dim", None) is not None:
        check_n(args.latent_dim, "--latent-dim")
    if getattr(args, "n", None) is not None:
        n = check_n(args.n, "--n")
        name = getattr(args, "reference", None)
        shape = reference(name).shape if name in REFERENCE_NAMES else None
        check_budget(n * math.prod(shape or (1,)) * 4, f"--n {n}: {n} samples" + (f" of shape {shape}" if shape else ""),
                     hint="ask for fewer samples")
    if getattr(args, "device", None) is not None:
        check_device(args.device, "--device")
    for option in ("out", "junit"):
        if getattr(args, option, None) is not None:
            check_writable(getattr(args, option), f"--{option}")


def describe(exc: BaseException) -> str:
    """The one line printed for ``exc``."""
    from .._arrays import one_line

    if isinstance(exc, GandiagInputError):
        return one_line(exc, MESSAGE_LIMIT)
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        return one_line(f"{where + ': ' if where else ''}{exc.strerror}", MESSAGE_LIMIT)
    if isinstance(exc, MemoryError):
        return f"out of memory ({one_line(exc, 200) or 'MemoryError'}); ask for fewer samples (--n)"
    return one_line(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", MESSAGE_LIMIT)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input or any other error, 130 Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        check_arguments(args)
        with torch_threads(resolve_threads(getattr(args, "threads", None))):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"gandiag {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"gandiag {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
