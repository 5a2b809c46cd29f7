"""A conditional ring8 generator scored at n = 10,000: conditional row against the unconditional row.

    .venv/bin/python benchmarks/bench_conditional.py [--repeats 3]

The issue's target (issue 13, "Performance"): scoring a class-conditional ``ring8`` generator with
its conditional columns (balanced labelled sampling, the 999-permutation independence test, the
per-class table with FID, KID and PRDC per class) costs at most 1.5x scoring the same network as an
unconditional generator (labels drawn from z), default metric set, reference set-up included.
Both cases run interleaved in fresh child processes (benchmarks/_harness.py); the ratio column is
conditional / unconditional.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import main  # noqa: E402


class SlightlyWrong(torch.nn.Module):
    """(z, y) -> ring8 class y at 1.05 x the radius (so the solvers do real work); latent 3, 8 classes."""

    def __init__(self) -> None:
        super().__init__()
        import gandiag

        ring = gandiag.reference("ring8")
        self.register_buffer("centres", ring.centres.clone() * 1.05)
        self.latent_dim, self.n_classes, self.std = 3, 8, ring.std

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.centres[y] + self.std * z[:, :2]


def _score(conditional: bool) -> float:
    import gandiag
    from gandiag.scoring import Scorer

    net = SlightlyWrong()
    if conditional:
        gen = net
    else:  # the same network, the label drawn from z: an unconditional generator
        gen = gandiag.generators.as_generator(
            lambda z: net(z, torch.clamp((torch.special.ndtr(z[:, 2]) * 8).long(), 0, 7)), latent_dim=3)
    row = Scorer("ring8", n=10_000).score(gen)
    return round(float(row.values["modes_captured"]), 3)


CASES = {"unconditional": lambda inputs: _score(False), "conditional": lambda inputs: _score(True)}


def make_inputs(folder: Path) -> None:
    np.save(folder / "unused.npy", np.zeros(1))


if __name__ == "__main__":
    main(CASES, make_inputs, ours="unconditional", grid=[{}], describe=__doc__.splitlines()[0])
