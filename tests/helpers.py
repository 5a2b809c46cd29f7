"""Helpers shared by the tests: tiny configurations and small exportable generators."""

from __future__ import annotations

from pathlib import Path

import torch

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
