"""Invariants every registered metric must keep (scikit-learn's metrics/tests/test_common.py idea).

Each metric of :mod:`gandiag.metrics.registry` is run through the same checks, so a new metric is
covered by registering it: numpy and torch inputs give the same value, float32 and float64 agree,
the same seed gives the same value, a second sample of the reference sits on the right side of a
clearly broken generator in the spec's direction of "worse", and intervals exist exactly where
the spec says. Truths for each metric (closed forms, peers' values) stay in the per-module tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.metrics.registry import MetricSpec, get_spec, metric_names, metric_specs, register
from gandiag.schema import METRIC_COLUMNS, interval_columns
from gandiag.scoring import Scorer
from gandiag.scoring.runners import RUNNERS, check_producers

N = 400
ALL = metric_names()
#: The metrics of unconditional rows; the conditional family's invariants (same checks, on conditional
#: generators) are in tests/test_conditional_scoring.py.
SPECS = tuple(s for s in metric_specs() if s.condition is None)


def _broken(n: int, seed: int) -> np.ndarray:
    """ring8 with 5 of 8 modes dropped and every mode three times too wide: worse on every metric."""
    ref = gandiag.reference("ring8")
    x = ref.sample(4 * n, seed=seed).numpy().astype(np.float64)
    modes, _ = ref.assign_modes(x)
    keep = x[np.isin(modes, [0, 1, 2])][:n]
    centres = np.stack([2 * np.cos(2 * np.pi * np.arange(8) / 8), 2 * np.sin(2 * np.pi * np.arange(8) / 8)], 1)
    m, _ = ref.assign_modes(keep)
    return centres[m] + 3.0 * (keep - centres[m])


@pytest.fixture(scope="module")
def rows():
    scorer = Scorer("ring8", n=N, seed=3, metrics=ALL)
    other = gandiag.reference("ring8").sample(N, seed=99).numpy().astype(np.float64)
    return {
        "same": Scorer("ring8", n=N, seed=3, metrics=ALL, resamples=2)(other),  # intervals do not move the values
        "same_torch32": scorer(torch.from_numpy(other.astype(np.float32))),
        "same_numpy32": scorer(other.astype(np.float32)),
        "same_again": scorer(other),
        "broken": scorer(_broken(N, seed=5)),
    }


def test_registry_is_the_contract():
    assert metric_names(default_only=True) == METRIC_COLUMNS
    assert len(set(ALL)) == len(ALL)
    check_producers()
    produced = [c for r in RUNNERS for c in r.columns]
    assert sorted(produced) == sorted(ALL)


def test_registration_refuses_duplicates_and_bad_specs():
    with pytest.raises(ValueError, match="already registered"):
        register(MetricSpec("w1", "divergences", "higher", "subsample", "W1"))
    with pytest.raises(ValueError, match="family"):
        MetricSpec("new", "nosuch", "higher", "subsample", "new")
    with pytest.raises(ValueError, match="worse"):
        MetricSpec("new", "ndb", "sideways", "none", "new")
    with pytest.raises(GandiagInputError, match="unknown metric 'nosuch'"):
        get_spec("nosuch")
    with pytest.raises(GandiagInputError, match=r"unknown metric 'kidd' \(did you mean kid\?\); known metrics: js, "):
        get_spec("kidd")


def test_a_runner_without_a_registered_column_is_caught():
    class Stray(type(RUNNERS[0])):
        columns = ("not_registered",)

    with pytest.raises(ImportError, match="not registered"):
        check_producers((*RUNNERS, Stray()))
    with pytest.raises(ImportError, match="2 producers"):
        check_producers((*RUNNERS, RUNNERS[0]))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_numpy_torch_and_precision_agree(spec, rows):
    ref = rows["same"][spec.name]
    assert isinstance(ref, (int, float)) and math.isfinite(ref), f"{spec.name} = {ref!r}"
    for key in ("same_torch32", "same_numpy32"):
        assert rows[key][spec.name] == pytest.approx(ref, rel=1e-4, abs=1e-4), key


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_same_seed_same_value(spec, rows):
    a, b = rows["same"][spec.name], rows["same_again"][spec.name]
    assert a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.worse], ids=lambda s: s.name)
def test_a_broken_generator_is_worse_in_the_registered_direction(spec, rows):
    good, bad = float(rows["same"][spec.name]), float(rows["broken"][spec.name])
    if spec.worse == "higher":
        assert bad > good
    elif spec.worse == "lower":
        assert bad < good
    else:  # from1
        assert abs(bad - 1) > abs(good - 1)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_intervals_exist_where_the_spec_says(spec, rows):
    low, high = interval_columns(spec.name)
    row = rows["same"]
    if spec.has_interval:
        assert low in row.index and row[low] <= row[high]
    else:
        assert low not in row.index


@pytest.mark.parametrize("bad, words", [
    (np.full((N, 2), np.nan), "NaN"),
    (np.zeros(N), "shape"),
])
def test_bad_samples_are_refused_by_name(bad, words):
    with pytest.raises(GandiagInputError, match=words):
        gandiag.score(bad, "ring8", n=N, metrics="w1")


def test_too_small_n_is_refused_by_name():
    with pytest.raises(GandiagInputError, match="--n"):
        Scorer("ring8", n=1, metrics="w1")
