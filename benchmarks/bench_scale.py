"""What Dask buys an audit: serial against ``--workers 2``, and the cost of a task.

    .venv/bin/python benchmarks/bench_scale.py [--checkpoints 40] [--n 10000] [--workers 2] [--metrics default]

1. **Speed-up**: a ring8 run folder of ``--checkpoints`` sample files (``step-*.npy``, slightly
   wrong copies of the reference, so every metric does real work) is audited at ``--n`` with the
   default metrics, each case in a fresh process, alternating: serial with one torch thread,
   serial with torch's default threads (today's default), and ``gandiag.audit(workers=W)`` (an
   embedded LocalCluster of W one-thread worker processes). Times are of the ``audit`` call only;
   for Dask the cluster start-up is shown apart. Peak memory: the serial process's peak RSS, and
   each worker's (``ru_maxrss``, read on the workers after the audit).
2. **Per-task overhead** at tiny n (``--tiny-n``, metrics ``modes``): ``(W * T_dask - T_serial) /
   tasks``, the worker-seconds Dask adds to each task (scheduling, transfer, result commit), and
   the bytes moved: the scattered Scorer (once per worker) and one result (per task).
3. Every case's report is compared with the one-thread serial report (``equal: True`` means cell
   for cell).

No peer scales audits (every peer evaluates in one process), so the ratios are against our own
serial runs. The load average is printed: on a shared machine, figures move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_run(folder: Path, count: int, n: int) -> None:
    import gandiag

    ring = gandiag.reference("ring8")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        x = np.asarray(ring.sample(n, seed=1000 + i), np.float32) * np.float32(1.0 + 0.01 * i)
        np.save(folder / f"step-{(i + 1) * 100:07d}.npy", x)


def child(case: str, run: Path, n: int, metrics: str | None, workers: int, save: Path) -> None:
    """One case in this fresh process; prints one JSON line."""
    import torch

    import gandiag

    if case == "serial1":
        torch.set_num_threads(1)
    out: dict = {"case": case, "torch_threads": torch.get_num_threads()}
    kwargs = dict(n=n, metrics=metrics, progress=False)
    if case == "dask":
        from gandiag.auditing.distributed import open_client

        start = time.perf_counter()
        with open_client(workers=workers, quiet=True) as client:
            client.wait_for_workers(workers)
            client.run(lambda: __import__("gandiag.scoring"))  # the workers' imports are start-up too
            out["startup_s"] = time.perf_counter() - start
            start = time.perf_counter()
            report = gandiag.audit(str(run), "ring8", client=client, **kwargs)
            out["seconds"] = time.perf_counter() - start
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
            out["worker_peak_mib"] = sorted(round(v) for v in peaks.values())
            from gandiag.scoring import Scorer

            scorer = Scorer("ring8", n=n, metrics=metrics)
            out["scorer_bytes"] = len(pickle.dumps(scorer))
            out["result_bytes"] = len(pickle.dumps(scorer.floor_result()))
    else:
        start = time.perf_counter()
        report = gandiag.audit(str(run), "ring8", **kwargs)
        out["seconds"] = time.perf_counter() - start
    out["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    report.frame.to_pickle(save)
    print(json.dumps(out))


def run_case(case: str, run: Path, n: int, metrics: str | None, workers: int, save: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--run", str(run), "--n", str(n), "--workers", str(workers),
           "--metrics", metrics or "default", "--save", str(save)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
                          if case != "serial" else dict(os.environ))
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"case": case, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def compare(base: Path, other: Path) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(pd.read_pickle(base), pd.read_pickle(other), check_exact=True)
    except AssertionError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=40)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--metrics", default="default", help="'default': gandiag's default selection")
    parser.add_argument("--tiny-n", type=int, default=64)
    parser.add_argument("--tiny-tasks", type=int, default=40)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    metrics = None if args.metrics == "default" else args.metrics
    if args.child:
        child(args.child, Path(args.run), args.n, metrics, args.workers, Path(args.save))
        return
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        rows = []
        for label, count, n, mets, cases in (
                ("speed-up", args.checkpoints, args.n, metrics, ("serial1", "dask", "serial")),
                ("tiny-n overhead", args.tiny_tasks, args.tiny_n, "modes", ("serial1", "dask"))):
            run = tmp_path / label.replace(" ", "_")
            write_run(run, count, max(n, 16))
            results = {c: run_case(c, run, n, mets, args.workers, tmp_path / f"{label}-{c}.pkl") for c in cases}
            base = results["serial1"].get("seconds")
            print(f"\n== {label}: {count} checkpoints, n = {n}, metrics {mets or 'default'}, workers {args.workers}")
            for c, r in results.items():
                if "error" in r:
                    print(f"  {c:8s} error: {r['error']}")
                    continue
                equal = compare(tmp_path / f"{label}-serial1.pkl", tmp_path / f"{label}-{c}.pkl")
                extra = ""
                if c == "dask":
                    extra = (f"  start-up {r['startup_s']:.1f} s, worker peak RSS {r['worker_peak_mib']} MiB, "
                             f"Scorer {r['scorer_bytes'] / 1e6:.2f} MB, one result {r['result_bytes'] / 1e3:.0f} kB")
                print(f"  {c:8s} {r['seconds']:8.2f} s  speed-up over serial1 {base / r['seconds']:5.2f}x  "
                      f"torch threads {r['torch_threads']}  peak RSS {r['peak_mib']} MiB  equal: {equal}{extra}")
            rows.append((label, count, results))
        label, count, results = rows[-1]
        if "seconds" in results.get("dask", {}) and "seconds" in results.get("serial1", {}):
            per_task = (args.workers * results["dask"]["seconds"] - results["serial1"]["seconds"]) / count
            print(f"\nper-task overhead of the Dask path: {per_task * 1000:.0f} ms of worker time per task "
                  f"({results['dask']['seconds'] / count * 1000:.0f} ms wall per task with {args.workers} workers, "
                  f"{results['serial1']['seconds'] / count * 1000:.0f} ms serial)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
