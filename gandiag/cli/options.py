"""Options shared by several commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..generators import LATENT_DISTRIBUTIONS

if TYPE_CHECKING:
    from ..modes import FlagThresholds


def add_latent_options(parser: argparse.ArgumentParser) -> None:
    """``--latent {normal,uniform}`` and ``--latent-dim N`` (CONTRACT.md section 3)."""
    parser.add_argument("--latent", choices=LATENT_DISTRIBUTIONS, default=None,
                        help="latent prior: normal N(0, I) (default) or uniform U[-1, 1]")
    parser.add_argument("--latent-dim", type=int, default=None, help="override the latent dimension read from the source")
    parser.add_argument("--device", default="cpu", help="torch device to run generators on (default cpu)")
    add_torchscript_option(parser)


def add_torchscript_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-torchscript``: the only way a command loads a TorchScript archive."""
    parser.add_argument("--allow-torchscript", action="store_true",
                        help="load TorchScript archives; this RUNS CODE FROM THE FILE (it can read and write "
                             "files): only for files you trust")


def latent_kwargs(args: argparse.Namespace) -> dict:
    return dict(latent=args.latent, latent_dim=args.latent_dim, device=args.device,
                allow_torchscript=args.allow_torchscript)


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """What ``score`` and ``audit`` share: the reference, n, seed, metric selection, intervals, thresholds."""
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="checkpoints (.pt), programs (.pt2), TorchScript (.pt, with --allow-torchscript), samples (.npy/.npz), run folders")
    parser.add_argument("--reference", required=True, help="ring8, grid25, digits, stacked-digits, or a .npy/.npz/image folder")
    parser.add_argument("--n", type=int, default=None,
                        help="samples per side (default 10000; half the stored samples for digits and files)")
    parser.add_argument("--seed", type=int, default=0, help="seed for samples and estimators (default 0)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metric or family names (divergences, features, modes, ndb); "
                             "default: all that apply offline")
    parser.add_argument("--ci", type=int, default=0, metavar="K",
                        help="add _ci_low/_ci_high columns from K resamples (default 0: none)")
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="override a flag threshold, e.g. --threshold min_spread=0.3 (repeatable); "
                             "names: starved_ratio, min_spread, dominant_share, dominant_reference_max, hq_ratio, significance")
    parser.add_argument("--inception-weights", default=None, metavar="PATH",
                        help="Inception weights file for image references other than digits "
                             "(default: $GANDIAG_INCEPTION_WEIGHTS)")
    parser.add_argument("--no-floor", action="store_true", help="skip the real-vs-real row")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
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
        if not sep or name not in known:
            raise GandiagInputError(f"--threshold {pair!r}: use NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            values[name] = None if text.strip().lower() == "none" else float(text)
        except ValueError:
            raise GandiagInputError(f"--threshold {pair!r}: {text!r} is not a number") from None
    return FlagThresholds(**values)


def run_audit(args: argparse.Namespace):
    """Run :func:`gandiag.audit` with the shared options; returns the Report."""
    from ..auditing import audit

    return audit(args.sources, args.reference, n=args.n, seed=args.seed, metrics=args.metrics, ci=args.ci,
                 thresholds=thresholds(args.threshold), inception_weights=args.inception_weights,
                 floor=not args.no_floor, progress=not args.quiet, **latent_kwargs(args))
