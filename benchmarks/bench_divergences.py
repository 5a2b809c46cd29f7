"""Sliced and exact Wasserstein: POT against gandiag, side by side.

    .venv/bin/python benchmarks/bench_divergences.py [--repeats 3]           # full grid
    .venv/bin/python benchmarks/bench_divergences.py --only '[{"kind": "sliced", "n": 100000, "d": 64}]'

Grid: sliced W2 with 500 projections at n = 10k and 100k points per side and d = 2, 64, 2048;
exact W1 at n = 1k, 2k, 5k (d = 2). Inputs: x ~ N(0, I), y ~ N(0.2, 1.3^2 I), float64, and for
sliced W the (d, 500) projection matrix, written once and shared by both cases:

* ``pot``: ``ot.sliced_wasserstein_distance(x, y, projections=P)`` (p = 2), or
  ``ot.emd2(a, b, ot.dist(x, y, metric="euclidean"))`` for exact W1;
* ``gandiag``: :func:`gandiag.metrics.sliced_w` with the same ``projections=P`` (streamed in
  64 MiB blocks), or :func:`gandiag.metrics.w1` (the same network simplex, plus the status check).

The harness (``_harness.py``) runs each case in a fresh child process, alternating, and reports
medians, peak RSS growth during the call (beyond the loaded inputs) and the value (the two must
agree: same projections, same formula). POT's sliced W keeps about twenty (n, 500) float64 or
int64 arrays alive at once (projections, argsort indices, sorted values and weights, cumulative
weights, the merged quantile grid and its look-ups); combinations where that, or its run time,
would exceed ~12 GB or ~2 min on this 2-core machine are skipped for POT, and the table says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import ot

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import main  # noqa: E402

from gandiag.metrics import random_projections, sliced_w, w1  # noqa: E402

N_PROJECTIONS = 500
POT_MEMORY_LIMIT_GIB = 12
POT_TIME_LIMIT_S = 120
GRID = [{"kind": "sliced", "n": n, "d": d} for n in (10_000, 100_000) for d in (2, 64, 2048)] + [
    {"kind": "exact", "n": n, "d": 2} for n in (1000, 2000, 5000)
]


def pot_sliced_cost(n: int, d: int, k: int = N_PROJECTIONS) -> tuple[float, float]:
    """Estimated (GiB, seconds) of POT's sliced W: the inputs plus ~20 (n, k) 8-byte arrays;
    ~1.3 us per (n, k) entry plus the projection products at ~10 GFLOP/s (calibrated here: 65 s
    and 10 GB at n = 100k, d = 64)."""
    return (20.0 * n * k * 8 + 2.0 * n * d * 8) / 2**30, 1.3e-6 * n * k + 4.0 * n * d * k / 1e10


def available_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def make_inputs(folder: Path, kind: str, n: int, d: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    np.save(folder / "x.npy", x)
    del x
    y = rng.standard_normal((n, d))
    y *= 1.3
    y += 0.2
    np.save(folder / "y.npy", y)
    if kind == "sliced":
        np.save(folder / "proj.npy", random_projections(d, N_PROJECTIONS, seed=0))


def skip(case: str, params: dict) -> str | None:
    if case != "pot" or params["kind"] != "sliced":
        return None
    gib, seconds = pot_sliced_cost(params["n"], params["d"])
    if gib > POT_MEMORY_LIMIT_GIB or seconds > POT_TIME_LIMIT_S:
        return f"estimated {gib:.0f} GiB and {seconds:.0f} s (limits {POT_MEMORY_LIMIT_GIB} GiB, {POT_TIME_LIMIT_S} s)"
    if gib > 0.8 * available_gib():  # the machine is shared: never push it into the OOM killer
        return f"estimated {gib:.0f} GiB, only {available_gib():.0f} GiB available now"
    return None


def _pot(x: dict, kind: str, n: int, **_: int) -> float:
    if kind == "sliced":
        return float(ot.sliced_wasserstein_distance(x["x"], x["y"], projections=x["proj"]))
    a = np.full(n, 1.0 / n)
    return float(ot.emd2(a, a, ot.dist(x["x"], x["y"], metric="euclidean"), numItermax=10_000_000))


def _gandiag(x: dict, kind: str, n: int, **_: int) -> float:
    if kind == "sliced":
        return sliced_w(x["x"], x["y"], projections=x["proj"])
    return w1(x["x"], x["y"], max_points=n)


CASES = {"pot": _pot, "gandiag": _gandiag}

if __name__ == "__main__":
    main(CASES, make_inputs, ours="gandiag", grid=GRID, skip=skip,
         describe=f"sliced W2 ({N_PROJECTIONS} projections, the same matrix for both) and exact W1: POT against gandiag")
