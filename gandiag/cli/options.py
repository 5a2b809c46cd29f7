"""Options shared by several commands."""

from __future__ import annotations

import argparse

from ..generators import LATENT_DISTRIBUTIONS


def add_latent_options(parser: argparse.ArgumentParser) -> None:
    """``--latent {normal,uniform}`` and ``--latent-dim N`` (CONTRACT.md section 3)."""
    parser.add_argument("--latent", choices=LATENT_DISTRIBUTIONS, default=None,
                        help="latent prior: normal N(0, I) (default) or uniform U[-1, 1]")
    parser.add_argument("--latent-dim", type=int, default=None, help="override the latent dimension read from the source")
    parser.add_argument("--device", default="cpu", help="torch device to run generators on (default cpu)")


def latent_kwargs(args: argparse.Namespace) -> dict:
    return dict(latent=args.latent, latent_dim=args.latent_dim, device=args.device)
