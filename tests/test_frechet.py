"""Frechet distance and FID against independent truths: closed forms, scipy sqrtm, torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from gandiag.errors import GandiagInputError
from gandiag.metrics import fid, frechet_distance


def _textbook(mu1, s1, mu2, s2) -> float:
    """The formula as usually written: scipy sqrtm of the product (pytorch-fid without eps)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


def _features(seed: int, n: int, d: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mix) * scale + shift


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_agrees_with_scipy_sqrtm_textbook() -> None:
    s_r, s_f = _stats(_features(0, 3000, 48)), _stats(_features(1, 2500, 48, 1.2, 0.1))
    ours = frechet_distance(*s_r, *s_f)
    assert isinstance(ours, float)
    assert _rel(ours, _textbook(*s_r, *s_f)) < 1e-6


def test_agrees_with_torch_fidelity_on_the_same_features() -> None:
    real, fake = _features(2, 3000, 64), _features(3, 2800, 64, 0.9, -0.2)
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (real, fake)]
    theirs = fid_statistics_to_metric(stats[0], stats[1], verbose=False)["frechet_inception_distance"]
    assert _rel(frechet_distance(stats[0]["mu"], stats[0]["sigma"], stats[1]["mu"], stats[1]["sigma"]), theirs) < 1e-6
    assert _rel(fid(real, fake), theirs) < 1e-6
    assert _rel(fid(torch.from_numpy(real).float(), torch.from_numpy(fake).float()), theirs) < 1e-4


def test_closed_form_for_commuting_covariances() -> None:
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: d^2 = |m1 - m2|^2 + sum (sqrt a - sqrt b)^2.
    rng = np.random.default_rng(4)
    d = 30
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(m1, (q * a) @ q.T, m2, (q * b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-10)


def test_fid_of_gaussian_samples_matches_the_closed_form() -> None:
    # Two Gaussians with commuting covariances; 200k samples each: sampling error ~ 1e-3 relative.
    rng = np.random.default_rng(5)
    d, n = 4, 200_000
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = np.array([1.0, 2.0, 0.5, 1.5]), np.array([2.0, 1.0, 1.0, 0.25])
    m1, m2 = np.zeros(d), np.array([0.5, -0.5, 0.0, 1.0])
    real = m1 + (rng.standard_normal((n, d)) * np.sqrt(a)) @ q.T
    fake = m2 + (rng.standard_normal((n, d)) * np.sqrt(b)) @ q.T
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid(real, fake) == pytest.approx(expected, rel=0.02)


def test_singular_covariances_are_exact_not_nan() -> None:
    # Rank-1 and non-commuting: S1 = u u^T, S2 = v v^T, tr sqrt(S1 S2) = |u . v|.
    rng = np.random.default_rng(6)
    d = 20
    u, v = rng.standard_normal(d), rng.standard_normal(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((m1 - m2) ** 2) + u @ u + v @ v - 2 * abs(u @ v)
    got = frechet_distance(m1, np.outer(u, u), m2, np.outer(v, v))
    assert np.isfinite(got) and got == pytest.approx(expected, rel=1e-9)
    # Disjoint supports (commuting, both singular): tr sqrt = 0 exactly.
    s1, s2 = np.diag([1.0, 2.0, 0.0, 0.0]), np.diag([0.0, 0.0, 3.0, 4.0])
    assert frechet_distance(np.zeros(4), s1, np.zeros(4), s2) == pytest.approx(10.0, abs=1e-12)


@pytest.mark.parametrize("n_real, n_fake, d", [(20, 30, 64), (30, 20, 64), (15, 500, 32), (64, 64, 64)])
def test_fid_with_fewer_samples_than_dimensions(n_real: int, n_fake: int, d: int) -> None:
    real, fake = _features(7, n_real, d), _features(8, n_fake, d, 1.1, 0.3)
    value = fid(real, fake)
    assert isinstance(value, float) and np.isfinite(value)
    assert _rel(value, frechet_distance(*_stats(real), *_stats(fake))) < 1e-6
    assert value == pytest.approx(fid(fake, real), rel=1e-10)


def test_fid_of_a_set_with_itself_is_zero_even_when_n_below_d() -> None:
    x = _features(9, 40, 256, 3.0)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-9)
    y = _features(10, 600, 16)
    assert fid(y, y) == pytest.approx(0.0, abs=1e-9)


def test_degenerate_features_never_give_nan_or_complex() -> None:
    rng = np.random.default_rng(11)
    const = np.ones((50, 8))  # zero covariance
    dup = rng.standard_normal((50, 4)).repeat(2, axis=1)  # collinear columns
    for real, fake in [(const, const + 1), (dup, dup[::-1] * 2), (const, rng.standard_normal((50, 8)))]:
        value = fid(real, fake)
        assert isinstance(value, float) and np.isfinite(value) and value >= 0.0
    assert fid(const, const + 1) == pytest.approx(8.0)


def test_optional_jitter_is_added_to_both_covariances() -> None:
    s_r, s_f = _stats(_features(12, 400, 10)), _stats(_features(13, 400, 10, 2.0))
    eye = 0.01 * np.eye(10)
    expected = _textbook(s_r[0], s_r[1] + eye, s_f[0], s_f[1] + eye)
    assert frechet_distance(*s_r, *s_f, eps=0.01) == pytest.approx(expected, rel=1e-8)


def test_bad_inputs_name_the_input() -> None:
    with pytest.raises(GandiagInputError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(GandiagInputError, match="mu1 and mu2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(GandiagInputError, match="real and fake"):
        fid(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(GandiagInputError, match="fake: FID needs at least 2"):
        fid(np.zeros((10, 3)), np.zeros((1, 3)))
    with pytest.raises(GandiagInputError, match="NaN"):
        fid(np.full((10, 3), np.nan), np.zeros((10, 3)))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))])
def test_torch_route_on_a_device_agrees(device: str) -> None:
    s_r, s_f = _stats(_features(14, 800, 40)), _stats(_features(15, 700, 40, 1.5, 0.2))
    assert _rel(frechet_distance(*s_r, *s_f, device=device), frechet_distance(*s_r, *s_f)) < 1e-10
    u = np.random.default_rng(16).standard_normal(40)  # singular: falls back to the exact CPU route
    assert frechet_distance(np.zeros(40), np.outer(u, u), np.zeros(40), np.eye(40), device=device) == pytest.approx(
        u @ u + 40 - 2 * np.sqrt(u @ u), rel=1e-9
    )


def test_only_lower_triangles_are_read_in_any_memory_order() -> None:
    s_r, s_f = _stats(_features(17, 900, 24)), _stats(_features(18, 800, 24, 1.3, 0.1))
    expected = frechet_distance(*s_r, *s_f)
    assert _rel(expected, _textbook(*s_r, *s_f)) < 1e-8

    def garbled(s: np.ndarray, order: str) -> np.ndarray:  # same lower triangle, nonsense above it
        out = np.array(s, order=order)
        out[np.triu_indices(len(s), 1)] = -7.0
        return out

    for o1, o2 in [("C", "C"), ("F", "F"), ("C", "F"), ("F", "C")]:
        got = frechet_distance(s_r[0], garbled(s_r[1], o1), s_f[0], garbled(s_f[1], o2))
        assert _rel(got, expected) < 1e-12, (o1, o2)


@pytest.mark.parametrize("scale", [1e-120, 1e-60, 1e60, 1e120])
def test_far_from_unit_scales_neither_overflow_nor_underflow(scale: float) -> None:
    # d^2 is homogeneous: scaling means by sqrt(c) and covariances by c scales it by c.
    s_r, s_f = _stats(_features(19, 600, 32)), _stats(_features(20, 600, 32, 1.2, 0.1))
    base = frechet_distance(*s_r, *s_f)
    root = np.sqrt(scale)
    scaled = frechet_distance(s_r[0] * root, s_r[1] * scale, s_f[0] * root, s_f[1] * scale)
    assert scaled / scale == pytest.approx(base, rel=1e-12)
