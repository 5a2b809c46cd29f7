"""Fault catalogue, load: auditing a long run keeps memory flat (issue 18, "load").

The figure at 20 vs 200 checkpoints is measured by ``benchmarks/bench_memory.py`` (README,
"Safety and failure behaviour"); here the same measurement, smaller (5 vs 40 checkpoints, a cheap
metric set), asserts loosely that the peak RSS of an audit process does not grow with the run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_memory.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_memory_of_an_audit_is_flat_in_the_number_of_checkpoints(tmp_path):
    bench = _bench()
    few, many = bench.make_runs(tmp_path, 5, 40)
    small = bench.measure(few, 200, "modes", timeout=600)
    large = bench.measure(many, 200, "modes", timeout=600)
    assert (small["rows"], large["rows"]) == (5, 40) and small["errors"] == large["errors"] == 0
    assert large["peak_mib"] < 1.25 * small["peak_mib"], (small, large)
