"""Shared benchmark harness: each case runs in a fresh child process, cases alternate, medians.

A benchmark module defines ``CASES = {name: fn(inputs, **params) -> value}`` (a case with a
``prepare(inputs, **params) -> inputs`` attribute gets it run first, outside the timing), a
``make_inputs(folder, **params)`` that writes its inputs once as ``.npy`` files, and calls
:func:`main`. The driver runs every case ``--repeats`` times, alternating peer and ours so that
load from other processes on a shared machine hits both alike, each time in a child process
that loads the inputs, records ``ru_maxrss``, runs the case once, and reports

* seconds (``time.perf_counter`` around the call only),
* peak RSS growth during the call (MiB): the kernel's peak-RSS mark, reset just before the
  call (``/proc/self/clear_refs``), minus the RSS before it; ``ru_maxrss`` growth where that
  is unavailable (``tracemalloc`` would miss BLAS and torch allocations),
* the value, to show that peer and ours agree.

The table gives medians over repeats and the ratio of each case's median time to ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_growth(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(value, seconds, peak RSS growth in MiB)`` of ``run()``: peak during it minus RSS before."""
    reset = _reset_peak()
    before = _status_mib("VmRSS") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    start = time.perf_counter()
    value = run()
    seconds = time.perf_counter() - start
    after = _status_mib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return value, seconds, max(0.0, (after or 0.0) - (before or 0.0))


def child(cases: dict[str, Callable[..., Any]], case: str, folder: Path, params: dict[str, Any]) -> None:
    """Run one case once in this (fresh) process and print one JSON line."""
    import numpy as np

    inputs = {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}
    prepare = getattr(cases[case], "prepare", None)  # untimed set-up (e.g. what an audit computes once)
    if prepare is not None:
        inputs = prepare(inputs, **params)
    value, seconds, growth = _peak_growth(lambda: cases[case](inputs, **params))
    print(json.dumps({"case": case, "seconds": seconds, "peak_growth_mib": growth, "value": value}))


def _run_child(script: str, case: str, folder: Path, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, script, "--child", case, "--inputs", str(folder), "--params", json.dumps(params)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": case, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["killed"])[-1]
        return {"case": case, "error": f"exit {done.returncode}: {last}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(
    cases: dict[str, Callable[..., Any]],
    make_inputs: Callable[..., None],
    *,
    ours: str,
    grid: list[dict[str, Any]],
    skip: Callable[[str, dict[str, Any]], str | None] = lambda case, params: None,
    describe: str = "",
) -> None:
    parser = argparse.ArgumentParser(description=describe)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(cases), help="comma-separated subset of " + ", ".join(cases))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child run")
    parser.add_argument("--only", default=None, help="JSON list of parameter dicts replacing the default grid")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(cases, args.child, Path(args.inputs), json.loads(args.params))
        return
    script = os.path.abspath(sys.argv[0])
    chosen = [c for c in args.cases.split(",") if c]
    print(f"# {describe}\n# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}; medians of {args.repeats} alternating runs, one child process per run\n")
    for params in json.loads(args.only) if args.only else grid:
        with tempfile.TemporaryDirectory(prefix="gandiag-bench-") as tmp:
            make_inputs(Path(tmp), **params)
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in chosen}
            skipped = {c: why for c in chosen if (why := skip(c, params))}
            for _ in range(args.repeats):
                for case in chosen:
                    if case not in skipped:
                        runs[case].append(_run_child(script, case, Path(tmp), params, args.timeout))
                        print(f"#   run {case}: {json.dumps(runs[case][-1])}", flush=True)  # partial results survive a kill
            _report(params, runs, skipped, ours)


def _report(params: dict[str, Any], runs: dict[str, list[dict[str, Any]]], skipped: dict[str, str], ours: str) -> None:
    print(f"## {', '.join(f'{k} = {v}' for k, v in params.items())}")
    print("| case | median s | runs (s) | peak extra MiB | time / ours | value |")
    print("|---|---|---|---|---|---|")
    ok = {c: [r for r in rs if "error" not in r] for c, rs in runs.items()}
    base = statistics.median(r["seconds"] for r in ok[ours]) if ok.get(ours) else None
    for case, rs in runs.items():
        if case in skipped:
            print(f"| {case} | skipped: {skipped[case]} | | | | |")
            continue
        if not ok[case]:
            print(f"| {case} | failed: {rs[0]['error'] if rs else 'not run'} | | | | |")
            continue
        secs = [r["seconds"] for r in ok[case]]
        med = statistics.median(secs)
        mem = statistics.median(r["peak_growth_mib"] for r in ok[case])
        ratio = f"{med / base:.2f}x" if base else "-"
        print(f"| {case} | {med:.2f} | {', '.join(f'{s:.2f}' for s in secs)} | {mem:.0f} | {ratio} | {ok[case][0]['value']} |")
    print(flush=True)
