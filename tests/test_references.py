"""Reference distributions against docs/contract.md section 2 and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import multivariate_normal

import gandiag
from gandiag import GandiagInputError


def test_ring8_matches_contract():
    ref = gandiag.reference("ring8")
    k = np.arange(8)
    expected = np.stack([2 * np.cos(2 * np.pi * k / 8), 2 * np.sin(2 * np.pi * k / 8)], 1)
    np.testing.assert_allclose(ref.centres.numpy(), expected, atol=1e-6)
    assert ref.std == 0.02 and ref.n_modes == 8 and ref.shape == (2,)


def test_grid25_matches_contract():
    ref = gandiag.reference("grid25")
    got = {tuple(c) for c in ref.centres.numpy().tolist()}
    assert got == {(float(i), float(j)) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert ref.std == 0.05 and ref.n_modes == 25


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_samples_have_contract_moments(name):
    ref = gandiag.reference(name)
    x = ref.sample(40000, seed=3).numpy().astype(np.float64)
    modes, hq = ref.assign_modes(x)
    counts = np.bincount(modes, minlength=ref.n_modes) / len(x)
    np.testing.assert_allclose(counts, 1 / ref.n_modes, atol=5 * math.sqrt(1 / ref.n_modes / len(x)))
    resid = x - ref.centres.numpy()[modes]
    assert abs(resid.std() - ref.std) < 0.02 * ref.std
    # P(|N(0, s^2 I_2)| <= 3 s) = 1 - exp(-9/2) (chi distribution with 2 degrees of freedom).
    assert abs(hq.mean() - (1 - math.exp(-4.5))) < 0.003


def test_sample_is_deterministic_in_seed():
    ref = gandiag.reference("grid25")
    assert torch.equal(ref.sample(100, seed=7), ref.sample(100, seed=7))
    assert not torch.equal(ref.sample(100, seed=7), ref.sample(100, seed=8))


def test_assign_modes_high_quality_boundary():
    ref = gandiag.reference("ring8")
    c = ref.centres[3].double().numpy()
    x = np.stack([c, c + [0.059, 0], c + [0.061, 0]])  # 3 std = 0.06
    modes, hq = ref.assign_modes(x)
    assert modes.tolist() == [3, 3, 3] and hq.tolist() == [True, True, False]


def test_log_prob_matches_scipy_mixture():
    ref = gandiag.reference("ring8")
    x = ref.sample(50, seed=1).double().numpy() + 0.01
    dens = np.mean([multivariate_normal(c, 0.02**2 * np.eye(2)).pdf(x) for c in ref.centres.double().numpy()], 0)
    np.testing.assert_allclose(ref.log_prob(x), np.log(dens), rtol=1e-9)


def test_digits_reference():
    from sklearn.datasets import load_digits

    ref = gandiag.reference("digits")
    assert len(ref) == 1797 and ref.shape == (1, 8, 8) and ref.n_modes == 10
    raw = load_digits().images
    np.testing.assert_allclose(ref.data[:, 0].numpy(), raw / 8.0 - 1.0, atol=1e-6)
    x = ref.sample(1797, seed=0)
    assert x.min() == -1.0 and x.max() == 1.0
    # without replacement up to 1797: a permutation of the data set
    assert torch.equal(torch.sort(x.flatten(1).sum(1)).values, torch.sort(ref.data.flatten(1).sum(1)).values)
    with pytest.warns(UserWarning, match="with replacement"):
        assert ref.sample(2000, seed=0).shape == (2000, 1, 8, 8)


def test_stacked_digits_channels_are_digit_images():
    ref = gandiag.reference("stacked-digits")
    x, modes = ref.draw(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 3, 8, 8) and ref.n_modes == 1000
    data = gandiag.reference("digits").data[:, 0].flatten(1)
    for c in range(3):
        d = torch.cdist(x[:, c].flatten(1), data).min(1).values
        assert torch.all(d == 0)
    assert int(modes.max()) < 1000 and len(torch.unique(modes)) > 50


def test_array_file_references(tmp_path):
    arr = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    np.save(tmp_path / "r.npy", arr)
    np.savez(tmp_path / "r.npz", samples=arr, other=arr[:2])
    for name in ("r.npy", "r.npz"):
        ref = gandiag.reference(str(tmp_path / name))
        assert ref.shape == (3,) and not ref.has_modes
        np.testing.assert_array_equal(np.sort(ref.sample(50, 1).numpy(), 0), np.sort(arr, 0))
    np.save(tmp_path / "bad.npy", np.zeros(5))
    with pytest.raises(GandiagInputError, match="bad.npy.*shape"):
        gandiag.reference(str(tmp_path / "bad.npy"))


def test_image_folder_reference(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(4, 6, 5, 3), dtype=np.uint8)
    for i, p in enumerate(pixels):
        Image.fromarray(p).save(tmp_path / f"{i}.png")
    ref = gandiag.reference(tmp_path)
    assert ref.shape == (3, 6, 5)
    np.testing.assert_allclose(ref.data[0].numpy(), pixels[0].transpose(2, 0, 1) / 255 * 2 - 1, atol=1e-6)


def test_unknown_reference_names_the_choices():
    with pytest.raises(GandiagInputError, match="unknown reference 'ring9'.*ring8, grid25, digits, stacked-digits"):
        gandiag.reference("ring9")
