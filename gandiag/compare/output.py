"""Tables and plots of ``gandiag compare``, written atomically (temporary file, then rename).

The table and figure helpers that the audit shares live in :mod:`gandiag.tables` and
:mod:`gandiag.figures`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..atomic import atomic_write_text
from ..figures import label, plot_metric_axes
from ..schema import REAL_VS_REAL
from ..scoring.divergence_row import ROW_COLUMNS
from ..tables import markdown_table, save_figure, save_table
from .lines import lines_truth

__all__ = ["lines_figure", "plot_lines_axes", "run_figure", "write_lines", "write_run"]

PLOTTED = ("js", "js_density", "c2st_accuracy", "w1", "w2", "sliced_w", "sinkhorn", "fid")


def plot_lines_axes(frame: pd.DataFrame, ax_js: Axes, ax_w: Axes) -> None:
    """JS estimates against log 2 (left) and transport distances against |theta| (right)."""
    order = frame.sort_values("theta")
    theta = order["theta"].to_numpy(dtype=float)
    fine = np.linspace(theta.min(), theta.max(), 401)
    ax_js.plot(fine, [lines_truth(t)["js_true"] for t in fine], "k--", lw=1, label="JS, analytic")
    for m, style in (("js", "o-"), ("js_density", "s-")):
        if m in order and order[m].notna().any():
            ax_js.plot(theta, order[m], style, ms=4, label=label(m))
    ax_js.axhline(math.log(2), color="grey", lw=0.5)
    ax_js.set(xlabel="theta", ylabel="nats", title="Jensen-Shannon: saturates at log 2")
    ax_w.plot(fine, np.abs(fine), "k--", lw=1, label="W1 = W2, analytic")
    ax_w.plot(fine, np.abs(fine) / math.sqrt(2), "k:", lw=1, label="sliced W2, analytic")
    for m, style in (("w1", "o-"), ("w2", "^-"), ("sliced_w", "s-"), ("sinkhorn", "d-")):
        if m in order and order[m].notna().any():
            ax_w.plot(theta, order[m], style, ms=4, label=label(m))
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
    cols = ["source", "step", *[c for c in ROW_COLUMNS if c in frame and frame[c].notna().any()], "notes"]
    text = (f"# Divergences along training\n\nn = {int(frame['n'].iloc[0])}, seed {int(frame['seed'].iloc[0])}; "
            f"the `{REAL_VS_REAL}` row is the floor a perfect generator would reach.\n\n"
            + markdown_table(frame, cols)
            + "\n## Spearman rank correlations\n\nAgainst training step (`vs_step`) and between metrics.\n\n"
            + markdown_table(correlations, digits=3))
    atomic_write_text(out / "divergences.md", text)
    return [save_table(frame, out / "divergences.csv"), save_table(correlations, out / "correlations.csv"),
            out / "divergences.md", save_figure(run_figure(frame), out / "divergences.png")]
