"""KID at d = 2048, n = 10,000 (100 subsets of 1,000): gandiag against torch-fidelity, same inputs.

    .venv/bin/python benchmarks/bench_kid.py [--repeats 5] [--only '[{"d": 2048, "n": 10000, "subsets": 20}]']

Inputs: n real and n fake float32 features (ReLU'd correlated Gaussians, like Inception pool
features), written once and shared by every case. Cases, both with seed 2020 and the real
features first (torch-fidelity's ``input1``), so the subsets are the same:

* ``gandiag``: :func:`gandiag.metrics.kid` on the float32 arrays (one ``ssyrk`` of [X; Y] per
  subset: 2 m^2 d multiply-adds);
* ``gandiag-audit``: the same with the reference side's kernel sums already in ``real_cache``, as
  every checkpoint after the first of an audit computes it (the cache is filled untimed, from the
  same real features and seed);
* ``gandiag-f64``: the same on float64 copies (the precision before issue 16);
* ``torch-fidelity``: ``torch_fidelity.metric_kid.kid_features_to_metric`` on float32 tensors
  (three ``np.matmul`` per subset, of which numpy runs X @ X.T and Y @ Y.T as ``syrk``: 2 m^2 d
  multiply-adds too, and ``** 3`` on each kernel matrix).

Each run is one child process (see ``_harness.py``); "value" shows that they agree (float32
rounding apart: see :mod:`gandiag.metrics.kid` for the stated tolerance).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import main  # noqa: E402

from gandiag.metrics import kid  # noqa: E402

SEED = 2020
SUBSET_SIZE = 1000


def make_inputs(folder: Path, d: int, n: int, subsets: int = 100) -> None:
    rng = np.random.default_rng(0)
    mix = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    for name, shift in (("real", 0.0), ("fake", 0.05)):
        x = np.maximum(rng.standard_normal((n, d), dtype=np.float32) @ mix + np.float32(shift), 0.0)
        np.save(folder / f"{name}.npy", x.astype(np.float32))


def _gandiag(s: dict, subsets: int = 100, **_: int) -> str:
    return f"{kid(s['real'], s['fake'], subsets=subsets, subset_size=SUBSET_SIZE, seed=SEED):.10g}"


def _gandiag_cached(s: dict, subsets: int = 100, **_: int) -> str:
    return f"{kid(s['real'], s['fake'], subsets=subsets, subset_size=SUBSET_SIZE, seed=SEED, real_cache=s['cache']):.10g}"


def _fill_cache(s: dict, subsets: int = 100, **_: int) -> dict:
    cache: dict = {}
    kid(s["real"], s["fake"], subsets=subsets, subset_size=SUBSET_SIZE, seed=SEED, real_cache=cache)
    return {**s, "cache": cache}


_gandiag_cached.prepare = _fill_cache  # type: ignore[attr-defined]


def _gandiag_f64(s: dict, subsets: int = 100, **_: int) -> str:
    real, fake = s["real"].astype(np.float64), s["fake"].astype(np.float64)
    return f"{kid(real, fake, subsets=subsets, subset_size=SUBSET_SIZE, seed=SEED):.10g}"


def _torch_fidelity(s: dict, subsets: int = 100, **_: int) -> str:
    out = kid_features_to_metric(torch.from_numpy(s["real"]), torch.from_numpy(s["fake"]), kid_subsets=subsets,
                                 kid_subset_size=SUBSET_SIZE, rng_seed=SEED, verbose=False)
    return f"{out['kernel_inception_distance_mean']:.10g}"


CASES = {"gandiag": _gandiag, "torch-fidelity": _torch_fidelity, "gandiag-audit": _gandiag_cached,
         "gandiag-f64": _gandiag_f64}

if __name__ == "__main__":
    main(CASES, make_inputs, ours="gandiag", grid=[{"d": 2048, "n": 10000}], describe="KID (100 subsets of 1000)")
