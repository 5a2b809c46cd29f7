"""Precision/recall/density/coverage at N = 20,000 and 50,000, d = 2048: gandiag against peers.

    .venv/bin/python benchmarks/bench_prdc.py [--repeats 3] [--only '[{"n": 5000, "d": 2048}]']
    .venv/bin/python benchmarks/bench_prdc.py --only '[{"n": 10000, "d": 2}, {"n": 20000, "d": 2}]'

Inputs: N real and N fake float32 features (ReLU'd correlated Gaussians, like Inception pool
features; for d = 2, ring8 samples and a copy of ring8 with radius x 1.05 instead, what an
audit row scores), written once and shared by every case. Cases (k = 5 wherever one k serves all four
metrics, as in the ``prdc`` package; torch-fidelity computes precision and recall only, k = 3):

* ``gandiag``: :func:`gandiag.metrics.prdc` (streaming blocks, float64 distances);
* ``gandiag-f32``: the same with ``precision="float32"``;
* ``gandiag-blocks``: the same with ``search="blocks"`` (at d <= 6 the default is the k-d tree
  path; this case shows what the tree saves);
* ``prdc``: the ``prdc`` package's ``compute_prdc`` (full N x N matrices);
* ``torch-fidelity``: ``prc_features_to_metric`` (full matrices, its default);
* ``torch-fidelity-lowmem``: the same with ``save_cpu_ram=True`` (row batches of 10,000).

"peak extra MiB" is the growth of the child's peak RSS during the call, beyond the inputs.
Cases whose full matrices would need more than ``MEMORY_LIMIT_GIB`` are skipped (and say so).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import torch
from prdc import compute_prdc
from torch_fidelity.metric_prc import prc_features_to_metric

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import main  # noqa: E402

import gandiag  # noqa: E402
from gandiag.metrics import prdc  # noqa: E402

MEMORY_LIMIT_GIB = 16
# Bytes per matrix entry at the peak: prdc keeps float32 distances and argpartition's int64
# indices; torch-fidelity's full mode concatenates float32 blocks (2 copies) and keeps a bool mask.
PEAK_BYTES_PER_ENTRY = {"prdc": 12, "torch-fidelity": 9}


def make_inputs(folder: Path, n: int, d: int) -> None:
    if d == 2:
        ring = gandiag.reference("ring8")
        np.save(folder / "real.npy", ring.sample(n, seed=0).numpy())
        np.save(folder / "fake.npy", ring.sample(n, seed=1).numpy() * 1.05)
        return
    rng = np.random.default_rng(0)
    mix = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    for name, shift in (("real", 0.0), ("fake", 0.1)):
        x = np.empty((n, d), dtype=np.float32)
        for i in range(0, n, 5000):  # in pieces: the float64 draw of 50k x 2048 would be 800 MB
            block = rng.standard_normal((min(5000, n - i), d)).astype(np.float32)
            x[i : i + len(block)] = np.maximum(block @ mix + shift, 0.0)
        np.save(folder / f"{name}.npy", x)


def skip(case: str, params: dict) -> str | None:
    per_entry = PEAK_BYTES_PER_ENTRY.get(case)
    need = per_entry * params["n"] ** 2 / 2**30 if per_entry else 0.0
    return f"needs ~{need:.0f} GiB > {MEMORY_LIMIT_GIB} GiB" if need > MEMORY_LIMIT_GIB else None


def _fmt(values: dict) -> str:
    return " ".join(f"{k[0]}={float(v):.4f}" for k, v in values.items() if k != "f_score")


def _gandiag(x: dict, **_: int) -> str:
    return _fmt(prdc(x["real"], x["fake"], nearest_k=5))


def _gandiag_f32(x: dict, **_: int) -> str:
    return _fmt(prdc(x["real"], x["fake"], nearest_k=5, precision="float32"))


def _gandiag_blocks(x: dict, **_: int) -> str:
    return _fmt(prdc(x["real"], x["fake"], nearest_k=5, search="blocks"))


def _prdc_package(x: dict, **_: int) -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        return _fmt(compute_prdc(x["real"], x["fake"], 5))


def _torch_fidelity(x: dict, save_cpu_ram: bool = False, **_: int) -> str:
    fake, real = torch.from_numpy(x["fake"]), torch.from_numpy(x["real"])  # its input1 is the generated set
    out = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=save_cpu_ram, verbose=False)
    return "(k=3) " + _fmt(out)


CASES = {
    "gandiag": _gandiag,
    "gandiag-f32": _gandiag_f32,
    "gandiag-blocks": _gandiag_blocks,
    "prdc": _prdc_package,
    "torch-fidelity": _torch_fidelity,
    "torch-fidelity-lowmem": lambda x, **p: _torch_fidelity(x, save_cpu_ram=True, **p),
}

if __name__ == "__main__":
    main(
        CASES, make_inputs, ours="gandiag", grid=[{"n": 20000, "d": 2048}, {"n": 50000, "d": 2048}], skip=skip,
        describe="precision / recall / density / coverage",
    )  # fmt: skip
