"""Direct LAPACK calls (gandiag.metrics._lapack) against scipy's own wrapper of the same routines."""

from __future__ import annotations

import json
import re
import subprocess
import sys

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

    def missing(name: str) -> None:
        raise _lapack.LapackUnavailable(f"no {name}")

    monkeypatch.setattr(_lapack, "_routine", missing)
    assert np.array_equal(np.sort(frechet.generalized_eigenvalues(s1, s2)), np.sort(expected))
    monkeypatch.undo()
    with pytest.raises(_lapack.LapackUnavailable, match="dnosuchroutine"):
        _lapack._routine("dnosuchroutine")


def test_a_capsule_signature_other_than_the_expected_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_lapack._SIGNATURES, "dpotrf", "ciw")  # one int argument short
    with pytest.raises(_lapack.LapackUnavailable, match="unexpected signature for dpotrf"):
        _lapack._routine.__wrapped__("dpotrf")


def test_padded_copies_keep_values_and_space_the_columns() -> None:
    assert _lapack.leading_dimension(2048) == 2064 and _lapack.leading_dimension(100) == 100
    a = np.arange(256 * 3, dtype=np.float64).reshape(256, 3)
    out = _lapack.padded_copy(a)
    assert out.shape == (272, 3) and out.flags.f_contiguous and out.flags.writeable
    assert np.array_equal(out[:256], a)


def test_checked_calls_accept_padded_and_read_only_arguments() -> None:
    c = _lapack.padded_copy(np.array([[4.0, 2.0], [2.0, 3.0]]))
    assert _lapack.dpotrf("U", c) == 0
    assert np.allclose(np.triu(c[:2]).T @ np.triu(c[:2]), [[4.0, 2.0], [2.0, 3.0]])
    c.flags.writeable = False  # dsygst only reads b
    a = np.array(np.diag([9.0, 1.0]), order="F")
    assert _lapack.dsygst(2, "U", a, c) == 0
    info, d, e, tau = _lapack.dsytrd("U", a)
    assert info == 0 and d.shape == (2,) and e.shape == tau.shape == (1,)
    assert _lapack.dsterf(d, e) == 0
    assert np.allclose(np.sort(d), np.sort(np.linalg.eigvals(np.array([[4.0, 2.0], [2.0, 3.0]]) @ np.diag([9.0, 1.0]))))


# Every wrong argument of every checked LAPACK wrapper (and of the public functions that lead
# to them), run in one child process: a segmentation fault there shows as a negative return
# code and missing results instead of killing the test run.

_CHILD = r"""
import json, sys
import numpy as np
from numpy.lib.stride_tricks import as_strided
from gandiag.metrics import _lapack, frechet

def readonly(x):
    x.flags.writeable = False
    return x

def unaligned(shape):
    raw = np.zeros(int(np.prod(shape)) * 8 + 1, dtype=np.uint8)
    return raw[1:].view(np.float64).reshape(shape, order="F")

def huge(shape):  # a view claiming 2**31 rows over 8 bytes: must be refused before any read
    return as_strided(np.zeros(1), shape=shape, strides=(8,) * len(shape))

for case_id, expression in json.loads(sys.argv[1]):
    try:
        eval(expression)
        outcome = ["no exception", ""]
    except Exception as exc:
        outcome = [type(exc).__name__, str(exc)]
    print(json.dumps([case_id, *outcome]), flush=True)
"""

# kind: (as a matrix, as a vector or None, exception, message fragment)
_BAD_ARRAYS = {
    "list": ("[[1.0]]", "[1.0, 2.0, 3.0]", "TypeError", "must be a numpy float64 array"),
    "float32": ("np.eye(3, dtype=np.float32, order='F')", "np.ones(3, dtype=np.float32)", "TypeError", "must be native float64"),
    "int64": ("np.eye(3, dtype=np.int64, order='F')", "np.ones(3, dtype=np.int64)", "TypeError", "must be native float64"),
    "big-endian": ("np.eye(3, order='F').astype('>f8')", "np.ones(3).astype('>f8')", "TypeError", "must be native float64"),
    "too-few-dimensions": ("np.ones(3)", "np.array(1.0)", "ValueError", "must be [12]-D"),
    "too-many-dimensions": ("np.ones((3, 3, 1), order='F')", "np.ones((3, 1))", "ValueError", "must be [12]-D"),
    "row-major": ("np.ones((3, 4))", None, "ValueError", "must be column-major"),
    "strided": ("np.ones((6, 6), order='F')[::2, ::2]", "np.ones(6)[::2]", "ValueError", "must be (column-major|contiguous)"),
    "unaligned": ("unaligned((3, 3))", "unaligned((3,))", "ValueError", "must be aligned"),
    "read-only": ("readonly(np.eye(3, order='F'))", "readonly(np.ones(3))", "ValueError", "must be writeable"),
    "lda-below-n": ("np.ones((2, 3), order='F')", None, "ValueError", "2 rows for 3 columns"),
    "no-columns": ("np.ones((3, 0), order='F')", None, "ValueError", "at least one column"),
    "beyond-int32": ("huge((2**31, 1))", "huge((2**31,))", "ValueError", "32-bit"),
}
_ARRAY_SLOTS = {  # (routine, argument, is a matrix): the call, with {} for the argument
    ("dpotrf", "a", True): "_lapack.dpotrf('U', {})",
    ("dsygst", "a", True): "_lapack.dsygst(2, 'U', {}, np.eye(3, order='F'))",
    ("dsygst", "b", True): "_lapack.dsygst(2, 'L', np.eye(3, order='F'), {})",
    ("dsytrd", "a", True): "_lapack.dsytrd('L', {})",
    ("dsterf", "d", False): "_lapack.dsterf({}, np.ones(2))",
    ("dsterf", "e", False): "_lapack.dsterf(np.ones(3), {})",
}
_BAD_UPLO = [("X", "'X'", "ValueError"), ("empty", "''", "ValueError"), ("bytes", "b'U'", "TypeError")]
_OPTION_SLOTS = {  # (routine, option): (the call with {} for the option, [(name, wrong value, exception)])
    ("dpotrf", "uplo"): ("_lapack.dpotrf({}, np.eye(2, order='F'))", _BAD_UPLO),
    ("dsygst", "uplo"): ("_lapack.dsygst(2, {}, np.eye(2, order='F'), np.eye(2, order='F'))", _BAD_UPLO),
    ("dsytrd", "uplo"): ("_lapack.dsytrd({}, np.eye(2, order='F'))", _BAD_UPLO),
    ("dsygst", "itype"): (
        "_lapack.dsygst({}, 'U', np.eye(2, order='F'), np.eye(2, order='F'))",
        [("0", "0", "ValueError"), ("4", "4", "ValueError"), ("float", "2.0", "TypeError"), ("bool", "True", "TypeError")],
    ),
}

_CASES = {
    **{
        f"{routine}-{arg}-{bad}": (call.format(matrix if is_matrix else vector), exc, f"^{routine}: {arg} .*({fragment})")
        for (routine, arg, is_matrix), call in _ARRAY_SLOTS.items()
        for bad, (matrix, vector, exc, fragment) in _BAD_ARRAYS.items()
        if (is_matrix or vector is not None) and not (arg == "b" and bad == "read-only")  # dsygst only reads b
    },
    **{
        f"{routine}-{option}-{name}": (call.format(value), exc, f"^{routine}: {option} must be")
        for (routine, option), (call, bad_values) in _OPTION_SLOTS.items()
        for name, value, exc in bad_values
    },
    "dsygst-orders-differ": ("_lapack.dsygst(2, 'U', np.eye(3000, order='F'), np.eye(2, order='F'))", "ValueError", "^dsygst: a and b must have the same order n"),
    "dsygst-a-is-b": ("(lambda x: _lapack.dsygst(2, 'U', x, x))(np.eye(3, order='F'))", "ValueError", "^dsygst: a and b overlap"),
    "dsterf-d-empty": ("_lapack.dsterf(np.ones(0), np.ones(1))", "ValueError", "^dsterf: d must hold at least one"),
    "dsterf-e-short": ("_lapack.dsterf(np.ones(5), np.ones(3))", "ValueError", "^dsterf: e must hold n - 1 = 4"),
    "dsterf-d-e-overlap": ("(lambda x: _lapack.dsterf(x[:5], x[4:8]))(np.ones(9))", "ValueError", "^dsterf: d and e overlap"),
    "padded_copy-1-D": ("_lapack.padded_copy(np.ones(3))", "ValueError", "^padded_copy: expected a 2-D"),
    "padded_copy-complex": ("_lapack.padded_copy(np.eye(2, dtype=complex))", "TypeError", "^padded_copy: expected real numbers"),
    # Before the checks, sigma2 larger than sigma1 overran the padded copy of sigma1 (SIGSEGV).
    "generalized_eigenvalues-sizes-differ": ("frechet.generalized_eigenvalues(np.eye(2), np.eye(3000))", "GandiagInputError", "^sigma1 and sigma2 have different shapes"),
    "generalized_eigenvalues-not-square": ("frechet.generalized_eigenvalues(np.ones((3, 4)), np.ones((3, 4)))", "GandiagInputError", "^sigma1: expected a square"),
    "generalized_eigenvalues-empty": ("frechet.generalized_eigenvalues(np.ones((0, 0)), np.ones((0, 0)))", "GandiagInputError", "^sigma1: expected a square .* d >= 1"),
    "generalized_eigenvalues-complex": ("frechet.generalized_eigenvalues(np.eye(2), np.eye(2, dtype=complex))", "GandiagInputError", "^sigma2: expected real numbers"),
    "trace_sqrt_product-sizes-differ": ("frechet.trace_sqrt_product(np.eye(4096), np.eye(3))", "GandiagInputError", "^sigma1 and sigma2 have different shapes"),
}


@pytest.fixture(scope="module")
def child_outcomes() -> tuple[int, dict[str, tuple[str, str]], str]:
    cases = json.dumps([[case_id, expression] for case_id, (expression, _, _) in _CASES.items()])
    done = subprocess.run([sys.executable, "-c", _CHILD, cases], capture_output=True, text=True, timeout=300)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("["):
            case_id, kind, message = json.loads(line)
            results[case_id] = (kind, message)
    return done.returncode, results, done.stdout + done.stderr


@pytest.mark.parametrize("case_id", list(_CASES))
def test_a_wrong_argument_raises_a_python_exception_never_a_signal(
    case_id: str, child_outcomes: tuple[int, dict[str, tuple[str, str]], str]
) -> None:
    returncode, results, output = child_outcomes
    assert case_id in results, f"the child process ended with return code {returncode} before this case:\n{output[-3000:]}"
    _, exception, pattern = _CASES[case_id]
    kind, message = results[case_id]
    assert kind == exception, f"{kind}: {message}"
    assert re.search(pattern, message), message


def test_the_child_process_exits_cleanly_and_lapack_never_sees_an_illegal_argument(
    child_outcomes: tuple[int, dict[str, tuple[str, str]], str]
) -> None:
    returncode, results, output = child_outcomes
    assert returncode == 0, output[-3000:]
    assert len(results) == len(_CASES)
    assert "On entry to" not in output  # LAPACK's xerbla message for an illegal argument
