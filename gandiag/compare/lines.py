"""The WGAN paper's Example 1: parallel lines, where JS saturates and W1 keeps measuring.

Arjovsky, Chintala & Bottou 2017 ("Wasserstein GAN", ICML, Example 1 and Figure 1): with
Z ~ U[0, 1], P_0 is the distribution of (0, Z) and P_theta that of (theta, Z). Then

    W1(P_0, P_theta) = W2(P_0, P_theta) = |theta|,
    JS(P_0, P_theta) = log 2 for theta != 0, and 0 for theta = 0,

so JS gives no gradient in theta while W1 is continuous and linear. The sliced distance is
analytic too: the projection on the direction (cos a, sin a) shifts by theta cos a and keeps the
same law otherwise, so SW_2^2 = E[theta^2 cos^2 a] = theta^2 / 2 and SW_2 = |theta| / sqrt(2).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import GandiagInputError
from ..scoring.divergence_row import divergences

__all__ = ["DEFAULT_THETAS", "lines_samples", "lines_truth", "lines_sweep"]

DEFAULT_THETAS = (-1.0, -0.5, -0.25, -0.1, -0.05, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0)


def lines_samples(theta: float, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples (theta, Z), Z ~ U[0, 1] from ``numpy.random.default_rng(seed)``, shape (n, 2)."""
    z = np.random.default_rng(int(seed)).uniform(0.0, 1.0, int(n))
    return np.stack([np.full(int(n), float(theta)), z], axis=1)


def lines_truth(theta: float) -> dict[str, float]:
    """Analytic divergences between P_0 and P_theta (module docstring)."""
    a = abs(float(theta))
    return {"js_true": math.log(2.0) if a > 0 else 0.0, "w1_true": a, "w2_true": a, "sliced_w_true": a / math.sqrt(2.0)}


def lines_sweep(
    thetas: Iterable[float] = DEFAULT_THETAS,
    *,
    n: int = 2000,
    seed: int = 0,
    resamples: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per theta: every divergence between n samples of P_0 and of P_theta, and the truth.

    P_0 is sampled once (seed ``2 seed + 1``); each P_theta uses the same Z sample (seed
    ``2 seed + 2``), so the curves differ only through theta.
    """
    thetas = [float(t) for t in thetas]
    if not thetas or not all(math.isfinite(t) for t in thetas):
        raise GandiagInputError(f"--thetas: need one or more finite numbers, got {thetas}")
    if int(n) != n or n < 16:
        raise GandiagInputError(f"--n: need an integer >= 16, got {n!r}")
    real = lines_samples(0.0, n, 2 * seed + 1)
    rows = []
    for theta in tqdm(thetas, desc="lines", unit="theta", disable=not progress):
        fake = lines_samples(theta, n, 2 * seed + 2)
        rows.append({"theta": theta, "n": int(n), "seed": int(seed),
                     **divergences(real, fake, seed=seed, repeats=resamples), **lines_truth(theta)})
    return pd.DataFrame(rows)
