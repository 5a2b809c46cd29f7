"""A score row is the same whether exact transport runs on a second thread or inline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

import gandiag
from gandiag.scoring import Scorer
from gandiag.threads import torch_threads


def test_row_equal_with_one_and_two_threads() -> None:
    fake = gandiag.reference("ring8").sample(600, seed=5).numpy() * 1.05
    fake[:40] = 7.0  # far off every mode: transport and the notes have work to do
    rows = []
    for threads in (1, 2):
        with torch_threads(threads):
            scorer = Scorer("ring8", n=600, seed=3, resamples=2, max_points=300, sinkhorn_points=200)
            rows.append(scorer(fake, source="x"))
    pd.testing.assert_series_equal(rows[0], rows[1])
    assert np.isfinite(rows[0]["w1"]) and rows[0]["w1"] > 0.1 and rows[0]["w2_ci_low"] <= rows[0]["w2"]
    assert "js/c2st" in rows[0]["notes"] or rows[0]["notes"] == rows[1]["notes"]


def test_kid_reference_side_computed_once_per_scorer() -> None:
    scorer = Scorer("digits", n=200, seed=0, metrics="features")
    fake = gandiag.reference("digits").sample(200, seed=9).numpy()
    first, second = scorer(fake), scorer(fake)
    assert len(scorer.reference_cache) == 1
    assert first["kid"] == second["kid"]


def _spy_on_prdc(monkeypatch) -> list[int]:
    """Record torch's thread count each time the Features runner computes precision/recall."""
    from gandiag.scoring import runners

    seen: list[int] = []
    original = runners.prdc

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(runners, "prdc", spy)
    return seen


def test_work_beside_the_transport_thread_runs_on_one_thread_fewer(monkeypatch) -> None:
    seen = _spy_on_prdc(monkeypatch)
    fake = gandiag.reference("ring8").sample(400, seed=5).numpy() * 1.05
    for threads in (2, 3):
        with torch_threads(threads):
            Scorer("ring8", n=400, seed=3, max_points=200, sinkhorn_points=100)(fake, source="x")
            assert torch.get_num_threads() == threads  # restored after the row
    # one core is the transport thread's, so the main thread's work takes one thread fewer
    assert seen == [1, 2]


def test_images_and_one_thread_keep_the_callers_thread_count(monkeypatch) -> None:
    seen = _spy_on_prdc(monkeypatch)
    digits = gandiag.reference("digits").sample(120, seed=9).numpy()
    ring = gandiag.reference("ring8").sample(400, seed=5).numpy()
    with torch_threads(2):  # images: their exact transport is not handed to a second thread
        Scorer("digits", n=120, seed=0)(digits, source="x")
    with torch_threads(1):  # no second thread at all
        Scorer("ring8", n=400, seed=3, max_points=200, sinkhorn_points=100)(ring, source="x")
    with torch_threads(2):  # vectors without exact transport: nothing runs beside
        Scorer("ring8", n=400, seed=3, metrics="features")(ring, source="x")
    assert seen == [2, 1, 2]
