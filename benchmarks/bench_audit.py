"""Seconds per checkpoint for gandiag's default metric set (what ``gandiag audit`` computes per row).

    .venv/bin/python benchmarks/bench_audit.py [--repeats 3]

Cases: ``ring8`` at n = 10,000 and ``digits`` at its default n (898, half the stored images), the
generated samples being a slightly wrong copy of the reference (radius x 1.05 on ring8, pixel
noise on digits) so that the classifier and transport solvers do real work. Each case builds one
:class:`gandiag.scoring.Scorer` (reference sample, features, NDB bins: once per audit, timed
separately) and scores ``--repeats`` checkpoints with it; per-metric times come from scoring one
family at a time. No peer computes this row, so there is no ratio: the figures are issue 16's
targets (a ring8 row with its sampling at most 1.0 s, a digits row at most 3 s, a one-checkpoint
``gandiag audit`` process at most 5 s, on 2 cores).

``ring8 checkpoint``: the same row for a real checkpoint, sampling included: ``nsgan-ring8`` (the
recipe's 3 x 512 MLP) trained ``--train-steps`` steps on one thread into a temporary folder, then
timed as load, sampling 10,000 points, ``Scorer.score`` (sampling + row), and ``gandiag.audit`` of
the one-checkpoint folder end to end (reference set-up, the row, the real-vs-real floor row, the
report) as a user's ``gandiag audit`` does, minus the interpreter and import start-up; then
``gandiag audit`` of that folder as a process (wall time): the imports alone, a first run, runs
that read the real-vs-real row from the floor cache and ``--no-cache`` runs that score it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--train-steps", type=int, default=300, help="steps of the nsgan-ring8 checkpoint case")
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
    checkpoint_case(args.repeats, args.train_steps)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def checkpoint_case(repeats: int, steps: int) -> None:
    """Time a real ``nsgan-ring8`` checkpoint: load, sampling, the scored row, a one-checkpoint audit."""
    from reference_models import checkpoints, make_config, train

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "nsgan-ring8"
        train_time, _ = timed(lambda: train(make_config("nsgan-ring8", {"steps": steps, "checkpoint_every": steps}),
                                            run, progress=False, threads=1))
        ckpt = checkpoints(run)[-1]
        single = Path(tmp) / "one"
        single.mkdir()
        (single / ckpt.name).write_bytes(ckpt.read_bytes())
        scorer = Scorer("ring8", n=10_000)
        load = sorted(timed(lambda: gandiag.load_generator(ckpt))[0] for _ in range(repeats))
        gen = gandiag.load_generator(ckpt)
        scorer.score(gen)  # warm-up
        sampling = sorted(timed(lambda: scorer.sample(gen))[0] for _ in range(repeats))
        row = sorted(timed(lambda: scorer.score(gen))[0] for _ in range(repeats))
        audit = sorted(timed(lambda: gandiag.audit(str(single), "ring8", n=10_000, progress=False))[0]
                       for _ in range(repeats))
        mid = repeats // 2
        print(f"\nring8 checkpoint ({steps} training steps in {train_time:.0f} s, {ckpt.name}), medians of {repeats}: "
              f"load {load[mid]:.3f} s, sampling 10,000 {sampling[mid]:.3f} s, row with sampling {row[mid]:.2f} s, "
              f"one-checkpoint audit (set-up, row, floor row, report) {audit[mid]:.2f} s")
        process_case(single, Path(tmp), repeats)


def process_case(single: Path, tmp: Path, repeats: int) -> None:
    """``gandiag audit ONE --reference ring8 --n 10000 --out OUT`` as a user runs it, wall time of the process:
    the imports alone, a first run (the floor cache empty: the real-vs-real row is scored) and
    ``repeats`` later runs into new output folders (the floor read from the cache), interleaved with
    ``--no-cache`` runs (the floor scored every time)."""
    import subprocess
    import sys

    env = {**os.environ, "GANDIAG_CACHE_DIR": str(tmp / "cache")}
    imports = "import torch, ot, scipy.stats, pandas, matplotlib.pyplot, sklearn.cluster, gandiag.auditing, gandiag.cli"
    cli = "import sys; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"

    def wall(*args: str) -> float:
        return timed(lambda: subprocess.run([sys.executable, "-c", *args], env=env, check=True,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))[0]

    def audit(out: str, *extra: str) -> float:
        return wall(cli, "audit", str(single), "--reference", "ring8", "--n", "10000", "--out", str(tmp / out),
                    "--quiet", *extra)

    imported = sorted(wall(imports) for _ in range(repeats))
    first = audit("first")
    cached, uncached = [], []
    for i in range(repeats):
        cached.append(audit(f"cached{i}"))
        uncached.append(audit(f"uncached{i}", "--no-cache"))
    mid = repeats // 2
    print(f"gandiag audit as a process, wall, medians of {repeats}: imports alone {imported[mid]:.2f} s; "
          f"first run {first:.2f} s; floor from the cache {sorted(cached)[mid]:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in cached)}); --no-cache {sorted(uncached)[mid]:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in uncached)})")


if __name__ == "__main__":
    main()
