"""Seconds per checkpoint for gandiag's default metric set (what ``gandiag audit`` computes per row).

    .venv/bin/python benchmarks/bench_audit.py [--repeats 3]

Cases: ``ring8`` at n = 10,000 and ``digits`` at its default n (898, half the stored images), the
generated samples being a slightly wrong copy of the reference (radius x 1.05 on ring8, pixel
noise on digits) so that the classifier and transport solvers do real work. Each case builds one
:class:`gandiag.scoring.Scorer` (reference sample, features, NDB bins: once per audit, timed
separately) and scores ``--repeats`` checkpoints with it; per-metric times come from scoring one
family at a time. No peer computes this row, so there is no ratio: the figure is the issue's
target (under 5 s per ring8 checkpoint on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import gandiag
from gandiag.scoring import FAMILIES, Scorer


def fake_samples(name: str, n: int) -> np.ndarray:
    ref = gandiag.reference(name)
    x = ref.sample(n, seed=12345).numpy()
    if name == "ring8":
        return x * 1.05
    noise = np.random.default_rng(0).normal(0, 0.3, size=x.shape).astype(np.float32)
    return np.clip(x + noise, -1, 1)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| reference | n | set-up (s) | s / checkpoint (median) | " + " | ".join(FAMILIES) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(FAMILIES))
    for name, n in (("ring8", 10_000), ("digits", None)):
        setup, scorer = timed(lambda: Scorer(name, n=n))
        fake = fake_samples(name, scorer.n)
        scorer(fake)  # warm-up: first calls pay for lazy imports and allocator growth
        per_row = sorted(timed(lambda: scorer(fake))[0] for _ in range(args.repeats))
        families = []
        for family in FAMILIES:
            one = Scorer(name, n=n, metrics=family)
            families.append(timed(lambda: one(fake))[0])
        cells = " | ".join(f"{t:.2f}" for t in families)
        print(f"| {name} | {scorer.n} | {setup:.2f} | {per_row[len(per_row) // 2]:.2f} | {cells} |")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
