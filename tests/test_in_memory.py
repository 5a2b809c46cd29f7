"""Any model in memory is scored like its exported program: nn.Module, callable, samples."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import gandiag
from gandiag import GandiagInputError
from gandiag.generators import NetworkGenerator, SampleFileGenerator, as_generator

from helpers import LinearGenerator, export_program

SETTINGS = dict(n=400, seed=3, metrics="modes,w1")


def _same_row(a: pd.Series, b: pd.Series) -> None:
    pd.testing.assert_series_equal(a.drop("source"), b.drop("source"), check_names=False)


@pytest.fixture(scope="module")
def program_row(tmp_path_factory):
    path = export_program(LinearGenerator(), tmp_path_factory.mktemp("prog") / "g.pt2", latent_dim=2)
    return gandiag.score(gandiag.load_generator(path), "ring8", **SETTINGS)


def test_module_with_latent_dim_attribute_scores_like_its_program(program_row):
    _same_row(gandiag.score(LinearGenerator(), "ring8", **SETTINGS), program_row)


def test_callable_scores_like_its_program(program_row):
    net = LinearGenerator()
    gen = as_generator(lambda z: net(z), latent_dim=2)
    assert isinstance(gen, NetworkGenerator)
    _same_row(gandiag.score(gen, "ring8", **SETTINGS), program_row)


def test_module_without_attribute_takes_latent_dim():
    module = torch.nn.Linear(2, 2)
    with pytest.raises(GandiagInputError, match="latent_dim="):
        as_generator(module)
    torch.testing.assert_close(as_generator(module, latent_dim=2).sample(8, seed=1),
                               as_generator(lambda z: module(z), latent_dim=2).sample(8, seed=1))


def test_module_runs_in_eval_mode_and_keeps_its_mode():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.9))
    module.train()
    a = as_generator(module, latent_dim=2).sample(16, seed=0)
    assert module.training  # restored
    torch.testing.assert_close(a, as_generator(module[0], latent_dim=2).sample(16, seed=0))  # dropout off


def test_samples_tensor_scores_like_the_program(program_row, tmp_path):
    program = gandiag.load_generator(export_program(LinearGenerator(), tmp_path / "g.pt2", latent_dim=2))
    x = program.sample(SETTINGS["n"], seed=SETTINGS["seed"])  # all of them: scoring only reorders them
    assert isinstance(as_generator(x), SampleFileGenerator)
    tensor_row = gandiag.score(x, "ring8", **SETTINGS)
    _same_row(tensor_row, gandiag.score(x.numpy(), "ring8", **SETTINGS))
    _same_row(tensor_row, program_row)


def test_unsupported_object_is_one_line_error_saying_how_to_wrap():
    with pytest.raises(GandiagInputError) as info:
        as_generator({"weights": 1})
    message = str(info.value)
    assert "\n" not in message
    assert "torch.nn.Module" in message and "callable" in message and "numpy array" in message
    assert "NetworkGenerator(fn, LatentSpec(latent_dim))" in message
    with pytest.raises(GandiagInputError, match="NetworkGenerator"):
        gandiag.score("not a model", "ring8", **SETTINGS)


def test_score_audit_and_gate_take_a_callable_or_module_with_latent_dim(program_row, tmp_path):
    from gandiag.gate import parse_config, run_gate

    net = LinearGenerator()
    fn = lambda z: net(z)  # noqa: E731
    _same_row(gandiag.score(fn, "ring8", latent_dim=2, **SETTINGS), program_row)
    report = gandiag.audit([fn, net], "ring8", latent_dim=2, floor=False, progress=False, **SETTINGS)
    assert list(report.frame["error"]) == ["", ""]
    for i in range(2):
        assert report.frame["w1"].iloc[i] == program_row["w1"]
    config = parse_config({"reference": "ring8", "n": SETTINGS["n"], "seed": SETTINGS["seed"],
                           "metrics": {"w1": {"max": 100.0}}, "latent_dim": 2})
    assert run_gate(fn, config).passed and run_gate(net, config).row["w1"] == program_row["w1"]
