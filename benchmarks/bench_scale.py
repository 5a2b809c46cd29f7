"""What Dask buys an audit: serial against ``--workers 2``, and the cost of a task.

    .venv/bin/python benchmarks/bench_scale.py [--checkpoints 40] [--n 10000] [--workers 2] [--rounds 1]

The issue's case is the default (40 checkpoints at n = 10,000: about 4 minutes on an idle 2-core
machine, with the tiny-task cases: 84 s serial on one thread, 57 s on the default threads, 49 s on
2 workers, measured 2026-12-01); ``--checkpoints 12`` is a quick check (about 1 minute),
``--rounds 3`` repeats the cases interleaved and prints the median speed-up.

1. **Speed-up**: a ring8 run folder of ``--checkpoints`` sample files (``step-*.npy``, slightly
   wrong copies of the reference, so every metric does real work) is audited at ``--n`` with the
   default metrics, each case in a fresh process, alternating: serial on one thread
   (``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``, ``GANDIAG_THREADS=1``), serial with torch's
   default threads (today's default), and ``gandiag.audit(workers=W)`` (an embedded LocalCluster of W
   one-thread worker processes). Times are of the ``audit`` call only; for Dask the cluster start-up
   is shown apart. Peak memory: the serial process's peak RSS, and each worker's (``ru_maxrss``).
2. **Where the time goes** (load-independent checks first): CPU seconds of the audit process and of
   the workers, and "cores" = CPU / wall; for serial rows, the CPU spent on threads other than the
   caller's (a "one-thread" baseline that is not); for Dask, from the scheduler's task stream: the
   seconds before the first task starts (the client's reference side, the scatter), after the last
   ends (the report, the real-vs-real row when the client scores it), each worker's busy and idle
   seconds, and the tail (one worker done, the other still running).
3. **Per-task overhead** at tiny n (``--tiny-n``, metrics ``modes``): the idle worker time per task
   between the first task's start and the last one's end, the task's compute time against the same
   row in the serial loop, and the older ``(W * T_dask - T_serial) / tasks`` (which also counts the
   audit's fixed costs, twice); the bytes moved: the scattered Scorer (once per worker), one result.
4. Every case's report is compared with the one-thread serial report (``equal: True``: cell for cell).

No peer scales audits (every peer evaluates in one process), so the ratios are against our own
serial runs. The load average is printed with every case: on a shared machine, figures move with it
(and with the kernel's autogroup scheduling, a busy machine gives this whole benchmark one session's
share of the cores, so two workers can get the time of one).
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


def _timed_rows(out: dict) -> None:
    """Record every row scored in this process: Scorer.score and floor_result, (name, wall, process CPU, CPU of
    the calling thread) seconds and the time.time() it ended; process CPU above the thread's is the row's work
    on other threads."""
    from gandiag.scoring import Scorer

    out["rows"] = []
    for name in ("score", "floor_result"):
        method = getattr(Scorer, name)

        def timed(self, *a, _method=method, _name=name, **k):
            wall, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
            try:
                return _method(self, *a, **k)
            finally:
                out["rows"].append((_name, time.perf_counter() - wall, time.process_time() - cpu,
                                    time.thread_time() - own, time.time()))
        setattr(Scorer, name, timed)


def _stream(data: list, t0: float, t1: float) -> dict:
    """Where the wall time of a Dask audit went, from the scheduler's task stream (times from time.time()):
    before the first row task starts, after the last one ends, and each worker's busy and idle seconds between."""
    spans: dict[str, list] = {}
    for task in data:
        if "gandiag-" not in str(task["key"]):  # a row, or the real-vs-real row
            continue
        for ss in task["startstops"]:
            if ss["action"] == "compute":
                spans.setdefault(task["worker"], []).append((ss["start"], ss["stop"]))
    if not spans:
        return {}
    first = min(a for s in spans.values() for a, _ in s)
    last = max(b for s in spans.values() for _, b in s)
    busy = {w: sum(b - a for a, b in s) for w, s in spans.items()}
    tasks = [b - a for s in spans.values() for a, b in s]
    floor = any("gandiag-floor" in str(task["key"]) for task in data)
    return {"floor_task": floor, "before_first_task_s": first - t0, "after_last_task_s": t1 - last, "tasks": len(tasks),
            "task_mean_s": float(np.mean(tasks)), "busy_s": sorted(busy.values()),
            "idle_s": sorted(last - first - v for v in busy.values()),
            "tail_s": last - min(max(b for _, b in s) for s in spans.values())}


def child(case: str, run: Path, n: int, metrics: str | None, workers: int, save: Path) -> None:
    """One case in this fresh process; prints one JSON line."""
    import torch

    import gandiag

    if case == "serial1":
        torch.set_num_threads(1)
    out: dict = {"case": case, "torch_threads": torch.get_num_threads()}
    _timed_rows(out)
    kwargs = dict(n=n, metrics=metrics, progress=False)
    if case == "dask":
        import distributed

        from gandiag.auditing.distributed import open_client

        start = time.perf_counter()
        with open_client(workers=workers, quiet=True) as client:
            client.wait_for_workers(workers)
            client.run(lambda: __import__("gandiag.scoring"))  # the workers' imports are start-up too
            out["startup_s"] = time.perf_counter() - start
            out["worker_threads"] = sorted(set(client.run(_threads).values()))
            cpu0 = client.run(time.process_time)
            with distributed.get_task_stream(client=client) as stream:
                t0, start, cpu = time.time(), time.perf_counter(), time.process_time()
                report = gandiag.audit(str(run), "ring8", client=client, **kwargs)
                out["seconds"], out["cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
                t1 = time.time()
            cpu1 = client.run(time.process_time)
            out["worker_cpu_s"] = sorted(cpu1[w] - cpu0[w] for w in cpu0 if w in cpu1)
            out["stream"] = _stream(stream.data, t0, t1)
            peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
            out["worker_peak_mib"] = sorted(round(v) for v in peaks.values())
            from gandiag.scoring import Scorer

            scorer = Scorer("ring8", n=n, metrics=metrics)
            out["scorer_bytes"] = len(pickle.dumps(scorer))
            out["result_bytes"] = len(pickle.dumps(scorer.floor_result()))
            out["rows"] = out["rows"][:-1]  # the floor_result just above is not part of the audit
    else:
        t0, start, cpu = time.time(), time.perf_counter(), time.process_time()
        report = gandiag.audit(str(run), "ring8", **kwargs)
        out["seconds"], out["cpu_s"] = time.perf_counter() - start, time.process_time() - cpu
        rows = [t for t in out["rows"] if t[0] == "score"]
        if rows:
            out["before_first_row_s"] = rows[0][4] - rows[0][1] - t0
            out["after_last_row_s"] = time.time() - rows[-1][4]
    out["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    report.frame.to_pickle(save)
    print(json.dumps(out))


def _threads() -> tuple:
    """On a worker: torch's thread count and $GANDIAG_THREADS."""
    import torch

    return torch.get_num_threads(), os.environ.get("GANDIAG_THREADS")


def run_case(case: str, run: Path, n: int, metrics: str | None, workers: int, save: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--run", str(run), "--n", str(n), "--workers", str(workers),
           "--metrics", metrics or "default", "--save", str(save)]
    # one thread: torch (OMP) and gandiag's own (GANDIAG_THREADS); the default case keeps the user's environment
    one = {**os.environ, "OMP_NUM_THREADS": "1", "GANDIAG_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=one if case != "serial" else dict(os.environ))
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"case": case, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(lines[-1])
    out["load"] = os.getloadavg()[0]
    return out


def compare(base: Path, other: Path) -> bool:
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(pd.read_pickle(base), pd.read_pickle(other), check_exact=True)
    except AssertionError:
        return False
    return True


def _line(c: str, r: dict, base: float | None, equal: bool) -> str:
    """One case of one round: wall time, speed-up, cores used (process CPU / wall), rows, memory."""
    if "error" in r:
        return f"  {c:8s} error: {r['error']}"
    rows = np.array([t[1:4] for t in r["rows"] if t[0] == "score"]).reshape(-1, 3)
    text = (f"  {c:8s} {r['seconds']:7.2f} s  x{base / r['seconds']:.2f} of serial1  load {r['load']:.1f}  "
            f"torch threads {r['torch_threads']}  client CPU {r['cpu_s']:.1f} s ({r['cpu_s'] / r['seconds']:.2f} cores)  "
            f"peak RSS {r['peak_mib']} MiB  equal: {equal}")
    if len(rows):
        wall, cpu, own = rows.mean(axis=0)
        text += (f"\n           rows scored here: {len(rows)}, {wall:.2f} s each, CPU {cpu:.2f} s of which "
                 f"{cpu - own:.2f} s on other threads than the caller's")
        if "before_first_row_s" in r:
            text += (f"; before the first {r['before_first_row_s']:.2f} s, after the last "
                     f"{r['after_last_row_s']:.2f} s (the real-vs-real row, the report)")
    if c == "dask":
        st, cpu = r["stream"], r["worker_cpu_s"]
        text += (f"\n           workers: start-up {r['startup_s']:.1f} s apart, (torch threads, GANDIAG_THREADS) "
                 f"{r['worker_threads']}, CPU {[round(v, 1) for v in cpu]} s ({sum(cpu) / r['seconds']:.2f} cores), "
                 f"peak RSS {r['worker_peak_mib']} MiB, Scorer {r['scorer_bytes'] / 1e6:.2f} MB, "
                 f"one result {r['result_bytes'] / 1e3:.0f} kB")
        if st:
            text += (f"\n           {st['tasks']} tasks of {st['task_mean_s']:.2f} s; before the first {st['before_first_task_s']:.2f} s, "
                     f"after the last {st['after_last_task_s']:.2f} s (the report, and the real-vs-real row "
                     f"{'as a task' if st['floor_task'] else 'on the client'}); "
                     f"busy {[round(v, 1) for v in st['busy_s']]} s, idle {[round(v, 2) for v in st['idle_s']]} s "
                     f"(tail {st['tail_s']:.2f} s)")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=40)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--metrics", default="default", help="'default': gandiag's default selection")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the cases, interleaved, this many times")
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
        for label, count, n, mets, cases in (
                ("speed-up", args.checkpoints, args.n, metrics, ("serial1", "dask", "serial")),
                ("tiny-n overhead", args.tiny_tasks, args.tiny_n, "modes", ("serial1", "dask"))):
            run = tmp_path / label.replace(" ", "_")
            write_run(run, count, max(n, 16))
            print(f"\n== {label}: {count} checkpoints, n = {n}, metrics {mets or 'default'}, workers {args.workers}")
            ratios: dict[str, list[float]] = {c: [] for c in cases}
            for k in range(args.rounds):
                results = {c: run_case(c, run, n, mets, args.workers, tmp_path / f"{label}-{c}.pkl") for c in cases}
                base = results["serial1"].get("seconds")
                print(f" round {k + 1}")
                for c, r in results.items():
                    equal = "error" not in r and compare(tmp_path / f"{label}-serial1.pkl", tmp_path / f"{label}-{c}.pkl")
                    print(_line(c, r, base, equal) if base else f"  {c:8s} {r}")
                    if base and "seconds" in r:
                        ratios[c].append(r["seconds"])
                dask, one = results.get("dask", {}), results.get("serial1", {})
                if label.startswith("tiny") and "seconds" in dask and "seconds" in one:
                    per_task = (args.workers * dask["seconds"] - one["seconds"]) / count
                    st = dask.get("stream") or {}
                    rows = [t[1] for t in one["rows"] if t[0] == "score"]
                    print(f"  per-task overhead of the Dask path: {per_task * 1000:.0f} ms of worker time per task "
                          f"counting the audit's fixed costs twice, (W x T_dask - T_serial) / tasks "
                          f"({dask['seconds'] / count * 1000:.0f} ms wall per task with {args.workers} workers, "
                          f"{one['seconds'] / count * 1000:.0f} ms serial)")
                    if st and rows:
                        print(f"  between the first task's start and the last one's end: "
                              f"{sum(st['idle_s']) / st['tasks'] * 1000:.1f} ms of idle worker time per task, and a task "
                              f"computes {st['task_mean_s'] * 1000:.1f} ms against {np.mean(rows) * 1000:.1f} ms "
                              f"for the same row in the serial loop")
            if args.rounds > 1 and len(ratios["serial1"]) == args.rounds:
                med = {c: float(np.median(np.array(ratios["serial1"]) / np.array(v)))
                       for c, v in ratios.items() if len(v) == args.rounds}
                print("  median over rounds of the speed-up over serial1: "
                      + ", ".join(f"{c} x{v:.2f}" for c, v in med.items()))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
