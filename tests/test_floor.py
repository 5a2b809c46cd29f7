"""One real-vs-real floor: the same seed gives the same floor row in score, audit and compare."""

from __future__ import annotations

import numpy as np
import pytest

import gandiag
from gandiag.compare import compare_sources
from gandiag.metrics import w1
from gandiag.metrics.intervals import real_vs_real
from gandiag.references import reference_pair
from gandiag.schema import REAL_VS_REAL
from gandiag.scoring import Scorer

DIVERGENCES = ["js", "w1", "w2", "sliced_w", "sinkhorn"]


def test_floor_rows_agree_across_commands(tmp_path):
    reference, n, seed = "ring8", 300, 7
    real, second = reference_pair(gandiag.reference(reference), n, seed)
    assert not np.array_equal(real.numpy(), second.numpy())
    np.save(tmp_path / "g.npy", second.numpy())  # a "generator" that is the floor's own second sample
    scorer_floor = Scorer(reference, n=n, seed=seed, metrics="divergences").floor()
    audit = gandiag.audit([tmp_path / "g.npy"], reference, n=n, seed=seed, metrics="divergences", progress=False)
    audit_floor = audit.frame.set_index("source").loc[REAL_VS_REAL]
    compared = compare_sources([tmp_path / "g.npy"], reference, n=n, seed=seed).set_index("source")
    for m in DIVERGENCES:
        assert audit_floor[m] == pytest.approx(scorer_floor[m], rel=0, abs=0), m
        assert compared.loc[REAL_VS_REAL, m] == pytest.approx(scorer_floor[m], rel=0, abs=0), m
    # the same pair, through the interval module's helper
    assert real_vs_real(w1, reference, n, seed=seed) == pytest.approx(scorer_floor["w1"], rel=1e-12)


def test_stored_references_split_one_permutation():
    ref = gandiag.reference("digits")
    floor = Scorer("digits", n=200, seed=5, metrics="w1").floor()
    assert real_vs_real(w1, ref, 200, seed=5) == pytest.approx(floor["w1"], rel=1e-12)
    real, second = reference_pair(ref, 400, 3)
    flat = lambda t: {row.tobytes() for row in t.reshape(len(t), -1).numpy()}  # noqa: E731
    assert not flat(real) & flat(second)
    with pytest.raises(gandiag.GandiagInputError, match="--n 1000"):
        reference_pair(ref, 1000, 0)
