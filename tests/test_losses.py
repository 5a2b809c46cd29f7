"""Losses on hand-computed logits, gradient penalty and weight clipping."""

from __future__ import annotations

import math

import pytest
import torch

from reference_models import losses


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_discriminator_loss_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # -mean log sigmoid(real) - mean log(1 - sigmoid(fake))
    expected = (_softplus(-2.0) + _softplus(1.0)) / 2 + (_softplus(0.5) + _softplus(-3.0)) / 2
    assert losses.gan_discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)
    by_probability = -(math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(1)))) / 2 - (
        math.log(1 - 1 / (1 + math.exp(-0.5))) + math.log(1 - 1 / (1 + math.exp(3)))
    ) / 2
    assert losses.gan_discriminator_loss(real, fake).item() == pytest.approx(by_probability, rel=1e-6)


def test_generator_losses_by_hand():
    fake = torch.tensor([0.5, -3.0])
    assert losses.minimax_generator_loss(fake).item() == pytest.approx(-(_softplus(0.5) + _softplus(-3.0)) / 2, rel=1e-6)
    assert losses.nonsaturating_generator_loss(fake).item() == pytest.approx((_softplus(-0.5) + _softplus(3.0)) / 2, rel=1e-6)


def _logit_grad(loss_fn, value: float) -> float:
    logit = torch.tensor([value], requires_grad=True)
    loss_fn(logit).backward()
    return float(logit.grad)


def test_saturating_and_nonsaturating_gradients_differ_as_theory_says():
    # When D confidently rejects fakes (logit -> -inf), d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0
    # (saturates), while d/dl -log sigmoid(l) = sigmoid(l) - 1 -> -1 (Goodfellow et al. 2014, sec. 3).
    for l in (-2.0, -6.0, -12.0):
        sig = 1 / (1 + math.exp(-l))
        assert _logit_grad(losses.minimax_generator_loss, l) == pytest.approx(-sig, rel=1e-5)
        assert _logit_grad(losses.nonsaturating_generator_loss, l) == pytest.approx(sig - 1, rel=1e-5)
    assert abs(_logit_grad(losses.minimax_generator_loss, -12.0)) < 1e-5
    assert _logit_grad(losses.nonsaturating_generator_loss, -12.0) < -0.99999
    # Both push the logit up (descent direction), and agree at the logit where sigmoid = 1/2.
    assert _logit_grad(losses.minimax_generator_loss, 0.0) == pytest.approx(_logit_grad(losses.nonsaturating_generator_loss, 0.0))


def test_stable_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for value in (losses.gan_discriminator_loss(big, big), losses.minimax_generator_loss(big),
                  losses.nonsaturating_generator_loss(big)):
        assert torch.isfinite(value)


def test_wasserstein_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    assert losses.wasserstein_critic_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(0.0)


def test_gradient_penalty_zero_for_unit_norm_critic():
    w = torch.tensor([0.6, -0.8])  # ||w|| = 1, so ||grad (w . x)|| = 1 everywhere
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    norms = losses.gradient_norms(lambda x: x @ w, real, fake, torch.rand(16))
    torch.testing.assert_close(norms, torch.ones(16))
    assert losses.gradient_penalty(norms).item() == pytest.approx(0.0, abs=1e-12)
    norms2 = losses.gradient_norms(lambda x: 3 * (x @ w), real, fake, torch.rand(16))
    assert losses.gradient_penalty(norms2).item() == pytest.approx(4.0, rel=1e-6)


def test_gradient_penalty_is_per_sample():
    # f(x) = ||x||^2 / 2 has gradient x, so each norm is ||x_hat_i|| with x_hat_i = e_i r_i + (1 - e_i) f_i.
    real = torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 1.0], [-2.0, 2.0]])
    eps = torch.tensor([0.5, 0.25, 1.0])
    norms = losses.gradient_norms(lambda x: 0.5 * (x**2).sum(1), real, fake, eps)
    expected = torch.tensor([0.5, 1.5, math.sqrt(8.0)])  # (0.5, 0), (0, 1.5), (2, 2)
    torch.testing.assert_close(norms, expected)
    assert losses.gradient_penalty(norms).item() == pytest.approx(float(((expected - 1) ** 2).mean()), rel=1e-6)
    # a penalty on the norm of the *batch* gradient would be a different number
    batch_norm = float(torch.linalg.norm(expected))
    assert abs((batch_norm - 1) ** 2 - losses.gradient_penalty(norms).item()) > 0.1


def test_gradient_penalty_is_differentiable_in_critic_parameters():
    lin = torch.nn.Linear(2, 1)
    norms = losses.gradient_norms(lambda x: lin(x).squeeze(1), torch.randn(8, 2), torch.randn(8, 2), torch.rand(8))
    losses.gradient_penalty(norms).backward()
    assert lin.weight.grad is not None and torch.any(lin.weight.grad != 0)


def test_clip_weights():
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.mul_(100)
    losses.clip_weights(lin, 0.01)
    assert all(p.abs().max() <= 0.01 for p in lin.parameters())
    assert float(lin.weight.detach().abs().max()) == pytest.approx(0.01)
