"""Streaming precision/recall/density/coverage against the prdc package and torch-fidelity."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from scipy.spatial import cKDTree
from torch_fidelity.metric_prc import prc_features_to_metric

from gandiag.errors import GandiagInputError
from gandiag.metrics import prdc
from gandiag.metrics import prdc_tree
from gandiag.metrics.prdc import CONVENTIONS

KEYS = ("precision", "recall", "density", "coverage")
SMALL_BLOCKS = 8 * 900 * 100  # about 100 rows per block: several blocks on these sizes


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small blocks on 2 shared cores: OpenMP barriers of 2 threads cost more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sets(dtype=np.float64, n_real: int = 900, n_fake: int = 800, d: int = 16):
    rng = np.random.default_rng(d)
    real = np.maximum(rng.standard_normal((n_real, d)), 0.0).astype(dtype)  # ReLU'd, like CNN features
    fake = np.maximum(rng.standard_normal((n_fake, d)) * 1.2 + 0.15, 0.0).astype(dtype)
    return real, fake


def _package(real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        return {key: float(v) for key, v in compute_prdc(real, fake, k).items()}


def _torch_fidelity(real, fake):
    # torch-fidelity's convention: features_1 is the generated set, features_2 the real one.
    out = prc_features_to_metric(
        torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False, verbose=False
    )
    return out["precision"], out["recall"]


def _assert_same(ours: dict, theirs: dict) -> None:
    for key in ("precision", "recall", "coverage"):  # counts over the same comparisons: identical
        assert ours[key] == theirs[key], key
    assert ours["density"] == pytest.approx(theirs["density"], rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k, d", [(3, 2), (5, 2), (3, 16), (5, 16), (3, 200), (5, 200)])  # d = 2: tree, d >= 32: screen
def test_identical_to_the_prdc_package(dtype, k, d) -> None:
    real, fake = _sets(dtype, d=d)
    _assert_same(prdc(real, fake, nearest_k=k, block_bytes=SMALL_BLOCKS), _package(real, fake, k))


@pytest.mark.parametrize("convention", ["prdc", "torch-fidelity"])
def test_screened_float32_decides_exactly_as_float64(convention) -> None:
    # Binary features in d = 48: squared distances are small integers, so a great many pairs sit
    # exactly on a radius; the float32 screen must hand every one of them to float64.
    rng = np.random.default_rng(2)
    real, fake = rng.integers(0, 2, (700, 48)).astype(np.float32), rng.integers(0, 2, (600, 48)).astype(np.float32)
    exact = prdc(real, fake, convention=convention, block_bytes=SMALL_BLOCKS)
    assert exact == prdc(real, fake, convention=convention, precision="float64", block_bytes=SMALL_BLOCKS)
    if convention == "prdc":
        _assert_same(prdc(real, fake, nearest_k=4), _package(real, fake, 4))
    real, fake = _sets(np.float32, d=128)
    assert prdc(real, fake, block_bytes=SMALL_BLOCKS) == prdc(real, fake, precision="float64")


def test_contract_neighbourhoods_are_3_and_5() -> None:
    real, fake = _sets()
    ours = prdc(real, fake, block_bytes=SMALL_BLOCKS)
    k3, k5 = _package(real, fake, 3), _package(real, fake, 5)
    _assert_same(ours, {"precision": k3["precision"], "recall": k3["recall"], "density": k5["density"], "coverage": k5["coverage"]})


def test_precision_recall_agree_with_torch_fidelity_in_its_convention() -> None:
    real, fake = _sets(d=100)
    ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), convention="torch-fidelity", block_bytes=SMALL_BLOCKS)
    precision, recall = _torch_fidelity(real, fake)
    assert ours["precision"] == pytest.approx(precision, abs=1e-7)  # torch-fidelity returns float32 means
    assert ours["recall"] == pytest.approx(recall, abs=1e-7)


def test_exact_ties_follow_each_convention() -> None:
    # Points on a small integer lattice: many distances tie exactly with the k-NN radii.
    rng = np.random.default_rng(1)
    real = rng.integers(0, 3, (400, 3)).astype(np.float64)
    fake = rng.integers(0, 4, (300, 3)).astype(np.float64)
    strict, closed = prdc(real, fake, nearest_k=3), prdc(real, fake, nearest_k=3, convention="torch-fidelity")
    _assert_same(strict, _package(real, fake, 3))
    assert (closed["precision"], closed["recall"]) == pytest.approx(_torch_fidelity(real, fake), abs=1e-7)
    assert closed["precision"] > strict["precision"] and closed["coverage"] > strict["coverage"]


def test_block_size_does_not_change_the_values() -> None:
    real, fake = _sets(n_real=500, n_fake=700)
    reference = prdc(real, fake)
    for block_bytes in (1, 8 * 700 * 7, 10**9):
        assert prdc(real, fake, block_bytes=block_bytes) == reference
    real, fake = _sets(n_real=500, n_fake=700, d=64)
    reference = prdc(real, fake)
    for block_bytes in (8 * 700 * 3, 10**9):
        assert prdc(real, fake, block_bytes=block_bytes) == reference


def test_streaming_never_allocates_an_n_by_n_matrix() -> None:
    # 8,000 points: one N x N float64 matrix would be 512 MB; the blocks stay ~16 MB.
    script = (
        "import json, resource, numpy as np\n"
        "from gandiag.metrics import prdc\n"
        "x = np.random.default_rng(0).standard_normal((8000, 4)); y = x[::-1] + 0.01\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = prdc(x, y, block_bytes=16 * 2**20, search='blocks')\n"
        "grow = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base\n"
        "print(json.dumps({'grow_kib': grow, **out}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["grow_kib"] < 200 * 1024
    assert 0.9 < result["precision"] <= 1.0


def test_values_are_python_floats_and_bad_inputs_are_named() -> None:
    real, fake = _sets(n_real=50, n_fake=40)
    out = prdc(real, fake)
    assert set(out) == set(KEYS) and all(type(v) is float for v in out.values())
    with pytest.raises(GandiagInputError, match="fake has 3 samples"):
        prdc(real, fake[:3])
    with pytest.raises(GandiagInputError, match="convention"):
        prdc(real, fake, convention="<")
    with pytest.raises(GandiagInputError, match="real and fake have different dimensions"):
        prdc(real, fake[:, :2])
    with pytest.raises(GandiagInputError, match="k_dc"):
        prdc(real, fake, k_dc=0)
    with pytest.raises(GandiagInputError, match="precision 'half'"):
        prdc(real, fake, precision="half")
    with pytest.raises(GandiagInputError, match="search"):
        prdc(real, fake, search="ball")
    with pytest.raises(GandiagInputError, match="tree"):
        prdc(real, fake, search="tree", precision="float32")


def test_float32_screen_bound_holds_under_cancellation() -> None:
    # Large norms, small distances: -2 x.y + |x|^2 + |y|^2 cancels ~9 digits, the hard case.
    module = importlib.import_module("gandiag.metrics.prdc")
    rng = np.random.default_rng(3)
    x = torch.from_numpy((10.0 + 0.01 * rng.standard_normal((300, 256))).astype(np.float32))
    y = torch.from_numpy((10.0 + 0.01 * rng.standard_normal((200, 256))).astype(np.float32))
    side = module._Side(y, "exact", torch.float32)
    sq_x = (x.double() ** 2).sum(1)
    estimate = side.block(x, sq_x.float()).double()
    truth = torch.cdist(x.double(), y.double()) ** 2
    bound = torch.minimum(side.row_bound(sq_x), side.column_bound(sq_x))  # both hold; test the tighter
    assert torch.all((estimate - truth).abs() <= bound)
    i, j = torch.nonzero(torch.ones(300, 200, dtype=torch.bool), as_tuple=True)
    exact = side.exact(x, sq_x, i, j).reshape(300, 200)
    torch.testing.assert_close(exact, truth, rtol=1e-9, atol=1e-9)


def test_intervals_share_one_prdc_per_subsample_and_match_separate_ones() -> None:
    from gandiag.metrics import feature_intervals, feature_metric
    from gandiag.metrics.intervals import subsample_interval

    real, fake = _sets(n_real=300, n_fake=260, d=8)
    out = feature_intervals(real, fake, n_boot=20, repeats=6, seed=4, kid_options={"subsets": 5})
    assert set(out) == {"fid", "kid", *KEYS} and all(lo <= hi for lo, hi in out.values())
    for column in ("recall", "coverage"):
        assert out[column] == subsample_interval(feature_metric(column), real, fake, repeats=6, seed=4)
    assert out == feature_intervals(real, fake, n_boot=20, repeats=6, seed=4, kid_options={"subsets": 5})
    with pytest.raises(GandiagInputError, match="unknown feature metric 'ndb'"):
        feature_metric("ndb")


def _low_dim_sets(d: int, dtype) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gaussians; a lattice (exact ties, duplicates); points 1e5 x farther from 0 than apart (rounding ties)."""
    rng = np.random.default_rng(d)
    gauss = rng.standard_normal((1500, d)), rng.standard_normal((1200, d)) * 1.1 + 0.1
    lattice = rng.integers(0, 4, (600, d)) * 0.5, rng.integers(0, 5, (500, d)) * 0.5
    far = 1e3 + rng.standard_normal((800, d)) * 1e-2, 1e3 + rng.standard_normal((700, d)) * 1.2e-2
    return [(r.astype(dtype), f.astype(dtype)) for r, f in (gauss, lattice, far)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_tree_search_decides_exactly_as_the_blocks(dtype, d) -> None:
    for real, fake in _low_dim_sets(d, dtype):
        for convention in CONVENTIONS:
            for k in ({"nearest_k": 3}, {}):
                tree = prdc(real, fake, convention=convention, search="tree", **k)
                assert tree == prdc(real, fake, convention=convention, search="blocks", **k), (d, convention, k)
        _assert_same(prdc(real, fake, nearest_k=4, search="tree"), _package(real, fake, 4))  # ties included


def test_tree_falls_back_to_the_blocks_when_the_balls_hold_too_many_pairs(monkeypatch) -> None:
    real, fake = _low_dim_sets(2, np.float64)[1]
    blocks = prdc(real, fake, search="blocks")
    assert prdc(real, fake, search="tree") == blocks
    monkeypatch.setattr(prdc_tree, "MAX_CANDIDATES", 1000)
    with pytest.raises(prdc_tree.TooManyCandidates):  # 600 points, each ball holds at least 4
        prdc_tree._pairs(cKDTree(real), real, np.full(len(real), 0.6))
    assert prdc(real, fake) == blocks and prdc(real, fake, search="tree") == blocks
