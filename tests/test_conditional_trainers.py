"""Conditional reference trainers (issue 13, item 2): class-conditional twins and the cyclegan recipe.

The learned maps are checked against truths known by construction: a conditional ring8 generator
must put class k on mode k (label_accuracy), and the cyclegan generator must rotate ring8 by pi/16
(map_accuracy: outputs within 3 std of R x), its inverse undo it (cycle_error).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import tiny_config

import gandiag
from gandiag.cli import main
from gandiag.conditional_loading import TranslationGenerator
from reference_models import checkpoints, make_config, train
from reference_models.cyclegan import rotated_ring8, train_cyclegan


def test_the_recipes_are_listed(capsys):
    assert main(["train", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("nsgan-ring8-conditional", "wgangp-grid25-conditional", "nsgan-digits-conditional", "cyclegan-ring8"):
        assert name in listed
    assert make_config("nsgan-grid25-conditional").conditional is True


def test_a_conditional_ring8_generator_learns_to_obey_the_label(tmp_path):
    cfg = tiny_config("nsgan-ring8-conditional", steps=300, checkpoint_every=300, width=64, log_every=50)
    train(cfg, tmp_path, progress=False)
    gen = gandiag.load_generator(checkpoints(tmp_path)[-1])
    assert gen.n_classes == 8
    row = gandiag.score(gen, "ring8", n=800, metrics="modes")
    assert row["label_accuracy"] > 0.95 and row["label_mi"] > 0.9 * math.log(8)
    assert not row["condition_ignored"]
    untrained = gandiag.score(gandiag.load_generator(checkpoints(tmp_path)[0]), "ring8", n=800, metrics="modes")
    assert untrained["label_accuracy"] < 0.5


def test_a_conditional_digits_run_is_scored_as_conditional(tiny_digits_run):
    gen = gandiag.load_generator(checkpoints(tiny_digits_run)[-1])
    assert gen.n_classes == 10
    result = gandiag.scoring.Scorer("digits", n=200, metrics="modes").score(gen)
    assert result.classes.shape[0] == 10 and result.confusion.shape == (10, 10)
    assert 0 <= result.values["label_accuracy"] <= 1


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cyclegan")
    train_cyclegan(make_config("cyclegan-ring8", {"steps": 600, "checkpoint_every": 600}), out)
    return out


def test_a_trained_cyclegan_learns_the_known_rotation(cyclegan_run):
    gen = gandiag.load_generator(checkpoints(cyclegan_run)[-1])
    assert isinstance(gen, TranslationGenerator) and gen.inverse is not None
    target = gen.target_reference
    assert np.allclose(target.centres.numpy(), rotated_ring8().centres.numpy())
    row = gandiag.score(gen, target, n=1000, metrics="modes")
    # Within 3 std of R x for most inputs. A GAN's outcome at a few hundred steps depends on the seed and
    # on the platform's float rounding: at 600 steps seeds 0-5 gave 1.0, 0.89, 0.88, 0.52, 0.73, 0.88
    # (at 300 steps 0.15-1.0, and seed 0 read 0.93 on one machine, 0.75 on another). The bound keeps
    # the claim "the known rotation, not a permutation of modes", far from the untrained 0.0.
    assert row["map_accuracy"] > 0.5
    assert row["input_dependence"] > 0.9 and not row["condition_ignored"]
    assert row["cycle_error"] < 0.1 and abs(row["output_diversity"] - 1) < 0.15
    start = gandiag.score(gandiag.load_generator(checkpoints(cyclegan_run)[0]), target, n=1000, metrics="modes")
    assert start["map_accuracy"] < 0.05


def test_cyclegan_is_deterministic_and_resumes(tmp_path):
    cfg = make_config("cyclegan-ring8", {"steps": 4, "checkpoint_every": 2, "width": 16})
    train_cyclegan(cfg, tmp_path / "a")
    train_cyclegan(make_config("cyclegan-ring8", {"steps": 2, "checkpoint_every": 2, "width": 16}), tmp_path / "b")
    train_cyclegan(cfg, tmp_path / "b", resume=True)
    a = torch.load(checkpoints(tmp_path / "a")[-1], weights_only=True)
    b = torch.load(checkpoints(tmp_path / "b")[-1], weights_only=True)
    for key in ("generator", "discriminator"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert all(torch.equal(a["translation"]["inverse"]["generator"][k], b["translation"]["inverse"]["generator"][k])
               for k in a["translation"]["inverse"]["generator"])
    with pytest.raises(gandiag.GandiagInputError, match="--resume"):
        train_cyclegan(cfg, tmp_path / "a")


def test_gandiag_train_runs_the_cyclegan_recipe(tmp_path, capsys):
    assert main(["train", "cyclegan-ring8", "--out", str(tmp_path), "--steps", "2", "--checkpoint-every", "2",
                 "--set", "width=16", "--quiet"]) == 0
    assert [p.name for p in checkpoints(tmp_path)] == ["step-0000000.pt", "step-0000002.pt"]
    assert (tmp_path / "train_log.csv").exists()
