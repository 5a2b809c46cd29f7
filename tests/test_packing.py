"""PacGAN packing (issue 19): shapes, what a packed discriminator sees, errors, the trainer's use."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gandiag
from gandiag import GandiagInputError
from reference_models import checkpoints, make_config, train
from reference_models.losses import gradient_norms
from reference_models.nets import Maxout, MLPDiscriminator, Packed

from helpers import tiny_config


def test_packing_concatenates_consecutive_vectors_and_images():
    x = torch.arange(12.0).view(6, 2)
    packed = Packed(nn.Identity(), 3).packed(x)
    assert packed.shape == (2, 6)
    assert torch.equal(packed[1], torch.cat([x[3], x[4], x[5]]))
    images = torch.randn(4, 3, 8, 8)
    p = Packed(nn.Identity(), 2).packed(images)
    assert p.shape == (2, 6, 8, 8)
    assert torch.equal(p[1, :3], images[2]) and torch.equal(p[1, 3:], images[3])


def test_packed_discriminator_sees_m_samples_per_row():
    torch.manual_seed(0)
    inner = nn.Linear(4, 1)  # f(x_a, x_b) = w . (x_a, x_b) + c: one logit per pair
    D = Packed(inner, 2)
    x = torch.randn(6, 2)
    out = D(x).squeeze(1)
    w, c = inner.weight.detach()[0], inner.bias.detach()[0]
    expected = torch.stack([w[:2] @ x[2 * i] + w[2:] @ x[2 * i + 1] + c for i in range(3)])
    assert out.shape == (3,)
    torch.testing.assert_close(out, expected)
    moved = x.clone()
    moved[3] += 1.0  # the second sample of pair 1: only that row's logit changes
    delta = D(moved).squeeze(1) - out
    assert delta[0] == 0 and delta[2] == 0 and delta[1] != 0


def test_batch_not_divisible_by_pack_is_a_one_line_error():
    with pytest.raises(GandiagInputError, match="divisible by 4") as exc:
        Packed(MLPDiscriminator(in_dim=8, width=8, depth=1), 4)(torch.randn(10, 2))
    assert "\n" not in str(exc.value)
    with pytest.raises(GandiagInputError, match="pack=2: batch_size 101") as exc:
        make_config("pacgan2-ring8", {"batch_size": "101"})
    assert "\n" not in str(exc.value)
    with pytest.raises(GandiagInputError, match="conditional"):
        make_config("gan-ring8-conditional", {"pack": "2"})


def test_maxout_is_the_max_over_pieces():
    torch.manual_seed(1)
    layer = Maxout(3, 4, 5)
    x = torch.randn(7, 3)
    full = x @ layer.linear.weight.T + layer.linear.bias
    expected = torch.stack([full[:, 5 * j:5 * j + 5].max(1).values for j in range(4)], 1)
    torch.testing.assert_close(layer(x), expected)


def test_gradient_penalty_is_per_packed_sample():
    """A linear critic f(y) = w . y on packed y in R^{2m} has ||grad f|| = ||w|| for every packed row."""
    inner = nn.Linear(4, 1)
    D = Packed(inner, 2)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    norms = gradient_norms(lambda y: inner(y).squeeze(1), D.packed(real), D.packed(fake), torch.rand(4))
    assert norms.shape == (4,)
    torch.testing.assert_close(norms, inner.weight.detach().norm().expand(4))


@pytest.mark.parametrize("recipe,pack", [("nsgan-ring8", 2), ("wgangp-ring8", 2), ("gan-digits", 2)])
def test_packed_runs_record_the_packing_and_resume_bit_exactly(tmp_path, recipe, pack):
    extra = {"width": 8} if recipe.endswith("digits") else {}
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(tiny_config(recipe, steps=4, checkpoint_every=2, pack=pack, **extra), full, progress=False)
    train(tiny_config(recipe, steps=2, checkpoint_every=2, pack=pack, **extra), cut, progress=False)
    train(tiny_config(recipe, steps=4, checkpoint_every=2, pack=pack, **extra), cut, resume=True, progress=False)
    a, b = (torch.load(checkpoints(run)[-1], weights_only=True) for run in (full, cut))
    record = a["architecture"]["discriminator"]
    assert record["pack"] == pack
    first = "inner.net.0.weight" if "mlp" in record["name"] else "inner.conv.0.weight"
    assert a["discriminator"][first].shape[1] == pack * (2 if "mlp" in record["name"] else 1)
    for key in ("generator", "discriminator"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), (key, name)


def test_pacgan_recipes_use_the_papers_pair(tmp_path):
    cfg = make_config("pacgan4-grid25", {"steps": "1", "checkpoint_every": "1"})
    assert (cfg.pack, cfg.batch_size, cfg.loss, cfg.beta1) == (4, 400, "nsgan", 0.8)
    train(cfg, tmp_path / "run", progress=False)
    ckpt = torch.load(checkpoints(tmp_path / "run")[-1], weights_only=True)
    d = ckpt["architecture"]["discriminator"]
    assert d["kwargs"] == {"in_dim": 8, "width": 64, "depth": 3, "n_classes": 0, "maxout": 5} and d["pack"] == 4
    assert ckpt["discriminator"]["inner.net.0.linear.weight"].shape == (320, 8)  # 64 units x 5 pieces, 4 x 2 inputs
    assert ckpt["architecture"]["kwargs"]["width"] == 128 and "batchnorm" not in ckpt["architecture"]["kwargs"]


def test_generator_batchnorm_option_loads_and_samples(tmp_path):
    """PacGAN's own G has BatchNorm before each ReLU: the record names it and gandiag samples in eval mode."""
    cfg = make_config("pacgan2-ring8", {"steps": "2", "checkpoint_every": "2", "g_batchnorm": "true", "width": "16"})
    train(cfg, tmp_path / "run", progress=False)
    path = checkpoints(tmp_path / "run")[-1]
    assert torch.load(path, weights_only=True)["architecture"]["kwargs"]["batchnorm"] is True
    x = gandiag.load_generator(path).sample(10, seed=0)
    assert torch.equal(x[:4], gandiag.load_generator(path).sample(4, seed=0))  # eval mode: no batch statistics
