"""Tables and plots of ``gandiag compare``, written atomically (temporary file, then rename)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..atomic import atomic_path, atomic_write_text
from .lines import lines_truth
from .rows import DIVERGENCE_COLUMNS
from .runs import REAL_VS_REAL

__all__ = ["markdown_table", "save_table", "save_figure", "lines_figure", "run_figure", "write_lines", "write_run"]

LABELS = {
    "js": "JS, classifier (nats)", "js_density": "JS, KDE (nats)", "c2st_accuracy": "C2ST accuracy",
    "c2st_pvalue": "C2ST p-value", "w1": "W1", "w2": "W2", "sliced_w": "sliced W2", "sinkhorn": "Sinkhorn",
    "fid": "FID",
}
PLOTTED = ("js", "js_density", "c2st_accuracy", "w1", "w2", "sliced_w", "sinkhorn", "fid")


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of ``columns`` (default: all), floats to ``digits`` digits."""
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in frame[cols].itertuples(index=False)]
    return "\n".join(lines) + "\n"


def save_table(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def save_figure(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_lines_axes(frame: pd.DataFrame, ax_js: Axes, ax_w: Axes) -> None:
    """JS estimates against log 2 (left) and transport distances against |theta| (right)."""
    order = frame.sort_values("theta")
    theta = order["theta"].to_numpy(dtype=float)
    fine = np.linspace(theta.min(), theta.max(), 401)
    ax_js.plot(fine, [lines_truth(t)["js_true"] for t in fine], "k--", lw=1, label="JS, analytic")
    for m, style in (("js", "o-"), ("js_density", "s-")):
        if m in order and order[m].notna().any():
            ax_js.plot(theta, order[m], style, ms=4, label=LABELS[m])
    ax_js.axhline(math.log(2), color="grey", lw=0.5)
    ax_js.set(xlabel="theta", ylabel="nats", title="Jensen-Shannon: saturates at log 2")
    ax_w.plot(fine, np.abs(fine), "k--", lw=1, label="W1 = W2, analytic")
    ax_w.plot(fine, np.abs(fine) / math.sqrt(2), "k:", lw=1, label="sliced W2, analytic")
    for m, style in (("w1", "o-"), ("w2", "^-"), ("sliced_w", "s-"), ("sinkhorn", "d-")):
        if m in order and order[m].notna().any():
            ax_w.plot(theta, order[m], style, ms=4, label=LABELS[m])
    ax_w.set(xlabel="theta", ylabel="distance", title="Wasserstein: linear in |theta|")
    for ax in (ax_js, ax_w):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)


def lines_figure(frame: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    plot_lines_axes(frame, axes[0], axes[1])
    fig.suptitle(f"WGAN Example 1, parallel lines (n = {int(frame['n'].iloc[0])} per side)")
    return fig


def plot_metric_axes(frame: pd.DataFrame, metric: str, ax: Axes) -> None:
    """``metric`` against step, one line per source, interval band, real-vs-real floor dashed."""
    runs = frame[frame["source"] != REAL_VS_REAL]
    for source, part in runs.groupby("source", sort=False):
        part = part.sort_values("step")
        step = pd.to_numeric(part["step"], errors="coerce").to_numpy(dtype=float)
        ax.plot(step, part[metric].to_numpy(dtype=float), "o-", ms=3, label=Path(str(source)).name)
        if f"{metric}_ci_low" in part:
            ax.fill_between(step, part[f"{metric}_ci_low"].to_numpy(dtype=float),
                            part[f"{metric}_ci_high"].to_numpy(dtype=float), alpha=0.2)
    floor = frame.loc[frame["source"] == REAL_VS_REAL, metric]
    if len(floor) and np.isfinite(float(floor.iloc[0])):
        ax.axhline(float(floor.iloc[0]), color="k", ls="--", lw=1, label=REAL_VS_REAL)
    if metric in ("js", "js_density"):
        ax.axhline(math.log(2), color="grey", lw=0.5)
    ax.set(title=LABELS.get(metric, metric), xlabel="step")
    ax.grid(alpha=0.3)


def run_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    metrics = [m for m in PLOTTED if m in frame and frame[m].notna().any()]
    cols = min(4, max(1, len(metrics)))
    rows = max(1, math.ceil(len(metrics) / cols))
    fig = Figure(figsize=(3.6 * cols, 2.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, m in zip(axes, metrics):
        plot_metric_axes(frame, m, ax)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if metrics:
        axes[0].legend(fontsize=7)
    fig.suptitle(title or f"divergences along training (n = {int(frame['n'].iloc[0])})")
    fig.tight_layout()
    return fig


def write_lines(frame: pd.DataFrame, out: Path) -> list[Path]:
    """``lines.csv``, ``lines.md`` and ``lines.png`` in ``out``."""
    out = Path(out)
    cols = ["theta", "js", "js_true", "js_density", "c2st_accuracy", "w1", "w1_true", "w2", "sliced_w",
            "sliced_w_true", "sinkhorn"]
    text = f"# WGAN Example 1: parallel lines\n\nn = {int(frame['n'].iloc[0])} per side, seed {int(frame['seed'].iloc[0])}.\n\n"
    atomic_write_text(out / "lines.md", text + markdown_table(frame, cols))
    return [save_table(frame, out / "lines.csv"), out / "lines.md", save_figure(lines_figure(frame), out / "lines.png")]


def write_run(frame: pd.DataFrame, correlations: pd.DataFrame, out: Path) -> list[Path]:
    """``divergences.csv``, ``correlations.csv``, ``divergences.md`` and ``divergences.png`` in ``out``."""
    out = Path(out)
    cols = ["source", "step", *[c for c in DIVERGENCE_COLUMNS if c in frame and frame[c].notna().any()], "notes"]
    text = (f"# Divergences along training\n\nn = {int(frame['n'].iloc[0])}, seed {int(frame['seed'].iloc[0])}; "
            f"the `{REAL_VS_REAL}` row is the floor a perfect generator would reach.\n\n"
            + markdown_table(frame, cols)
            + "\n## Spearman rank correlations\n\nAgainst training step (`vs_step`) and between metrics.\n\n"
            + markdown_table(correlations, digits=3))
    atomic_write_text(out / "divergences.md", text)
    return [save_table(frame, out / "divergences.csv"), save_table(correlations, out / "correlations.csv"),
            out / "divergences.md", save_figure(run_figure(frame), out / "divergences.png")]
