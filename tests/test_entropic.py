"""The debiased Sinkhorn divergence against POT's log-domain Sinkhorn, and its acceleration."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from scipy.spatial.distance import cdist

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.metrics import sinkhorn


def _ot_eps_pot(x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """OT_eps = <pi, C> + eps KL(pi | a x b) from POT's log-domain plan (an independent solver)."""
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    cost = cdist(x, y, "sqeuclidean")
    plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", numItermax=100_000, stopThr=1e-11)
    mask = plan > 0
    kl = float(np.sum(plan[mask] * np.log(plan[mask] / np.outer(a, b)[mask])))
    return float(np.sum(plan * cost) + eps * kl)


@pytest.mark.parametrize("name, stretch", [("ring8", 1.05), ("grid25", 1.0), ("ring8", 0.05)])
def test_sinkhorn_equals_the_divergence_from_pots_plans(name: str, stretch: float) -> None:
    ref = gandiag.reference(name)
    x = ref.sample(120, seed=1).numpy().astype(np.float64)
    y = ref.sample(100, seed=2).numpy().astype(np.float64) * stretch + (2.0 if stretch < 1 else 0.0)  # 0.05: collapsed near one mode
    eps = 0.05 * float(np.median(cdist(x, y, "sqeuclidean")))
    truth = _ot_eps_pot(x, y, eps) - 0.5 * _ot_eps_pot(x, x, eps) - 0.5 * _ot_eps_pot(y, y, eps)
    value = sinkhorn(x, y)
    assert value == pytest.approx(np.sqrt(max(truth, 0.0)), rel=1e-5, abs=1e-6)
    assert sinkhorn(x, y, anderson=0) == pytest.approx(value, rel=1e-6, abs=1e-7)


def test_anderson_needs_fewer_updates_than_overrelaxation(monkeypatch: pytest.MonkeyPatch) -> None:
    import gandiag.metrics.entropic as entropic

    ref = gandiag.reference("ring8")
    x, y = ref.sample(400, seed=1).numpy(), ref.sample(400, seed=2).numpy() * 1.05
    calls = {"n": 0}
    softmin = entropic._softmin

    def counted(*args):
        calls["n"] += 1
        return softmin(*args)

    monkeypatch.setattr(entropic, "_softmin", counted)
    counts = []
    for memory in (entropic.ANDERSON_MEMORY, 0):
        calls["n"] = 0
        sinkhorn(x, y, anderson=memory)
        counts.append(calls["n"])
    assert counts[0] < 0.6 * counts[1], counts


def test_sinkhorn_is_deterministic_and_checks_anderson() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 0.5
    assert sinkhorn(x, y) == sinkhorn(x, y)
    for bad in (-1, 1.5, True):
        with pytest.raises(GandiagInputError, match="anderson"):
            sinkhorn(x, y, anderson=bad)
