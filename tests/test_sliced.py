"""Streaming sliced Wasserstein against POT and against exact 1-D transport (scipy)."""

import numpy as np
import ot
import pytest
import scipy.stats
import torch

from gandiag.errors import GandiagInputError
from gandiag.metrics import random_projections, sliced_w


def _pair(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), 1.3 * rng.standard_normal((m, d)) + 0.2


@pytest.mark.parametrize("n, m, d, p", [(600, 600, 5, 2), (600, 451, 5, 2), (300, 700, 3, 1), (17, 5, 2, 3)])
def test_equals_pot_on_the_same_projections(n, m, d, p):
    x, y = _pair(n, m, d)
    proj = random_projections(d, 200, seed=3)
    ours = sliced_w(x, y, projections=proj, p=p)
    theirs = ot.sliced_wasserstein_distance(x, y, projections=proj, p=p)
    assert abs(ours - theirs) / theirs < 1e-6


def test_value_does_not_depend_on_the_block_size():
    x, y = _pair(500, 400, 8)
    values = [sliced_w(x, y, 100, seed=1, block_bytes=b) for b in (1, 50_000, 10**9)]
    assert max(values) - min(values) < 1e-12 * values[0]


def test_seeded_projections_are_the_default_ones_and_deterministic():
    x, y = _pair(300, 300, 4)
    a = sliced_w(x, y, n_projections=64, seed=7)
    assert a == sliced_w(x, y, n_projections=64, seed=7)
    assert a == sliced_w(x, y, projections=random_projections(4, 64, seed=7))
    assert a != sliced_w(x, y, n_projections=64, seed=8)
    proj = random_projections(4, 64, seed=7)
    np.testing.assert_allclose((proj**2).sum(0), 1.0)


def test_one_dimension_is_exact_w1_from_scipy():
    x, y = _pair(400, 250, 1)
    expected = scipy.stats.wasserstein_distance(x[:, 0], y[:, 0])
    assert sliced_w(x, y, n_projections=3, p=1) == pytest.approx(expected, rel=1e-12)


def test_identical_sets_and_torch_input():
    x, y = _pair(200, 200, 3)
    assert sliced_w(x, x) == 0.0
    assert sliced_w(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(sliced_w(x, y), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(real=np.zeros((5, 2)), fake=np.zeros((5, 3))), "different dimensions"),
        (dict(n_projections=0), "n_projections"),
        (dict(projections=np.ones((3, 4))), "projections"),
        (dict(p=0.5), "p must be"),
        (dict(fake=np.array([[np.nan, 0.0]])), "NaN"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, fragment):
    args = dict(real=np.zeros((5, 2)), fake=np.ones((5, 2)))
    args.update(kwargs)
    with pytest.raises(GandiagInputError, match=fragment):
        sliced_w(**args)
