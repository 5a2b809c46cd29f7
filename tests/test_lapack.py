"""Direct LAPACK calls (gandiag.metrics._lapack) against scipy's own wrapper of the same routines."""

from __future__ import annotations

import numpy as np
import pytest

from gandiag.metrics import _lapack, frechet


def _covariances(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((3 * d + 5, d)), rng.standard_normal((3 * d + 5, d)) * 1.3 + 0.2
    return np.cov(x, rowvar=False).reshape(d, d), np.cov(y, rowvar=False).reshape(d, d)


@pytest.mark.parametrize("d", [1, 2, 7, 128, 130])
@pytest.mark.parametrize("order", ["C", "F"])
def test_steps_give_the_bits_of_scipy_dsygv(d: int, order: str) -> None:
    s1, s2 = (np.array(s, order=order) for s in _covariances(d, d))
    ours = frechet.generalized_eigenvalues(s1, s2)
    uplo = "U" if order == "C" else "L"
    theirs = frechet._eigenvalues_by_dsygv(s1.T if order == "C" else s1, s2.T if order == "C" else s2, uplo)
    assert np.array_equal(np.sort(ours), np.sort(theirs))
    assert np.array_equal(s1, np.array(_covariances(d, d)[0], order=order))  # inputs untouched


def test_a_matrix_that_is_not_positive_definite_gives_none() -> None:
    s1, s2 = _covariances(6, 0)
    s1[0, 0] = -1.0
    assert frechet.generalized_eigenvalues(s1, s2) is None
    assert frechet._eigenvalues_by_dsygv(s1, s2, "L") is None


def test_falls_back_to_scipy_when_the_cython_interface_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    s1, s2 = _covariances(9, 1)
    expected = frechet.generalized_eigenvalues(s1, s2)

    def missing(name: str, *args: object) -> int:
        raise _lapack.LapackUnavailable(f"no {name}")

    monkeypatch.setattr(_lapack, "call", missing)
    assert np.array_equal(np.sort(frechet.generalized_eigenvalues(s1, s2)), np.sort(expected))
    with pytest.raises(_lapack.LapackUnavailable, match="dnosuchroutine"):
        _lapack._routine("dnosuchroutine")


def test_padded_copies_keep_values_and_space_the_columns() -> None:
    assert _lapack.leading_dimension(2048) == 2064 and _lapack.leading_dimension(100) == 100
    a = np.arange(256 * 3, dtype=np.float64).reshape(256, 3)
    out = _lapack.padded_copy(a)
    assert out.shape == (272, 3) and out.flags.f_contiguous and out.flags.writeable
    assert np.array_equal(out[:256], a)


def test_arrays_that_lapack_would_misread_are_refused() -> None:
    with pytest.raises(TypeError, match="column-major float64"):
        _lapack.call("dpotrf", "U", 3, np.eye(3, dtype=np.float32), 3)
    with pytest.raises(TypeError, match="column-major float64"):
        _lapack.call("dpotrf", "U", 3, np.ones((3, 4))[:, :3], 3)  # neither C- nor F-contiguous
    c = np.array([[4.0, 2.0], [2.0, 3.0]], order="F")
    assert _lapack.call("dpotrf", "U", 2, c, 2) == 0
    assert np.allclose(np.triu(c).T @ np.triu(c), [[4.0, 2.0], [2.0, 3.0]])
