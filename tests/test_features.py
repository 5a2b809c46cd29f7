"""Feature extractors: registry, digits classifier, inception plumbing, torch-fidelity registration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_fidelity

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.features import available_extractors, extract_features, get_extractor, register_torch_fidelity
from gandiag import digits_classifier as digits_module
from gandiag.features.inception import ENV_VAR, InceptionExtractor, InceptionWeightsError, to_uint8_rgb, write_random_weights
from reference_models.train_digits import train
from gandiag.metrics import fid


@pytest.fixture(scope="module")
def digits():
    return gandiag.reference("digits")


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    return write_random_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth", seed=0)


@pytest.fixture(scope="module")
def inception(inception_weights):
    with pytest.warns(UserWarning, match="not comparable with published FID"):
        return InceptionExtractor(weights=inception_weights)


class _Samples(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def _fidelity(a: torch.Tensor, b: torch.Tensor, extractor: str, **kwargs) -> dict:
    return torch_fidelity.calculate_metrics(
        input1=_Samples(a), input2=_Samples(b), feature_extractor=extractor, cuda=False, cache=False,
        verbose=False, save_cpu_ram=True, **kwargs,
    )  # fmt: skip


def test_registry_names_and_unknown_name() -> None:
    assert {"identity", "digits", "inception"} <= set(available_extractors())
    with pytest.raises(GandiagInputError, match="unknown feature extractor 'vgg'"):
        get_extractor("vgg")


def test_identity_flattens_to_float64() -> None:
    x = torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2)
    out = extract_features(x, "identity")
    assert out.dtype == np.float64 and out.shape == (2, 12)
    np.testing.assert_array_equal(out, x.reshape(2, 12).numpy())


def test_digits_classifier_held_out_accuracy(digits) -> None:
    held = digits_module.held_out_mask(len(digits.data))
    labels, _ = digits_module.assign_digit_labels(digits.data[held])
    accuracy = float((labels == digits.labels[held].numpy()).mean())
    assert accuracy >= 0.97
    _, meta, sha = digits_module.load_digits_classifier()
    assert meta["held_out_accuracy"] == pytest.approx(accuracy) and len(sha) == 64


def test_high_quality_mask_separates_digits_from_noise(digits) -> None:
    labels, hq = digits.assign_modes(digits.data)
    assert labels.dtype == np.int64 and hq.dtype == bool and labels.shape == hq.shape == (len(digits.data),)
    assert hq.mean() >= 0.9
    noise = torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert digits_module.assign_digit_labels(noise.numpy())[1].mean() <= 0.05
    stacked = gandiag.reference("stacked-digits")
    modes, hq3 = stacked.assign_modes(stacked.sample(200, seed=1))
    assert modes.min() >= 0 and modes.max() < 1000 and hq3.mean() >= 0.75


def test_digits_features_do_not_depend_on_batch_size(digits) -> None:
    ext = get_extractor("digits")
    x = digits.data[:300]
    whole, pieces = ext(x, batch_size=4096), ext(x.numpy(), batch_size=37)
    assert whole.shape == (300, 64) and whole.dtype == np.float32
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-6)
    stacked = ext(torch.cat([x[:10], x[10:20], x[20:30]], dim=1))  # (10, 3, 8, 8)
    np.testing.assert_allclose(stacked[:, 64:128], whole[10:20], rtol=1e-5, atol=1e-6)
    with pytest.raises(GandiagInputError, match="digit images: expected shape"):
        ext(torch.zeros(4, 2, 8, 8))


def test_digits_training_is_deterministic() -> None:
    (net_a, meta_a), (net_b, meta_b) = train(epochs=1, seed=3), train(epochs=1, seed=3)
    assert meta_a == meta_b
    for key, value in net_a.state_dict().items():
        assert torch.equal(value, net_b.state_dict()[key]), key


def test_uint8_conversion_round_trips_8_bit_images() -> None:
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    for scaled in (pixels.float() / 127.5 - 1.0, pixels.float() / 255.0 * 2.0 - 1.0):
        out = to_uint8_rgb(scaled)
        assert out.shape == (1, 3, 16, 16) and out.dtype == torch.uint8
        assert torch.equal(out[:, 0], pixels[:, 0]) and torch.equal(out[:, 2], pixels[:, 0])
    assert to_uint8_rgb(np.array([[[[-3.0, 3.0]]]] * 3).reshape(1, 3, 1, 2))[0, :, 0].tolist() == [[0, 255]] * 3
    assert torch.equal(to_uint8_rgb(pixels.expand(1, 3, 16, 16)), pixels.expand(1, 3, 16, 16))
    with pytest.raises(GandiagInputError, match=r"expected shape \(n, 1 or 3, H, W\)"):
        to_uint8_rgb(torch.zeros(2, 4, 8, 8))


def test_inception_end_to_end_with_random_weights(inception, inception_weights, monkeypatch) -> None:
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    feats = inception(x, batch_size=2)
    assert feats.shape == (3, 2048) and feats.dtype == np.float32 and np.all(np.isfinite(feats))
    np.testing.assert_allclose(inception(x, batch_size=3), feats, rtol=1e-5, atol=1e-12)
    assert len(inception.weights_sha256) == 64  # recorded for the feature cache's key
    monkeypatch.setenv(ENV_VAR, str(inception_weights))
    with pytest.warns(UserWarning):
        from_env = get_extractor("inception")
    np.testing.assert_array_equal(from_env(x[:1]), feats[:1])


def test_torch_fidelity_runs_on_gandiag_inception(inception_weights) -> None:
    # KID rather than FID: torch-fidelity's own FID spends ~15 s in eigvals at d = 2048.
    register_torch_fidelity()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    images = (x * 255).to(torch.uint8)
    with pytest.warns(UserWarning):
        out = _fidelity(
            images[:3], images[3:], "gandiag-inception", kid=True, kid_subsets=2, kid_subset_size=3,
            feature_extractor_weights_path=str(inception_weights),
        )  # fmt: skip
    assert np.isfinite(out["kernel_inception_distance_mean"])


def test_missing_weights_name_the_file_hash_and_source_and_never_download(tmp_path, monkeypatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr("torch.hub.load_state_dict_from_url", no_download)
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", no_download)
    monkeypatch.delenv(ENV_VAR, raising=False)
    missing = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    for kwargs in ({"weights": missing}, {}):
        with pytest.raises(InceptionWeightsError) as info:
            get_extractor("inception", **kwargs)
        message = str(info.value)
        assert "\n" not in message and "6726825d" in message and ENV_VAR in message
        assert "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" in message
    with pytest.raises(InceptionWeightsError, match=str(missing)):
        get_extractor("inception", weights=missing)
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3)}, bad)
    with pytest.raises(InceptionWeightsError, match="not Inception-v3 FID weights"):
        get_extractor("inception", weights=bad)


def test_torch_fidelity_metrics_on_gandiag_extractors(digits) -> None:
    assert register_torch_fidelity() == ("gandiag-identity", "gandiag-digits", "gandiag-inception")
    assert register_torch_fidelity() == ("gandiag-identity", "gandiag-digits", "gandiag-inception")  # idempotent
    rng = np.random.default_rng(0)
    a, b = torch.from_numpy(rng.standard_normal((300, 3))), torch.from_numpy(rng.standard_normal((250, 3)) + 0.3)
    theirs = _fidelity(a, b, "gandiag-identity", fid=True)["frechet_inception_distance"]
    assert fid(a, b) == pytest.approx(theirs, rel=1e-9)
    x, y = digits.data[:400], digits.data[400:800]
    theirs = _fidelity(x, y, "gandiag-digits", fid=True, batch_size=128)["frechet_inception_distance"]
    ext = get_extractor("digits")
    assert fid(ext(x), ext(y)) == pytest.approx(theirs, rel=1e-5)
