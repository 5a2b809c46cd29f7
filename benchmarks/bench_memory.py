"""Peak memory of ``gandiag.audit`` over a run of few and of many checkpoints: it must stay flat.

    .venv/bin/python benchmarks/bench_memory.py [--small 20] [--large 200] [--n 1000] [--metrics ...]

One tiny ``nsgan-ring8`` run is trained with a checkpoint at every step (``--large``
checkpoints); a second run folder holds copies of its first ``--small`` checkpoints. Each run is
audited in a fresh child process (``gandiag.audit(folder, "ring8")``, the report built as the CLI
builds it), the two sizes alternating for ``--repeats`` rounds, and the child reports its peak
RSS (``ru_maxrss``: the whole process, imports included) and its seconds. The table gives the
medians and the ratio large/small of the peak; a run's checkpoints are loaded one at a time and
each row keeps only its numbers and a few plotted samples, so the ratio should be close to 1
(issue 18 asks for the peak at 200 within 10% of the peak at 20). No peer audits runs, so there
is no peer column: the figure is the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_runs(folder: Path, small: int, large: int) -> tuple[Path, Path]:
    """Train the ``large`` run (tiny nets, a checkpoint per step) and copy its first ``small`` checkpoints."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import tiny_config

    from reference_models import checkpoints, train

    big, few = folder / f"run-{large}", folder / f"run-{small}"
    train(tiny_config("nsgan-ring8", steps=large - 1, checkpoint_every=1), big, progress=False, threads=1)
    few.mkdir()
    for path in checkpoints(big)[:small]:
        shutil.copy(path, few / path.name)
    return few, big


def child(run: Path, n: int, metrics: str | None) -> None:
    """Audit ``run`` in this fresh process; print one JSON line with its peak RSS and seconds."""
    from gandiag.auditing import audit  # imported before the clock starts

    start = time.perf_counter()
    report = audit(run, "ring8", n=n, metrics=metrics, progress=False)
    report.to_markdown()
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    errors = int((report.frame["error"] != "").sum())
    print(json.dumps({"rows": len(report.frame) - 1, "errors": errors, "seconds": seconds, "peak_mib": peak_mib}))


def measure(run: Path, n: int, metrics: str | None, timeout: float = 3600) -> dict:
    """Audit ``run`` in a child process; its JSON line as a dict."""
    cmd = [sys.executable, __file__, "--child", str(run), "--n", str(n)] + (["--metrics", metrics] if metrics else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"audit of {run} failed: {(done.stderr.strip().splitlines() or ['killed'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--large", type=int, default=200)
    parser.add_argument("--n", type=int, default=1000, help="samples per checkpoint (default 1000)")
    parser.add_argument("--metrics", default=None, help="metric selection (default: gandiag's default set)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.n, args.metrics)
        return
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        runs = make_runs(Path(tmp), args.small, args.large)
        results: dict[int, list[dict]] = {args.small: [], args.large: []}
        for _ in range(args.repeats):
            for size, run in zip((args.small, args.large), runs):  # alternate: load from others hits both
                results[size].append(measure(run, args.n, args.metrics))
    print(f"gandiag.audit of a tiny nsgan-ring8 run, n = {args.n}, metrics = {args.metrics or 'default'}, "
          f"median of {args.repeats}")
    print(f"{'checkpoints':>11} {'seconds':>9} {'peak RSS (MiB)':>15}")
    peaks = {}
    for size, rows in results.items():
        assert all(r["rows"] == size and r["errors"] == 0 for r in rows), rows
        peaks[size] = statistics.median(r["peak_mib"] for r in rows)
        print(f"{size:>11} {statistics.median(r['seconds'] for r in rows):>9.1f} {peaks[size]:>15.0f}")
    print(f"peak RSS ratio {args.large}/{args.small}: {peaks[args.large] / peaks[args.small]:.3f}")


if __name__ == "__main__":
    main()
