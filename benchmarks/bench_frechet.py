"""Frechet distance at d = 2048: gandiag against torch-fidelity 0.4 and scipy's sqrtm, same inputs.

    .venv/bin/python benchmarks/bench_frechet.py [--repeats 5] [--only '[{"d": 512, "n": 4096}]']

Inputs: means and ddof = 1 covariances of two sets of n ReLU'd correlated Gaussian features
(like Inception pool features), computed once and shared by every case. Cases:

* ``gandiag``: :func:`gandiag.metrics.frechet_distance` (Cholesky + symmetric eigenvalues);
* ``torch-fidelity``: ``torch_fidelity.metric_fid.fid_statistics_to_metric``, its own FID step
  (``eigvals(S1 @ S2)``, complex, real part);
* ``scipy-sqrtm``: the textbook formula, ``scipy.linalg.sqrtm(S1 @ S2)`` (pytorch-fid's way).

Each run is one child process (see ``_harness.py``); the table's "value" column shows that all
three give the same distance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.linalg
from torch_fidelity.metric_fid import fid_statistics_to_metric

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import main  # noqa: E402

from gandiag.metrics import frechet_distance  # noqa: E402


def make_inputs(folder: Path, d: int, n: int) -> None:
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    for i, shift in enumerate((0.0, 0.1), start=1):
        x = np.maximum(rng.standard_normal((n, d)) @ mix + shift, 0.0)
        np.save(folder / f"mu{i}.npy", x.mean(axis=0))
        np.save(folder / f"sigma{i}.npy", np.cov(x, rowvar=False))


def _gandiag(s: dict, **_: int) -> str:
    return f"{frechet_distance(s['mu1'], s['sigma1'], s['mu2'], s['sigma2']):.10g}"


def _torch_fidelity(s: dict, **_: int) -> str:
    stats = [{"mu": s[f"mu{i}"], "sigma": s[f"sigma{i}"]} for i in (1, 2)]
    return f"{fid_statistics_to_metric(stats[0], stats[1], verbose=False)['frechet_inception_distance']:.10g}"


def _scipy_sqrtm(s: dict, **_: int) -> str:
    covmean = scipy.linalg.sqrtm(s["sigma1"] @ s["sigma2"])
    diff = s["mu1"] - s["mu2"]
    value = diff @ diff + np.trace(s["sigma1"]) + np.trace(s["sigma2"]) - 2 * np.trace(covmean).real
    return f"{value:.10g}"


CASES = {"gandiag": _gandiag, "torch-fidelity": _torch_fidelity, "scipy-sqrtm": _scipy_sqrtm}

if __name__ == "__main__":
    main(CASES, make_inputs, ours="gandiag", grid=[{"d": 2048, "n": 10000}], describe="Frechet distance from statistics")
