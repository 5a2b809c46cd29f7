"""Reproduce PacGAN's table 1 (2-D): GAN vs PacGAN on the ring of 8 and the grid of 25 (issue 19).

``python -m reference_models.literature --out reports/ [--trials K]`` trains each row's recipe
(``pacgan1-ring8``, ``pacgan2-ring8``, ``pacgan1-grid25``, ``pacgan4-grid25``) for K seeds (0..K-1)
into ``--runs`` (resumable: a finished trial is skipped, a killed one continues from its last
checkpoint), audits every final checkpoint with the papers' protocol and writes ``literature.md``
and ``literature.csv`` into ``--out``: our mean +- std beside the published numbers, and the
real-vs-real floor (the same metrics on K samples of the reference itself).

The protocol (Lin et al. 2018, "PacGAN", NeurIPS, section 4.1 and table 1; their code's
``MetricLogger``, ``synthetic_data_experiments/PacGAN/pacgan/extensions.py``), with n = 2,500
generated samples:

* a sample is *high quality* when its Mahalanobis distance to the nearest centre is under 3
  (isotropic modes: Euclidean distance < 3 std); *modes* = the number of modes with at least one
  high-quality sample; *high-quality samples* = their share of the n samples;
* *reverse KL* = KL(p || u) = sum_k p_k log(K p_k), p the histogram of the **high-quality**
  samples over the K modes (normalised by their count, as ``detail_of_coverage`` in the code) and
  u uniform. The code logs the entropy H(p) ("entropy of coverage"), and KL(p || u) = log K - H(p):
  the KL *from* the generated histogram *to* the true one, "reverse" because a GAN minimises it
  in the opposite direction from maximum likelihood; it is finite when modes are missing.
  gandiag's own ``mode_kl`` column uses every sample (assigned to its nearest mode) and is written
  to the csv beside it.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

import gandiag
from gandiag.atomic import atomic_write_text, output_folder
from gandiag.errors import GandiagInputError
from gandiag.modes import mode_kl
from gandiag.threads import resolve_threads

from .recipes import make_config
from .trainer import checkpoints, train

#: PacGAN table 1 (2-D rows), 10 trials each; None where the paper quotes no std.
PUBLISHED: tuple[dict[str, Any], ...] = (
    dict(data="ring8", method="GAN", recipe="pacgan1-ring8", modes=6.3, modes_std=0.5, hq=98.2, kl=0.45),
    dict(data="ring8", method="PacGAN2", recipe="pacgan2-ring8", modes=7.9, modes_std=None, hq=95.6, kl=0.07),
    dict(data="grid25", method="GAN", recipe="pacgan1-grid25", modes=17.3, modes_std=None, hq=94.8, kl=0.70),
    dict(data="grid25", method="PacGAN4", recipe="pacgan4-grid25", modes=24.8, modes_std=0.2, hq=93.6, kl=0.04),
)
#: VEEGAN (Srivastava et al. 2017) table 1, GAN rows (its own architecture and budget).
VEEGAN_GAN = {"ring8": (1.0, 99.3), "grid25": (3.3, 0.5)}
N_SAMPLES = 2500
SAMPLE_SEED_OFFSET = 10_000  # trial k is trained with seed k and audited with sample seed 10_000 + k
CSV_COLUMNS = ("data", "method", "recipe", "trial", "train_seed", "sample_seed", "steps", "n", "modes", "hq_percent",
               "reverse_kl", "gandiag_mode_kl", "train_seconds")


def pacgan_metrics(x: torch.Tensor | np.ndarray, reference: Any) -> dict[str, float]:
    """PacGAN's three table-1 numbers for samples ``x`` (n, 2) of a Gaussian-mixture reference.

    Returns ``modes`` (modes holding a sample within 3 std), ``hq_percent`` (100 x the share of such
    samples), ``reverse_kl`` (KL(p || uniform) of their mode histogram, nats; NaN when there are
    none) and ``gandiag_mode_kl`` (gandiag's ``mode_kl``: every sample, nearest mode).
    """
    modes, hq = reference.assign_modes(x)
    modes, hq = np.asarray(modes), np.asarray(hq, dtype=bool)
    k = int(reference.n_modes)
    hist = np.bincount(modes[hq], minlength=k)
    uniform = np.full(k, 1.0 / k)
    return {"modes": float(np.count_nonzero(hist)), "hq_percent": 100.0 * float(hq.mean()),
            "reverse_kl": mode_kl(hist, uniform) if hist.sum() else float("nan"),
            "gandiag_mode_kl": mode_kl(np.bincount(modes, minlength=k), uniform)}


def _train_seconds(run: Path) -> float:
    with open(run / "train_log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return float(rows[-1]["seconds"]) if rows else 0.0


def run_trial(recipe: str, trial: int, runs: Path, *, steps: int | None = None, n: int = N_SAMPLES) -> dict[str, Any]:
    """Train ``recipe`` with seed ``trial`` into ``runs/recipe/seed-trial`` (resuming or skipping a
    finished run) and audit its final checkpoint; returns one csv row."""
    overrides: dict[str, Any] = {"seed": trial}
    if steps is not None:
        overrides.update(steps=steps, checkpoint_every=max(1, steps // 4))
    cfg = make_config(recipe, overrides)
    run = runs / recipe / f"seed-{trial}"
    done = checkpoints(run) if run.exists() else []
    if not done or int(torch.load(done[-1], weights_only=True, mmap=True)["step"]) < cfg.steps:
        train(cfg, run, resume=bool(done), progress=False)
    final = checkpoints(run)[-1]
    metrics = pacgan_metrics(gandiag.load_generator(final).sample(n, seed=SAMPLE_SEED_OFFSET + trial),
                             gandiag.reference(cfg.reference))
    pub = next(p for p in PUBLISHED if p["recipe"] == recipe)
    return dict(data=pub["data"], method=pub["method"], recipe=recipe, trial=trial, train_seed=trial,
                sample_seed=SAMPLE_SEED_OFFSET + trial, steps=cfg.steps, n=n, **metrics,
                train_seconds=_train_seconds(run))


def _run_all(jobs: list[tuple[str, int]], runs: Path, *, steps: int | None, n: int, workers: int,
             progress: bool) -> list[dict[str, Any]]:
    """Every (recipe, trial) of ``jobs``, in ``workers`` processes (one torch thread each), in job order.

    Each trial's numbers depend only on its recipe and seed, not on the number of workers.
    """
    bar = tqdm(total=len(jobs), desc="trials", unit="trial", disable=not progress, file=sys.stderr)
    with bar:
        if workers <= 1:
            rows = []
            for recipe, k in jobs:
                rows.append(run_trial(recipe, k, runs, steps=steps, n=n))
                bar.update(1)
            return rows
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_trial, recipe, k, runs, steps=steps, n=n): i for i, (recipe, k) in enumerate(jobs)}
            done: dict[int, dict[str, Any]] = {}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                bar.update(1)
    return [done[i] for i in range(len(jobs))]


def floor_rows(data: str, trials: int, n: int = N_SAMPLES) -> list[dict[str, Any]]:
    """The real-vs-real floor: the same metrics on ``trials`` reference samples of size ``n``."""
    ref = gandiag.reference(data)
    return [dict(data=data, method="real data", recipe="", trial=k, train_seed="", sample_seed=SAMPLE_SEED_OFFSET + k,
                 steps="", n=n, **pacgan_metrics(ref.sample(n, seed=SAMPLE_SEED_OFFSET + k), ref), train_seconds=0.0)
            for k in range(trials)]


def _mean_std(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).any():
        return "n/a"
    total, v = len(v), v[np.isfinite(v)]
    text = f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}"
    return text if len(v) == total else f"{text} ({len(v)} of {total} trials; the others had no high-quality sample)"


def _published(value: float, std: float | None = None) -> str:
    return f"{value:g}" + (f" ± {std:g}" if std is not None else "")


def _direction(rows: list[dict[str, Any]], data: str) -> str:
    gan = [r for r in rows if r["data"] == data and r["method"] == "GAN"]
    pac = [r for r in rows if r["data"] == data and r["method"].startswith("PacGAN")]
    if not gan or not pac:
        return ""
    def mean(rs: list[dict[str, Any]], key: str) -> float:
        v = np.asarray([r[key] for r in rs], dtype=float)
        return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")

    dm, dkl = mean(pac, "modes") - mean(gan, "modes"), mean(pac, "reverse_kl") - mean(gan, "reverse_kl")
    pub = {p["method"]: p for p in PUBLISHED if p["data"] == data}
    pm = pub[pac[0]["method"]]["modes"] - pub["GAN"]["modes"]
    pk = pub[pac[0]["method"]]["kl"] - pub["GAN"]["kl"]
    return (f"- {data}: packing changes modes by {dm:+.2f} (published {pm:+.1f}) and reverse KL by {dkl:+.3f} "
            f"(published {pk:+.2f}): {'same' if dm > 0 else 'NOT the same'} direction for modes, "
            f"{'undefined' if math.isnan(dkl) else 'same' if dkl < 0 else 'NOT the same'} for reverse KL.")


def render(rows: list[dict[str, Any]], *, command: str, wall: float, trials: int, notes: str = "", jobs: int = 1) -> str:
    """``literature.md``: the header (command, time, machine, seeds), the table and the directions."""
    datas = [d for d in ("ring8", "grid25") if any(r["data"] == d for r in rows)]
    train_total = sum(float(r["train_seconds"]) for r in rows)
    steps = sorted({str(r["steps"]) for r in rows if r["method"] != "real data"})
    lines = [
        "# Reproducing PacGAN table 1 (2-D): GAN vs PacGAN on ring8 and grid25",
        "",
        f"Command: `{command}`  ",
        f"Trials per row: **{trials}** (the paper: 10); training seeds 0..{trials - 1}, audit sample seeds "
        f"{SAMPLE_SEED_OFFSET}..{SAMPLE_SEED_OFFSET + trials - 1}, n = {rows[0]['n']} per trial.  ",
        f"Generator steps per run: {', '.join(steps)} (the paper: 400 epochs x 1,000 = 400,000).  ",
        f"Training time, all trials: {train_total / 60:.1f} min; this invocation's wall time: {wall / 60:.1f} min "
        f"(a resumed invocation counts only its own part).  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{resolve_threads(None, 1)} torch thread(s) per run, {jobs} run(s) at once.",
        "",
    ]
    if notes:
        lines += [notes, ""]
    lines += [
        "Protocol (PacGAN's MetricLogger): a sample is high quality within 3 std of its nearest mode; modes = modes "
        "with a high-quality sample; reverse KL = KL(p || uniform), p the mode histogram of the high-quality samples "
        "(the code logs H(p); KL = log K - H(p)). Ours: mean ± std (ddof 1) over the trials.",
        "",
        "| data | method | recipe | modes (ours) | modes (published) | high-quality % (ours) | high-quality % (published) "
        "| reverse KL (ours) | reverse KL (published) | gandiag mode_kl (ours, every sample) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for data in datas:
        for pub in [p for p in PUBLISHED if p["data"] == data]:
            rs = [r for r in rows if r["recipe"] == pub["recipe"]]
            if rs:
                lines.append(f"| {data} | {pub['method']} | `{pub['recipe']}` | {_mean_std([r['modes'] for r in rs])} | "
                             f"{_published(pub['modes'], pub['modes_std'])} | {_mean_std([r['hq_percent'] for r in rs])} | "
                             f"{pub['hq']:g} | {_mean_std([r['reverse_kl'] for r in rs])} | {pub['kl']:g} | "
                             f"{_mean_std([r['gandiag_mode_kl'] for r in rs])} |")
        fl = [r for r in rows if r["data"] == data and r["method"] == "real data"]
        lines.append(f"| {data} | real vs real (floor) | | {_mean_std([r['modes'] for r in fl])} | | "
                     f"{_mean_std([r['hq_percent'] for r in fl])} | | {_mean_std([r['reverse_kl'] for r in fl])} | | "
                     f"{_mean_std([r['gandiag_mode_kl'] for r in fl])} |")
    lines += ["", "VEEGAN (Srivastava et al. 2017) table 1, GAN rows, for comparison (another architecture and "
              "budget): " + "; ".join(f"{d}: {m:g} modes, {h:g}% high quality" for d, (m, h) in VEEGAN_GAN.items()
                                      if d in datas) + ".", "", "Direction (PacGAN minus GAN, ours vs published):", ""]
    lines += [d for d in (_direction(rows, data) for data in datas) if d]
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reference_models.literature", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="reports", help="folder for literature.md and literature.csv (default reports)")
    p.add_argument("--runs", default="runs/literature", help="folder for the trained runs (default runs/literature)")
    p.add_argument("--trials", type=int, default=10, help="seeds per row (default 10, as the paper)")
    p.add_argument("--steps", type=int, default=None, help="generator steps per run (default: the recipes')")
    p.add_argument("--data", choices=("ring8", "grid25"), action="append", help="only these data sets (repeatable)")
    p.add_argument("--n", type=int, default=N_SAMPLES, help=f"samples per audit (default {N_SAMPLES})")
    p.add_argument("--jobs", type=int, default=1, help="trials trained at once, in separate processes (default 1)")
    p.add_argument("--notes", default="", help="a paragraph written under the report's header")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        if min(args.trials, args.n, args.jobs, 1 if args.steps is None else args.steps) < 1:
            raise GandiagInputError("--trials, --steps, --n and --jobs must be at least 1")
        out, runs = output_folder(args.out), output_folder(args.runs, "--runs")
        start = time.perf_counter()
        chosen = [pub for pub in PUBLISHED if not args.data or pub["data"] in args.data]
        jobs = [(pub["recipe"], k) for pub in chosen for k in range(args.trials)]
        rows = _run_all(jobs, runs, steps=args.steps, n=args.n, workers=args.jobs, progress=not args.quiet)
        for data in dict.fromkeys(pub["data"] for pub in chosen):
            rows += floor_rows(data, args.trials, args.n)
        given = list(argv if argv is not None else sys.argv[1:])
        if "--notes" in given:  # the paragraph is printed in the report, not repeated in its command
            del given[given.index("--notes"):given.index("--notes") + 2]
        command = "python -m reference_models.literature " + " ".join(given)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(rows, out / "literature.csv")
        atomic_write_text(out / "literature.md", render(rows, command=command.strip(), wall=time.perf_counter() - start,
                                                        trials=args.trials, notes=args.notes, jobs=args.jobs))
    except GandiagInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'literature.md'} and {out / 'literature.csv'} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
