"""KID against torch-fidelity's implementation and against the MMD^2 definition written out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from gandiag.errors import GandiagInputError
from gandiag.metrics import kid
from gandiag.metrics.kid import mmd2_polynomial


def _sets(n_real: int = 700, n_fake: int = 650, d: int = 32, shift: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n_real, d)), rng.standard_normal((n_fake, d)) * 1.1 + shift


def test_agrees_with_torch_fidelity_on_the_same_features_and_seed() -> None:
    real, fake = _sets()
    theirs = kid_features_to_metric(
        torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=15, kid_subset_size=300, rng_seed=7, verbose=False
    )
    mean, std = kid(real, fake, subsets=15, subset_size=300, seed=7, return_std=True)
    assert mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-10)
    assert std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-10)
    assert isinstance(kid(real, fake, subsets=15, subset_size=300, seed=7), float)


def test_one_subset_is_the_unbiased_mmd2_written_out() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((25, 5)), rng.standard_normal((25, 5)) + 0.5
    k = lambda a, b: (a @ b / 5 + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_polynomial(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_same_seed_same_value_and_shift_is_detected() -> None:
    real, fake = _sets(shift=0.0)
    a = kid(real, fake, subsets=10, subset_size=200, seed=3)
    assert a == kid(torch.from_numpy(real), torch.from_numpy(fake), subsets=10, subset_size=200, seed=3)
    assert a != kid(real, fake, subsets=10, subset_size=200, seed=4)
    shifted = kid(real, fake + 1.0, subsets=10, subset_size=200, seed=3)
    assert abs(a) < 0.05 < shifted


def test_too_few_samples_for_the_subset_size_is_a_clear_error() -> None:
    real, fake = _sets(n_real=1200, n_fake=90)
    with pytest.raises(GandiagInputError, match=r"kid: fake has 90 samples, fewer than subset_size=1000; pass subset_size <= 90"):
        kid(real, fake)
    with pytest.raises(GandiagInputError, match="subsets"):
        kid(real, fake, subsets=0, subset_size=50)
    with pytest.raises(GandiagInputError, match="real and fake"):
        kid(real, fake[:, :3], subset_size=50)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_low_dimension_monomial_path_equals_kernel_matrices(d):
    """kid's O(m) monomial sums (used when there are fewer monomials than samples) = the matrices."""
    from gandiag.metrics.kid import _mmd2, _mmd2_monomial, _monomials

    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(300, d)), rng.normal(0.3, 1.2, size=(300, d))
    for degree, gamma, coef0 in ((3, 1.0 / d, 1.0), (2, 0.7, -0.5)):
        powers, weights = _monomials(d, degree, gamma, coef0)
        fast = _mmd2_monomial(x, y, powers, weights, gamma, coef0, degree)
        slow = _mmd2(x, y, gamma, coef0, degree)
        assert fast == pytest.approx(slow, rel=1e-9, abs=1e-12)
