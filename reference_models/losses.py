"""GAN losses, computed stably from logits (or critic values).

Notation: D(x) = sigmoid(l(x)) with l the discriminator's logit; log sigmoid(l) = -softplus(-l)
and log(1 - sigmoid(l)) = -softplus(l), which never takes the log of 0.

* Minimax GAN (Goodfellow et al. 2014): D maximises E log D(x) + E log(1 - D(G(z))), i.e. minimises
  ``softplus(-l_real) + softplus(l_fake)``; G minimises E log(1 - D(G(z))) = ``-softplus(l_fake)``.
  This generator loss *saturates*: its gradient w.r.t. the logit is -sigmoid(l_fake), which
  vanishes when D confidently rejects the fakes (l_fake -> -inf).
* Non-saturating GAN (same paper, section 3): G minimises -E log D(G(z)) = ``softplus(-l_fake)``,
  whose gradient w.r.t. the logit, sigmoid(l_fake) - 1, tends to -1 in that regime.
* WGAN (Arjovsky et al. 2017): the critic minimises E f(G(z)) - E f(x) with its weights clipped
  to [-c, c] after every step; G minimises -E f(G(z)).
* WGAN-GP (Gulrajani et al. 2017): the same losses plus lambda E[(||grad f(x_hat)||_2 - 1)^2],
  x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] drawn per sample, the norm taken per sample.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("gan", "nsgan", "wgan", "wgangp")


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-E log D(x) - E log(1 - D(G(z))) = E softplus(-l_real) + E softplus(l_fake)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Saturating: E log(1 - D(G(z))) = -E softplus(l_fake)."""
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -E log D(G(z)) = E softplus(-l_fake)."""
    return F.softplus(-fake_logits).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E f(G(z)) - E f(x): minus the critic's estimate of W1 (Kantorovich-Rubinstein dual)."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E f(G(z))."""
    return -fake_scores.mean()


def gradient_norms(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor,
    *critic_args: torch.Tensor,
) -> torch.Tensor:
    """Per-sample ||grad_x f(x_hat)||_2 at x_hat = eps x + (1 - eps) G(z), kept differentiable.

    ``eps`` has one entry per sample (shape (n,)). Because f is applied row by row, the
    gradient of sum_i f(x_hat_i) w.r.t. x_hat_i is the gradient of f at x_hat_i alone.
    """
    shape = (-1,) + (1,) * (real.ndim - 1)
    x_hat = (eps.view(shape) * real + (1.0 - eps.view(shape)) * fake).requires_grad_(True)
    scores = critic(x_hat, *critic_args)
    (grads,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return grads.flatten(1).norm(2, dim=1)


def gradient_penalty(norms: torch.Tensor) -> torch.Tensor:
    """One-centred penalty E[(||grad f(x_hat)||_2 - 1)^2] from per-sample norms."""
    return ((norms - 1.0) ** 2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of ``module`` to [-clip, clip] in place (WGAN, after each critic step)."""
    for p in module.parameters():
        p.clamp_(-clip, clip)


def discriminator_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator/critic loss of recipe family ``loss`` (without the gradient penalty)."""
    if loss in ("gan", "nsgan"):
        return gan_discriminator_loss(real, fake)
    return wasserstein_critic_loss(real, fake)


def generator_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator loss of recipe family ``loss``."""
    return {"gan": minimax_generator_loss, "nsgan": nonsaturating_generator_loss}.get(
        loss, wasserstein_generator_loss
    )(fake)
