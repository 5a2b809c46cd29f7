"""The pixel classifier of the two-sample test on small images (gandiag.metrics.c2st_pixels), on
scikit-learn's digits: calm on real against real, sharp on defects, honest (no held-out leakage)."""

import math

import numpy as np
import pytest
from scipy.ndimage import uniform_filter
from scipy.spatial import cKDTree

import gandiag
from gandiag.errors import GandiagInputError
from gandiag.metrics import c2st
from gandiag.metrics import c2st_pixels

LOG2 = math.log(2.0)
N = 898  # the digits reference's default n: two disjoint halves of its 1797 images


@pytest.fixture(scope="module")
def digits():
    ref = gandiag.reference("digits")
    return ref.data.numpy(), ref.labels.numpy()


def halves(images, seed):
    """Two disjoint random halves (the file's own first and second halves differ by writer)."""
    perm = np.random.default_rng(100 + seed).permutation(len(images))
    return images[perm[:N]], images[perm[N : 2 * N]]


def test_real_against_real_reads_zero_with_a_calibrated_test(digits):
    """20 seeds: js <= 0.01 every time, p >= 0.05 in at least 18 (observed: js = 0 in all 20,
    smallest p 0.058). Under P = Q the held-out accuracy is Binomial(n, 1/2) whatever the fit."""
    outs = [c2st(*halves(digits[0], s), seed=s) for s in range(20)]
    assert max(o["js"] for o in outs) <= 0.01
    assert sum(o["c2st_pvalue"] >= 0.05 for o in outs) >= 18
    assert 0.47 < np.mean([o["c2st_accuracy"] for o in outs]) < 0.53
    assert all(o["n_test"] == N // 2 for o in outs)


def one_class_js(labels, digit):
    """Exact JS between uniform draws from all digits images and from those of one class.

    Both are discrete on the stored images (distinct atoms): p = 1/n on each image, q = 1/m on
    each of the class's m images and 0 elsewhere.
    """
    n, m = len(labels), int((labels == digit).sum())
    p, q = 1.0 / n, 1.0 / m
    inside = m * (0.5 * p * math.log(2 * p / (p + q)) + 0.5 * q * math.log(2 * q / (p + q)))
    return inside + (n - m) * 0.5 * p * LOG2


def defect(name, real_half, images, labels, rng):
    if name.startswith("noise"):
        return np.clip(real_half + float(name[5:]) * rng.standard_normal(real_half.shape), -1, 1)
    if name == "one class":
        return images[labels == 3][rng.integers(0, int((labels == 3).sum()), N)]
    if name == "blur":
        return uniform_filter(real_half, size=(1, 1, 3, 3), mode="nearest")
    return np.clip(real_half + 0.1, -1, 1)  # "brighter": every pixel 0.1 up (0.05 of the range)


@pytest.mark.parametrize("name", ["noise0.05", "noise0.1", "one class", "blur", "brighter"])
def test_defects_are_detected(digits, name):
    """Observed (3 seeds): accuracy 0.97-0.99 for noise (the conv net stayed at chance for std
    0.05), 0.94 for one class, 1.0 for blur and brightness."""
    images, labels = digits
    a, b = halves(images, 0)
    out = c2st(a, defect(name, b, images, labels, np.random.default_rng(7)).astype(np.float32), seed=0)
    assert out["c2st_accuracy"] > 0.85 and out["c2st_pvalue"] < 1e-3, out
    assert 0.3 < out["js"] <= LOG2
    if name == "one class":  # a lower bound of the exact JS (observed 0.47 to 0.48)
        truth = one_class_js(labels, 3)
        assert 0.5 < truth < 0.55
        assert 0.4 < out["js"] <= truth + 0.02, (out, truth)


def test_same_seed_same_numbers_and_numpy_global_rng_untouched(digits):
    images, labels = digits
    a, b = halves(images, 1)
    fake = defect("noise0.05", b, images, labels, np.random.default_rng(1)).astype(np.float32)
    state = np.random.get_state()
    first = c2st(a, fake, seed=4)
    assert c2st(a, fake, seed=4) == first
    assert c2st(a, fake, seed=5) != first
    assert all(np.array_equal(x, y) for x, y in zip(state, np.random.get_state()))


def test_auto_is_the_pixel_classifier_up_to_256_values_and_the_network_above(digits):
    a, b = halves(digits[0], 2)
    assert c2st(a, b, seed=3) == c2st(a, b, seed=3, classifier="pixels")
    assert c2st(a, b, seed=3) != c2st(a, b, seed=3, classifier="network", max_epochs=2)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 1, 17, 17)), rng.normal(size=(64, 1, 17, 17))  # 289 values
    assert c2st(x, y, seed=1, max_epochs=2) == c2st(x, y, seed=1, classifier="network", max_epochs=2)
    assert c2st(x, y, seed=1, max_epochs=2) != c2st(x, y, seed=1, classifier="pixels")


def test_held_out_predictions_do_not_depend_on_other_held_out_images(digits):
    """Leakage check: nothing from the scored images enters the fit (standardisation, votes,
    stacking), so scoring a subset gives the same probabilities as scoring all."""
    images, _ = digits
    a, b = halves(images, 3)
    x_train = np.concatenate([a[:400], b[:400]])
    y_train = np.r_[np.ones(400), np.zeros(400)]
    x_test = np.clip(np.concatenate([a[400:], b[400:]]) + 0.05, -1, 1)
    full = c2st_pixels.pixel_probabilities(x_train, y_train, x_test, np.random.default_rng(0))
    part = c2st_pixels.pixel_probabilities(x_train, y_train, x_test[::7], np.random.default_rng(0))
    np.testing.assert_allclose(part, full[::7], rtol=1e-9, atol=1e-12)
    assert full.shape == (len(x_test),) and full.min() >= c2st_pixels.CLIP and full.max() <= 1 - c2st_pixels.CLIP


@pytest.mark.parametrize("leave_one_out", [False, True])
def test_blocked_neighbour_search_matches_a_kd_tree(monkeypatch, leave_one_out):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 5))
    points = train if leave_one_out else rng.normal(size=(120, 5))
    monkeypatch.setattr(c2st_pixels, "BLOCK_ENTRIES", 7 * 300)  # 7 rows per block
    got = c2st_pixels._nearest(train, points, 6, leave_one_out)
    _, want = cKDTree(train).query(points, k=7 if leave_one_out else 6)
    np.testing.assert_array_equal(got, want[:, 1:] if leave_one_out else want)


def test_a_digits_score_row_sees_noise():
    rng = np.random.default_rng(5)
    fake = np.clip(gandiag.reference("digits").sample(N, seed=9).numpy() + 0.05 * rng.standard_normal((N, 1, 8, 8)), -1, 1)
    row = gandiag.score(fake.astype(np.float32), "digits", metrics="js,c2st_accuracy,c2st_pvalue")
    assert row["c2st_accuracy"] > 0.85 and row["c2st_pvalue"] < 1e-3 and row["js"] > 0.3, row


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: c2st(np.zeros((50, 1, 8, 8)), np.zeros((50, 1, 4, 4)), classifier="pixels"), "different shapes"),
        (lambda: c2st(np.zeros((5, 1, 8, 8)), np.zeros((5, 1, 8, 8)), classifier="pixels"), "at least 8"),
        (lambda: c2st(np.full((50, 1, 8, 8), np.nan), np.zeros((50, 1, 8, 8))), "NaN or infinite"),
        (lambda: c2st(np.zeros((50, 1, 8, 8)), np.zeros((50, 1, 8, 8)), classifier="pixel"), "auto, knn, pixels, network"),
    ],
)
def test_bad_input_is_one_clear_error(call, fragment):
    with pytest.raises(GandiagInputError, match=fragment):
        call()
