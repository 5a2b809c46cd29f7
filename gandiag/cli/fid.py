"""gandiag fid GENERATED REFERENCE: FID, KID, precision, recall, density, coverage in one line.

GENERATED and REFERENCE are folders of images (PNG, JPEG, ...; pixels scaled to [-1, 1]) or
.npy/.npz sample files of one sample shape; REFERENCE may also be a reference name (digits: its
1797 images; ring8, grid25, stacked-digits: --n samples, default 10,000, drawn with --seed). The features are chosen by that shape: the shipped
digits features for 8x8 grey images, Inception for other images when its weights file is given
(--inception-weights PATH or GANDIAG_INCEPTION_WEIGHTS), the samples themselves for vectors. The
reference side's features are kept in the feature cache (--no-cache: compute them every time),
so a second run against the same reference does not recompute them. --json prints a JSON object
instead of the line. Exit 0, or 2 with one line (unreadable image, no extractor for these images).
"""

from __future__ import annotations

import argparse
import json

from .options import add_threads_option, setting


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fid", help="FID, KID, precision/recall/density/coverage between two image folders",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("generated", metavar="GENERATED", help="folder of generated images, or a .npy/.npz sample file")
    p.add_argument("reference", metavar="REFERENCE",
                   help="folder of real images, a .npy/.npz sample file, or a reference name (digits, ring8, ...)")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="use a seeded subset of N samples from each side (default: all of them)")
    setting(p, "seed", type=int)
    setting(p, "inception_weights", metavar="PATH")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of one line")
    add_threads_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..features.folders import feature_statistics

    stats = feature_statistics(args.generated, args.reference, n=args.n, seed=args.seed,
                               inception_weights=args.inception_weights, cache=not args.no_cache)
    print(json.dumps(stats.as_dict()) if args.json else stats.line())
    return 0
