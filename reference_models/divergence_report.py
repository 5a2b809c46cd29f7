"""``reports/divergences.md`` and ``reports/divergences.png``: JS against Wasserstein on real work.

Regenerate (trains the two runs first, ~10 min on 2 CPU cores)::

    python -m reference_models.divergence_report --out reports/

or on runs already trained (folders of checkpoints, e.g. from ``gandiag train``)::

    python -m reference_models.divergence_report --out reports/ --runs RUN_DIR [RUN_DIR ...]

It lives beside the trainers because it trains; gandiag itself never imports ``reference_models``.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gandiag.atomic import atomic_write_text
from gandiag.compare.lines import DEFAULT_THETAS, lines_sweep
from gandiag.compare.output import plot_lines_axes
from gandiag.compare.runs import compare_sources, rank_correlations
from gandiag.errors import GandiagInputError
from gandiag.figures import label
from gandiag.loading import load_generator
from gandiag.schema import REAL_VS_REAL
from gandiag.tables import markdown_table, save_figure

__all__ = ["RUNS", "build_report", "main"]

# Recipe -> checkpoint interval: 11 checkpoints over the recipe's default steps (2000 and 500).
RUNS = {"gan-ring8": 200, "wgangp-ring8": 50}
REFERENCE = "ring8"
COMMAND = "python -m reference_models.divergence_report"
RUN_COLUMNS = ["checkpoint", "js", "js_density", "c2st_accuracy", "w1", "w2", "sliced_w", "sinkhorn", "fid"]
SATURATED = 0.99 * math.log(2.0)


def train_runs(work: Path, seed: int) -> list[Path]:
    """Train the report's runs with ``gandiag train`` (the trainers' plug-in command)."""
    from gandiag.cli import main as gandiag_main

    folders = []
    for recipe, every in RUNS.items():
        folder = work / recipe
        status = gandiag_main(["train", recipe, "--out", str(folder), "--seed", str(seed),
                               "--checkpoint-every", str(every), "--quiet"])
        if status != 0:
            raise GandiagInputError(f"gandiag train {recipe} failed with exit status {status}")
        folders.append(folder)
    return folders


def _run_panel(frame: pd.DataFrame, ax, title: str) -> None:
    """JS (left axis, nats) and W1 / sliced W (right axis) against step, floors dashed."""
    runs = frame[frame["source"] != REAL_VS_REAL].sort_values("step")
    floor = frame[frame["source"] == REAL_VS_REAL]
    step = runs["step"].to_numpy(dtype=float)
    right = ax.twinx()
    for axis, metric, color in ((ax, "js", "C0"), (ax, "js_density", "C9"), (right, "w1", "C3"), (right, "sliced_w", "C1")):
        if runs[metric].notna().any():
            axis.plot(step, runs[metric].to_numpy(dtype=float), "o-", ms=3, color=color, label=label(metric))
            if len(floor):
                axis.axhline(float(floor[metric].iloc[0]), color=color, ls=":", lw=1)
    ax.axhline(math.log(2.0), color="grey", lw=0.5)
    ax.set(xlabel="step", ylabel="JS (nats)", ylim=(-0.02, 0.75), title=title)
    right.set_yscale("log")
    right.set_ylabel("distance (data units, log scale)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc="center right")
    ax.grid(alpha=0.3)


def _figure(lines: pd.DataFrame, runs: dict[str, pd.DataFrame]) -> Figure:
    cols = max(2, len(runs))
    fig = Figure(figsize=(5.2 * cols, 8.4))
    grid = fig.add_gridspec(2, cols)
    plot_lines_axes(lines, fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]))
    for i, (name, frame) in enumerate(runs.items()):
        _run_panel(frame, fig.add_subplot(grid[1, i]), f"{name} (dotted: real-vs-real)")
    fig.tight_layout()
    return fig


def _lines_summary(lines: pd.DataFrame) -> str:
    moved = lines[lines["theta"] != 0]
    w_err = float(np.max(np.abs(moved["w1"] - moved["w1_true"]) / moved["w1_true"])) if len(moved) else math.nan
    zero = lines[lines["theta"] == 0]
    parts = [f"- For every theta != 0 the classifier JS estimate lies in [{moved['js'].min():.4f}, {moved['js'].max():.4f}] "
             f"nats (log 2 = {math.log(2):.4f}): it cannot tell theta = 0.05 from theta = 1.",
             f"- Exact W1 is within {100 * w_err:.2f}% of |theta| at every theta != 0, and sliced W2 follows |theta|/sqrt(2)."]
    if len(zero):
        parts.append(f"- At theta = 0 (same distribution): JS = {float(zero['js'].iloc[0]):.4f}, "
                     f"W1 = {float(zero['w1'].iloc[0]):.4f} (the finite-sample floor).")
    return "\n".join(parts) + "\n"


def _run_summary(name: str, frame: pd.DataFrame, corr: pd.DataFrame) -> str:
    runs = frame[frame["source"] != REAL_VS_REAL].sort_values("step")
    sat = runs[runs["js"] >= SATURATED]
    lines = [f"- Saturated JS estimate (>= 0.99 log 2) at {len(sat)} of {len(runs)} checkpoints"]
    if len(sat) > 1:
        lines[0] += (f"; among them W1 ranges from {sat['w1'].min():.3g} to {sat['w1'].max():.3g} "
                     f"(steps {', '.join(str(s) for s in sat['step'])}): JS cannot rank them, W1 can.")
    else:
        lines[0] += "."
    best = {m: runs.loc[runs[m].idxmin(), "step"] for m in ("js", "w1", "sliced_w") if runs[m].notna().any()}
    lines.append("- Best checkpoint by " + ", ".join(f"{m}: step {s}" for m, s in best.items()) + ".")
    rho = corr.set_index("metric")
    if "w1" in rho.index and "js" in rho.columns:
        lines.append(f"- Spearman rank correlation with step: JS {rho.loc['js', 'vs_step']:.2f}, "
                     f"W1 {rho.loc['w1', 'vs_step']:.2f}, sliced W {rho.loc['sliced_w', 'vs_step']:.2f}; "
                     f"between JS and W1: {rho.loc['js', 'w1']:.2f}.")
    return "\n".join(lines) + "\n"


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``checkpoint`` column (the step, or ``real-vs-real``), and "value [low, high]" cells where
    the frame has intervals."""
    out = frame.assign(checkpoint=[REAL_VS_REAL if src == REAL_VS_REAL else str(step)
                                   for src, step in zip(frame["source"], frame["step"])])
    for m in RUN_COLUMNS:
        if f"{m}_ci_low" in frame:
            out[m] = [f"{v:.4g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(v) and np.isfinite(lo) else v
                      for v, lo, hi in zip(frame[m], frame[f"{m}_ci_low"], frame[f"{m}_ci_high"])]
    return out


def build_report(out: Path, run_dirs: Sequence[Path], *, n: int = 2000, seed: int = 0, repeats: int = 5,
                 command: str = f"{COMMAND} --out reports/") -> list[Path]:
    """Compute the lines sweep and the runs' divergences; write divergences.md and .png in ``out``."""
    out = Path(out)
    for folder in run_dirs:  # fail on a bad folder before the long computations
        load_generator(folder, reference=REFERENCE)
    lines = lines_sweep(DEFAULT_THETAS, n=n, seed=seed, resamples=repeats, progress=True)
    frames, corrs = {}, {}
    for folder in run_dirs:
        name = Path(folder).name
        frames[name] = compare_sources([folder], REFERENCE, n=n, seed=seed, resamples=repeats, progress=True)
        corrs[name] = rank_correlations(frames[name])
    png = save_figure(_figure(lines, frames), out / "divergences.png")
    text = [
        "# Jensen-Shannon against Wasserstein\n",
        f"Regenerate with `{COMMAND} --out reports/`, which first trains "
        + " and ".join(f"`gandiag train {r} --seed {seed} --checkpoint-every {k}`" for r, k in RUNS.items())
        + " (recipe defaults otherwise); `--runs DIR...` uses run folders already trained. "
        f"This copy: `{command}`; n = {n} samples per side, seed {seed}; run tables show value [low, high], a 95% "
        f"interval over {repeats} subsamples of half the samples (`subsample_interval`; being at half the size, it can sit "
        "above the full-size value for these size-biased estimators). Metric definitions: "
        "`gandiag.metrics` and README.md.\n",
        f"![divergences]({png.name})\n",
        "## 1. Parallel lines (WGAN paper, Example 1)\n",
        "P_0 = (0, U[0,1]) against P_theta = (theta, U[0,1]). Analytic values: JS = log 2 for theta != 0, "
        "W1 = W2 = |theta|, sliced W2 = |theta| / sqrt(2).\n",
        _lines_summary(lines),
        markdown_table(lines, ["theta", "js", "js_true", "js_density", "c2st_accuracy", "w1", "w1_true", "w2",
                               "sliced_w", "sliced_w_true", "sinkhorn"]),
    ]
    for i, (name, frame) in enumerate(frames.items(), start=2):
        text += [f"\n## {i}. Run `{name}` against `{REFERENCE}`\n", _run_summary(name, frame, corrs[name]), "\n",
                 markdown_table(_display(frame), RUN_COLUMNS),
                 "\nSpearman rank correlations (`vs_step`: with the training step; other columns: between metrics)\n\n",
                 markdown_table(corrs[name], digits=3)]
    atomic_write_text(out / "divergences.md", "\n".join(text))
    return [out / "divergences.md", png]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="reports", help="output folder (default reports/)")
    p.add_argument("--runs", nargs="+", default=None, help="run folders to use instead of training "
                   + " and ".join(RUNS))
    p.add_argument("--work", default=None, help="where to train the runs (default: a temporary folder)")
    p.add_argument("--n", type=int, default=2000, help="samples per side (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--resamples", type=int, default=5, help="subsamples for the intervals (default 5)")
    args = p.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="gandiag-report-") as tmp:
            runs = [Path(r) for r in args.runs] if args.runs else train_runs(Path(args.work or tmp), args.seed)
            command = f"{COMMAND} " + shlex.join(sys.argv[1:] if argv is None else argv)
            written = build_report(Path(args.out), runs, n=args.n, seed=args.seed, repeats=args.resamples,
                                   command=command)
    except GandiagInputError as exc:
        print(f"{COMMAND}: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
