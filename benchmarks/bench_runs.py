"""What following a run costs: re-auditing after new checkpoints, watching, monitoring in the loop.

    .venv/bin/python benchmarks/bench_runs.py [--checkpoints 100] [--added 5] [--n 2500]

1. **Re-audit**: a ring8 run folder of ``--checkpoints`` sample files (``step-*.npy``: a slightly
   wrong copy of the reference, so every metric does real work) is audited from scratch into a
   report folder (default metrics, plots, result store: what ``gandiag audit --out`` does); then
   ``--added`` checkpoints are added and the audit is run again. Prints both times and the ratio
   (the issue's target: at most 5%; the new rows alone are ``added / (checkpoints + added)`` of
   the scratch work, so the rest is the fixed cost of an invocation).
2. **Watch**: what :class:`gandiag.auditing.live.LiveAudit` adds per checkpoint on top of scoring
   it (rebuilding the report from the kept rows and rewriting the folder, with and without plots).
3. **Monitor**: ``nsgan-ring8``'s default training (its steps timed on this machine) against
   :class:`gandiag.Monitor` at ``every=500``, n = 2,500: the scoring time it adds, as a share of the
   training time.

No peer follows runs, so the ratios are against our own from-scratch work. Run on an idle
machine for the figures in README.md; the load average is printed.
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
from gandiag.auditing.live import LiveAudit
from gandiag.auditing.store import STORE_FILES, STORE_NAME
from gandiag.scoring import Scorer


def write_checkpoints(folder: Path, start: int, count: int, n: int) -> None:
    ring = gandiag.reference("ring8")
    for i in range(start, start + count):
        x = ring.sample(n, seed=1000 + i).numpy() * (1.0 + 0.001 * i)
        np.save(folder / f"step-{(i + 1) * 100:07d}.npy", x)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def reaudit(checkpoints: int, added: int, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run, out = Path(tmp) / "run", Path(tmp) / "out"
        run.mkdir()
        write_checkpoints(run, 0, checkpoints, n)

        def audit_once():
            report = gandiag.audit(run, "ring8", n=n, progress=False, store=out / STORE_NAME)
            report.save(out, keep=tuple(STORE_FILES))
            return report

        scratch, first = timed(audit_once)
        write_checkpoints(run, checkpoints, added, n)
        again, second = timed(audit_once)
        kept = second.settings["store"]
        print(f"| re-audit | {checkpoints} + {added} checkpoints, n = {n} | scratch {scratch:.1f} s | "
              f"again {again:.1f} s ({kept['reused']} reused, {kept['scored']} scored) | "
              f"ratio {again / scratch:.3f} (new rows alone: {added / (checkpoints + added):.3f}) |", flush=True)


def watch_overhead(n: int, count: int = 10) -> None:
    scorer = Scorer("ring8", n=n)
    ring = gandiag.reference("ring8")
    with tempfile.TemporaryDirectory() as tmp:
        for plots in (False, True):
            live = LiveAudit(scorer, "run", out=Path(tmp) / f"out{plots}", plots=plots, floor=scorer.floor_result())
            score_s, add_s = [], []
            for i in range(count):
                fake = ring.sample(n, seed=50 + i).numpy() * 1.01
                t, result = timed(lambda: scorer.score(fake, source=f"step-{i}"))
                result.step = 100 * (i + 1)
                score_s.append(t)
                add_s.append(timed(lambda: live.add(result))[0])
            print(f"| watch | plots {'on' if plots else 'off'}, {count} checkpoints, n = {n} | scoring "
                  f"{np.median(score_s):.2f} s / checkpoint | report rewrite {np.median(add_s):.2f} s / checkpoint "
                  f"(median; last {add_s[-1]:.2f} s) |", flush=True)


def monitor_overhead(n: int, every: int = 500) -> None:
    from reference_models import make_config
    from reference_models.trainer import _init_state, _train_step, architecture
    from gandiag.generators import LatentSpec

    cfg = make_config("nsgan-ring8")
    ref = gandiag.reference(cfg.reference)
    st = _init_state(cfg, architecture(cfg, ref))
    latent = LatentSpec(cfg.latent_dim, cfg.latent_distribution)
    steps = 200
    _train_step(cfg, st, ref, latent, 0)
    step_s = timed(lambda: [_train_step(cfg, st, ref, latent, 0) for _ in range(steps)])[0] / steps
    train_s = step_s * cfg.steps
    mon = gandiag.Monitor("ring8", n=n, every=every, echo=None, plots=False)
    mon.step(st.G, 0, latent_dim=cfg.latent_dim)  # warm-up (first-call imports)
    per = np.median([timed(lambda: mon.step(st.G, every * k, latent_dim=cfg.latent_dim))[0] for k in range(1, 4)])
    calls = cfg.steps // every + 1
    print(f"| monitor | nsgan-ring8, {cfg.steps} steps ({step_s * 1000:.1f} ms / step: {train_s:.0f} s), every {every}, "
          f"n = {n} | {per:.2f} s / scored step x {calls} = {per * calls:.1f} s | overhead "
          f"{per * calls / train_s:.1%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=100)
    parser.add_argument("--added", type=int, default=5)
    parser.add_argument("--n", type=int, default=2500)
    parser.add_argument("--only", choices=("reaudit", "watch", "monitor"), default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| case | set-up | cost | result |\n|---|---|---|---|")
    if args.only in (None, "watch"):
        watch_overhead(args.n)
    if args.only in (None, "monitor"):
        monitor_overhead(args.n)
    if args.only in (None, "reaudit"):
        reaudit(args.checkpoints, args.added, args.n)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
