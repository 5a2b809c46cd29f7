"""A score row is the same whether exact transport runs on a second thread or inline."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
