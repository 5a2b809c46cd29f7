"""Helpers shared by the tests: tiny configurations and small exportable generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import gandiag
from reference_models import make_config

TINY = {"width": 32, "batch_size": 64, "log_every": 1}


def tiny_config(recipe: str, **overrides):
    """``recipe`` with small nets so a run takes a second: tests the mechanics, not the quality."""
    return make_config(recipe, {**TINY, **overrides})


class LinearGenerator(torch.nn.Module):
    """z (latent_dim) -> x (out_dim): a generator small enough to export in tests."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.latent_dim = latent_dim
        self.lin = torch.nn.Linear(latent_dim, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.lin(z)


def export_program(module: torch.nn.Module, path: Path, latent_dim: int, static_batch: int | None = None) -> Path:
    """Save ``module`` as a ``torch.export`` program taking z of shape (batch, latent_dim)."""
    example = (torch.randn(static_batch or 4, latent_dim),)
    dynamic = None if static_batch else {"z": {0: torch.export.Dim("batch")}}
    torch.export.save(torch.export.export(module, example, dynamic_shapes=dynamic), path)
    return path


# Synthetic ring8 generators with known defects (test_audit.py, test_gate.py): the latent code picks
# a mode with given weights through the normal CDF of z_0 and places the sample at the mode centre
# plus scale x the mode std x (z_1, z_2).

UNIFORM = np.full(8, 1 / 8)


def mode_weights_without(missing):
    w = np.ones(8)
    w[list(missing)] = 0
    return w / w.sum()


def mode_weights_piled(mode, share):
    w = np.full(8, (1 - share) / 7)  # the others keep 0.3 / 7 = 0.043 > 1/4 x 1/8: not starved
    w[mode] = share
    return w


#: name -> (mode weights, std scale, the flags the contract implies)
DEFECTS = {
    "perfect": (UNIFORM, 1.0, set()),
    "missing": (mode_weights_without([2, 3, 5, 6, 7]), 1.0, {"mode_dropping"}),
    "piled": (mode_weights_piled(1, 0.7), 1.0, {"mode_collapse"}),
    "shrunk": (UNIFORM, 0.1, {"mode_collapse"}),
    "blurred": (UNIFORM, 4.0, {"low_quality"}),
}


class DefectGenerator(torch.nn.Module):
    """z (n, 3) ~ N(0, I) -> ring8 samples with the given mode weights and std scale."""

    def __init__(self, weights, scale: float) -> None:
        super().__init__()
        ring = gandiag.reference("ring8")
        self.register_buffer("edges", torch.as_tensor(np.cumsum(weights)[:-1], dtype=torch.float32))
        self.register_buffer("centres", ring.centres.clone())
        self.spread = float(scale * ring.std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = torch.bucketize(torch.special.ndtr(z[:, 0]), self.edges)
        return self.centres[k] + self.spread * z[:, 1:3]
