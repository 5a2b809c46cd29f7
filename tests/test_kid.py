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
    from gandiag.metrics.kid import _mmd2, _mmd2_monomial, _monomial_rows, _monomials

    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(300, d)), rng.normal(0.3, 1.2, size=(300, d))
    for degree, gamma, coef0 in ((3, 1.0 / d, 1.0), (2, 0.7, -0.5)):
        powers, weights = _monomials(d, degree, gamma, coef0)
        rows = [_monomial_rows(v, powers, gamma, coef0, degree) for v in (x, y)]
        fast = _mmd2_monomial(rows[0], rows[1], weights, len(x))
        slow = _mmd2(x, y, gamma, coef0, degree)
        assert fast == pytest.approx(slow, rel=1e-9, abs=1e-12)


def _relu_features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.maximum(rng.standard_normal((n, d)) @ mix + shift, 0.0)


def _textbook_kid(real: np.ndarray, fake: np.ndarray, subsets: int, m: int, seed: int) -> tuple[float, float]:
    """float64 kernel matrices on torch-fidelity's subsets; also the mean kernel value (the scale)."""
    from gandiag.metrics.kid import _mmd2

    rng = np.random.RandomState(seed)
    d = real.shape[1]
    values = [_mmd2(real[rng.choice(len(real), m, replace=False)], fake[rng.choice(len(fake), m, replace=False)],
                    1.0 / d, 1.0, 3) for _ in range(subsets)]
    scale = float(np.mean((real[:m] @ fake[:m].T / d + 1.0) ** 3))
    return float(np.mean(values)), scale


@pytest.mark.parametrize("d", [64, 512])
def test_float32_features_stay_float32_within_the_stated_tolerance(d: int) -> None:
    """Tolerance (module docstring): within 1e-7 x the mean kernel value of the float64 computation."""
    real = _relu_features(1200, d, 0.0, 1).astype(np.float32)
    fake = _relu_features(1100, d, 0.05, 2).astype(np.float32)
    ours = kid(real, fake, subsets=6, subset_size=500, seed=2020)
    truth, scale = _textbook_kid(real.astype(np.float64), fake.astype(np.float64), 6, 500, 2020)
    assert abs(ours - truth) <= 1e-7 * scale
    assert ours != kid(real.astype(np.float64), fake.astype(np.float64), subsets=6, subset_size=500, seed=2020)
    assert ours == kid(torch.from_numpy(real), torch.from_numpy(fake), subsets=6, subset_size=500, seed=2020)
    theirs = kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=6,
                                    kid_subset_size=500, rng_seed=2020, verbose=False)
    # torch-fidelity sums its float32 kernel matrices in float32: further from the truth than ours
    assert abs(theirs["kernel_inception_distance_mean"] - truth) <= 1e-6 * scale
    assert abs(ours - truth) <= abs(theirs["kernel_inception_distance_mean"] - truth) + 1e-12


def test_symmetric_product_path_equals_the_kernel_matrices_in_float64() -> None:
    from gandiag.metrics.kid import _mmd2

    x, y = _relu_features(300, 40, 0.0, 3), _relu_features(300, 40, 0.2, 4)
    for degree, gamma, coef0 in ((3, 1.0 / 40, 1.0), (2, 0.3, -0.5), (4, 0.05, 2.0)):
        assert mmd2_polynomial(x, y, degree=degree, gamma=gamma, coef0=coef0) == pytest.approx(
            _mmd2(x, y, gamma, coef0, degree), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_real_cache_gives_the_same_numbers_and_is_used(dtype):
    """A kept real_cache serves the real-real sums: same value bit for bit, the sums stored once per options."""
    from gandiag.metrics.kid import _mmd2

    real = _relu_features(300, 24, 0.0, 1).astype(dtype)
    fakes = [_relu_features(300, 24, shift, 2 + i).astype(dtype) for i, shift in enumerate((0.0, 0.2))]
    cache: dict = {}
    for fake in fakes:
        plain = kid(real, fake, subsets=5, subset_size=100, seed=3)
        assert kid(real, fake, subsets=5, subset_size=100, seed=3, real_cache=cache) == plain
        assert kid(real, fake, subsets=5, subset_size=100, seed=3, real_cache=cache) == plain
    assert len(cache) == 1
    # the cached sums are the real subsets' sums: one subset of all rows equals the matrices
    one: dict = {}
    value = kid(real[:100], fakes[1][:100], subsets=1, subset_size=100, real_cache=one)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    assert value == pytest.approx(_mmd2(real[:100].astype(np.float64), fakes[1][:100].astype(np.float64),
                                        1 / 24, 1.0, 3), rel=tol, abs=tol)
    kid(real, fakes[0], subsets=5, subset_size=50, seed=3, real_cache=cache)  # other options: a second entry
    assert len(cache) == 2
