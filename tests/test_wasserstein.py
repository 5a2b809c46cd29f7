"""Exact transport (w1, w2) and the debiased Sinkhorn divergence, against independent truths."""

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from gandiag.errors import GandiagInputError
from gandiag.metrics import (
    SubsampledWarning,
    TransportError,
    TransportWarning,
    sinkhorn,
    transport,
    w1,
    w2,
)


def test_w1_in_one_dimension_matches_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(300), rng.gamma(2.0, size=200)  # unequal sizes, different shapes
    assert w1(x, y) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-9)


def test_w2_between_gaussians_matches_the_closed_form():
    """W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) (Dowson & Landau 1982)."""
    rng = np.random.default_rng(1)
    m1, m2 = np.array([0.0, 0.0]), np.array([1.0, 0.5])
    s1, s2 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.5, -0.1], [-0.1, 1.5]])
    x, y = rng.multivariate_normal(m1, s1, 2500), rng.multivariate_normal(m2, s2, 2500)
    root = scipy.linalg.sqrtm(s1)
    truth = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(root @ s2 @ root)).real
    assert w2(x, y) ** 2 == pytest.approx(truth, rel=0.03)


def test_identical_sets_cost_exactly_zero():
    x = np.random.default_rng(2).standard_normal((300, 3))
    assert w1(x, x) == 0.0 and w2(x, x) == 0.0
    wide = np.random.default_rng(3).standard_normal((100, 300))  # BLAS distance path (d > 64)
    assert w1(wide, wide) < 1e-6


def test_translation_is_transported_by_the_shift():
    """For a translated copy, W2 = |v| (the shift is the optimal map), and so is the debiased
    Sinkhorn divergence: the cross terms of |x - y - v|^2 are absorbed by the potentials."""
    x = np.random.default_rng(4).standard_normal((400, 2))
    v = np.array([0.6, -0.8])
    assert w2(x, x + v) == pytest.approx(1.0, rel=1e-9)
    assert sinkhorn(x, x + v) == pytest.approx(1.0, rel=1e-4)
    assert sinkhorn(x, x) < 1e-4


def test_sinkhorn_grows_towards_w2_as_reg_shrinks():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((300, 2)), 0.5 * rng.standard_normal((300, 2)) + 0.3
    exact = w2(x, y)
    values = [sinkhorn(x, y, reg=r) for r in (1.0, 0.5, 0.1, 0.05)]
    assert values == sorted(values) and values[-1] < exact
    assert values[-1] == pytest.approx(exact, rel=0.02)


def test_a_non_converged_solver_is_never_a_silent_number():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((60, 2)), rng.standard_normal((60, 2)) + 1
    with pytest.raises(TransportError, match="iteration limit"):
        w1(x, y, num_iter_max=3)
    with pytest.warns(TransportWarning, match="no value reported"):
        result = transport(x, y, 2, num_iter_max=3, on_failure="warn")
    assert math.isnan(result.value) and not result.converged
    with pytest.raises(TransportError, match="did not converge"):
        sinkhorn(x, y, max_iter=2)
    assert transport(x, y, 1).converged


def test_subsampling_is_reported_and_seeded():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((300, 2)), rng.standard_normal((120, 2))
    with pytest.warns(SubsampledWarning, match="used 100 of 300 real and 100 of 120 fake"):
        result = transport(x, y, 1, max_points=100, seed=3)
    assert (result.n_real_used, result.n_fake_used, result.subsampled) == (100, 100, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SubsampledWarning)
        assert w1(x, y, max_points=100, seed=3) == result.value
        assert w1(x, y, max_points=100, seed=4) != result.value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when nothing is dropped
        transport(x, y, 1, max_points=300)


def test_torch_input_and_python_float():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    value = w1(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert type(value) is float and value == pytest.approx(w1(x, y), rel=1e-6)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda x: w1(x, x[:, :1]), "different dimensions"),
        (lambda x: w2(x, x, max_points=1), "max_points"),
        (lambda x: w1(x, x, on_failure="ignore"), "on_failure"),
        (lambda x: sinkhorn(x, x, reg=0), "reg must be positive"),
        (lambda x: sinkhorn(x, x, overrelaxation=2.5), "overrelaxation"),
        (lambda x: transport(x, x, 3), "p must be 1 or 2"),
    ],
)
def test_bad_input_is_one_clear_error(call, fragment):
    with pytest.raises(GandiagInputError, match=fragment):
        call(np.zeros((10, 2)))


def _gridded(rng, n, d, scale):
    """Samples on the 2**-20 grid: adding an offset up to 1e8 to them is exact in float64."""
    return np.round(rng.normal(scale=scale, size=(n, d)) * 2**20) / 2**20


@pytest.mark.parametrize("d", [2, 65, 256])
@pytest.mark.parametrize("offset", [1e4, 1e6, 1e8])
def test_transport_distances_do_not_move_with_the_origin(d, offset):
    """Issue 16, item 2: a common translation changes nothing (before, W1 = W2 = 0 at 1e8, d > 64)."""
    from gandiag.metrics import sinkhorn, sliced_w

    rng = np.random.default_rng(d)
    x, y = _gridded(rng, 120, d, 1.0), _gridded(rng, 100, d, 1.5) + 0.25
    assert np.array_equal((x + offset) - offset, x) and np.array_equal((y + offset) - offset, y)
    for metric in (w1, w2):
        assert metric(x + offset, y + offset) == pytest.approx(metric(x, y), rel=1e-9)
    sliced = sliced_w(x, y, n_projections=50, seed=1)
    assert sliced_w(x + offset, y + offset, n_projections=50, seed=1) == pytest.approx(sliced, rel=1e-9)
    base = sinkhorn(x, y)
    assert sinkhorn(x + offset, y + offset) == pytest.approx(base, rel=1e-6)
