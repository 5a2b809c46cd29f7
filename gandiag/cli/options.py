"""Options shared by several commands.

Imports nothing heavy (no torch, numpy or pandas), so that ``gandiag --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..defaults import DEFAULTS, DEPRECATED, SETTINGS
from ..errors import GandiagInputError
from ..threads import THREADS_ENV

#: The latent priors (``gandiag.generators.LATENT_DISTRIBUTIONS``, named here without importing torch).
LATENT_CHOICES = ("normal", "uniform")
THREADS_HELP = (f"torch intra-op threads while the command runs (default: ${THREADS_ENV} if set, else torch's own "
                "count; the metrics use one thread for their small steps either way)")

if TYPE_CHECKING:
    from ..modes import FlagThresholds


def setting(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """Add the flag of setting ``name`` with its default and help from :data:`gandiag.defaults.SETTINGS`."""
    spec = SETTINGS[name]
    if isinstance(spec.default, bool):
        parser.add_argument(spec.flag, action="store_true", help=spec.help, **kwargs)
    else:
        parser.add_argument(spec.flag, default=spec.default, help=spec.help, **kwargs)


def add_latent_options(parser: argparse.ArgumentParser) -> None:
    """``--latent {normal,uniform}``, ``--latent-dim N``, ``--device``, ``--allow-torchscript``, ``--timeout``
    (README, "Load any generator")."""
    setting(parser, "latent", choices=LATENT_CHOICES)
    setting(parser, "latent_dim", type=int)
    setting(parser, "device")
    add_torchscript_option(parser)
    add_timeout_option(parser)


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """``--timeout SECONDS``: the time limit of loading each source and of drawing its samples."""
    setting(parser, "timeout", type=float, metavar="SECONDS")


def timeout(args: argparse.Namespace) -> float | None:
    """``--timeout`` checked (a one-line error naming the option), None for no limit."""
    from ..timeouts import check_timeout

    return check_timeout(args.timeout, "--timeout")


def add_torchscript_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-torchscript``: the only way a command loads a TorchScript archive."""
    setting(parser, "allow_torchscript")


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch intra-op threads while the command runs (:mod:`gandiag.threads`)."""
    parser.add_argument("--threads", type=int, default=None, metavar="N", help=THREADS_HELP)


def latent_kwargs(args: argparse.Namespace) -> dict:
    return dict(latent=args.latent, latent_dim=args.latent_dim, device=args.device,
                allow_torchscript=args.allow_torchscript, timeout=timeout(args))


def add_resamples_option(parser: argparse.ArgumentParser, *deprecated: str) -> None:
    """``--resamples K``, and the deprecated spellings (``--ci``, ``--repeats``) that still work."""
    setting(parser, "resamples", type=int, metavar="K")
    for old in deprecated:
        parser.add_argument(f"--{old}", type=int, default=None, metavar="K", dest=f"deprecated_{old}",
                            help=f"deprecated spelling of --resamples")


def resamples(args: argparse.Namespace) -> int:
    """``--resamples``, or a deprecated spelling of it (which says so once on stderr)."""
    value = args.resamples
    for old in DEPRECATED:
        given = getattr(args, f"deprecated_{old}", None)
        if given is not None:
            if value not in (None, DEFAULTS["resamples"]) and value != given:
                raise GandiagInputError(f"--{old} {given} and --resamples {value}: give --resamples only")
            print(f"gandiag: --{old} is deprecated; use --resamples (same meaning)", file=sys.stderr)
            value = given
    if value < 0:
        raise GandiagInputError(f"--resamples {value}: must be >= 0")
    return value


def add_scoring_options(parser: argparse.ArgumentParser, *, sources: bool = True) -> None:
    """What ``score``, ``audit`` and ``watch`` share: the SOURCEs (unless ``sources=False``), the
    reference, n, seed, metric selection, intervals, thresholds."""
    if sources:
        parser.add_argument("sources", nargs="+", metavar="SOURCE",
                            help="checkpoints (.pt), programs (.pt2), TorchScript (.pt, with --allow-torchscript), "
                                 "samples (.npy/.npz), run folders, folders of images")
    parser.add_argument("--reference", required=True, help="ring8, grid25, digits, stacked-digits, or a .npy/.npz/image folder")
    setting(parser, "n", type=int)
    setting(parser, "seed", type=int)
    setting(parser, "metrics")
    add_resamples_option(parser, "ci")
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="override a flag threshold, e.g. --threshold min_spread=0.3 (repeatable); "
                             "names: starved_ratio, min_spread, dominant_share, dominant_reference_max, hq_ratio, max_spread, "
                             "significance (the guard against chance, default 0.01; 0 or none turns it off)")
    setting(parser, "inception_weights", metavar="PATH")
    parser.add_argument("--no-floor", action="store_true", help="skip the real-vs-real row")
    parser.add_argument("--source", default=None, metavar="REF",
                        help="translation generators G: X -> Y: the source reference X their inputs are drawn from")
    parser.add_argument("--inverse", default=None, metavar="F",
                        help="translation generators: the inverse generator F: Y -> X (a .pt2 or checkpoint), for "
                        "cycle_error")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(parser)
    add_latent_options(parser)


def thresholds(pairs: list[str]) -> "FlagThresholds":
    """``--threshold name=value`` options as :class:`gandiag.modes.FlagThresholds` (errors name the option)."""
    from dataclasses import fields

    from ..errors import GandiagInputError
    from ..modes import FlagThresholds

    known = {f.name for f in fields(FlagThresholds)}
    values: dict[str, float | None] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if sep and name.startswith(CONDITIONAL_PREFIX):
            continue  # conditional_thresholds() reads these
        if not sep or name not in known:
            raise GandiagInputError(f"--threshold {pair!r}: use NAME=VALUE with NAME one of {', '.join(sorted(known))} "
                                    f"or, for conditional generators, {CONDITIONAL_PREFIX}NAME")
        try:
            values[name] = None if text.strip().lower() == "none" else float(text)
        except ValueError:
            raise GandiagInputError(f"--threshold {pair!r}: {text!r} is not a number") from None
    return FlagThresholds(**values)


CONDITIONAL_PREFIX = "conditional."


def conditional_thresholds(pairs: list[str]) -> dict:
    """``--threshold conditional.NAME=VALUE`` options as ``{"conditional_thresholds": ConditionalThresholds}``
    (empty when none is given), for the scorer."""
    from dataclasses import fields

    from ..conditional import ConditionalThresholds
    from ..errors import GandiagInputError

    known = {f.name for f in fields(ConditionalThresholds)}
    values: dict[str, float] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        name = name.strip()
        if not name.startswith(CONDITIONAL_PREFIX):
            continue
        key = name[len(CONDITIONAL_PREFIX):]
        if key not in known:
            raise GandiagInputError(f"--threshold {pair!r}: conditional thresholds are "
                                    f"{', '.join(CONDITIONAL_PREFIX + k for k in sorted(known))}")
        try:
            values[key] = float(text)
        except ValueError:
            raise GandiagInputError(f"--threshold {pair!r}: {text!r} is not a number") from None
    return {"conditional_thresholds": ConditionalThresholds(**values)} if values else {}


def run_audit(args: argparse.Namespace, **extra: Any):
    """Run :func:`gandiag.audit` with the shared options (and ``extra`` keywords); returns the Report."""
    from ..auditing import audit

    return audit(args.sources, args.reference, n=args.n, seed=args.seed, metrics=args.metrics, resamples=resamples(args),
                 thresholds=thresholds(args.threshold), inception_weights=args.inception_weights,
                 floor=not args.no_floor, progress=not args.quiet, **latent_kwargs(args), **translation(args),
                 **conditional_thresholds(args.threshold), **extra)


def translation(args: argparse.Namespace) -> dict:
    """``source``/``inverse`` for the scorer when ``--source``/``--inverse`` are given (translation generators)."""
    return {k: getattr(args, k) for k in ("source", "inverse") if getattr(args, k, None) is not None}
