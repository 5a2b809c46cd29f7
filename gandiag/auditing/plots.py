"""The audit's plots, each written atomically as PNG (matplotlib's object API, no global state).

* ``metrics_vs_step.png``: the main metrics against training step, one line per run, the
  real-vs-real floor dashed (only when some run has two or more scored checkpoints);
* ``samples.png``: for vector data in 2-D, generated samples (the last checkpoint of each run and
  every single source) over the reference sample with the mode centres marked; for images, an
  8 x 8 grid of generated images per source;
* ``mode_shares.png``: a heat map of each mode's share of generated samples against step, one
  panel per run, the colour scale relative to the reference share (1 = fair share).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..figures import plot_metric_axes
from ..schema import REAL_VS_REAL
from ..tables import save_figure

if TYPE_CHECKING:
    from .report import Report

__all__ = ["write_plots", "metrics_figure", "samples_figure", "shares_figure"]

PLOTTED = ("modes_captured", "hq_fraction", "mode_kl", "intra_mode_spread", "js", "w1", "fid", "coverage", "ndb_k")
MAX_PANELS = 8


def _panels(n: int) -> tuple[Figure, np.ndarray]:
    cols = min(4, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(3.4 * cols, 3.0 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def metrics_figure(report: "Report") -> Figure | None:
    frame = report.frame[report.frame["error"] == ""]
    runs = frame[frame["run"] != ""]
    if runs.empty or runs.groupby("run").size().max() < 2:
        return None
    view = pd.concat([runs.assign(source=runs["run"]), frame[frame["source"] == REAL_VS_REAL]])
    metrics = [m for m in PLOTTED if m in view and view[m].notna().any()]
    if not metrics:
        return None
    fig, axes = _panels(len(metrics))
    for ax, m in zip(axes, metrics):
        plot_metric_axes(view, m, ax)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"metrics along training (n = {report.settings.get('n')})")
    fig.tight_layout()
    return fig


def _shown_sources(report: "Report") -> list[str]:
    """The last scored checkpoint of each run, then every single source; at most MAX_PANELS."""
    frame = report.frame[(report.frame["error"] == "") & (report.frame["source"] != REAL_VS_REAL)]
    picked = [part.sort_values("step")["source"].iloc[-1] for _, part in frame[frame["run"] != ""].groupby("run", sort=False)]
    picked += frame.loc[frame["run"] == "", "source"].tolist()
    return [s for s in picked if s in report.samples][:MAX_PANELS]


def _image_grid(x: np.ndarray, side: int = 8) -> np.ndarray:
    """An (side*H, side*W[, 3]) mosaic of the first side**2 images in [-1, 1], mapped to [0, 1]."""
    x = np.clip((x[: side * side] + 1.0) / 2.0, 0.0, 1.0)
    n, c, h, w = x.shape
    canvas = np.ones((side * h, side * w, c))
    for i in range(n):
        r, q = divmod(i, side)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas[..., :3]


def samples_figure(report: "Report") -> Figure | None:
    shown = _shown_sources(report)
    ref = report.reference
    if not shown or ref is None:
        return None
    two_d = not ref.is_image and ref.shape == (2,)
    if not ref.is_image and not two_d:
        return None
    fig, axes = _panels(len(shown))
    real = report.reference_sample
    for ax, source in zip(axes, shown):
        x = report.samples[source]
        if two_d:
            ax.scatter(real[:2000, 0], real[:2000, 1], s=2, c="lightgrey", label="reference")
            ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
            centres = getattr(ref, "centres", None)
            if centres is not None:
                c = np.asarray(centres)
                ax.scatter(c[:, 0], c[:, 1], marker="x", c="k", s=25, label="modes")
            ax.set_aspect("equal")
        else:
            ax.imshow(_image_grid(x), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
        ax.set_title(_short(source), fontsize=8)
    if two_d:
        axes[0].legend(fontsize=6, markerscale=3)
    fig.tight_layout()
    return fig


def shares_figure(report: "Report") -> Figure | None:
    shares = report.mode_shares
    if shares is None:
        return None
    frame = report.frame
    runs = [r for r in dict.fromkeys(frame["run"]) if r]
    if not runs:
        return None
    ref = np.asarray(shares.attrs["reference_shares"], dtype=float)
    fig, axes = _panels(len(runs))
    image = None
    for ax, run in zip(axes, runs):
        rows = (frame["run"] == run).to_numpy()
        part = shares[rows].sort_values("step")
        data = part.drop(columns="step").to_numpy(dtype=float) / np.where(ref > 0, ref, np.nan)
        image = ax.imshow(data.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=3, interpolation="nearest")
        steps = part["step"].tolist()
        ticks = np.linspace(0, len(steps) - 1, min(len(steps), 6)).round().astype(int)
        ax.set_xticks(ticks, [str(steps[i]) for i in ticks], fontsize=7)
        ax.set(xlabel="step", ylabel="mode", title=_short(run))
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(runs)]), label="share / reference share")
    return fig


def _short(source: str) -> str:
    p = Path(source)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def write_plots(report: "Report", out: Path) -> list[Path]:
    """Write the plots that apply to this report into ``out``; returns their paths."""
    written = []
    for name, build in (("metrics_vs_step.png", metrics_figure), ("samples.png", samples_figure),
                        ("mode_shares.png", shares_figure)):
        fig = build(report)
        if fig is not None:
            written.append(save_figure(fig, Path(out) / name))
    return written
