"""The audit's plots (matplotlib's object API, no global state), as PNG bytes for the files and the HTML page.

* ``metrics_vs_step.png``: the main metrics against training step, one line per run (one colour per
  run in every plot), hollow points where a flag is raised, a star at the run's recommended
  checkpoint, the real-vs-real floor as a grey band (values within its noise) and a dashed line; a
  logarithmic y-axis where the values span decades; only when some run has two or more scored
  checkpoints;
* ``samples.png``: the real reference sample first, then generated samples of each run's
  recommended (else best-valued) and last checkpoints and of every single source: for 2-D vectors a scatter coloured
  by the mode each high-quality sample falls in, off-mode samples (not within 3 std of any centre)
  as grey crosses; for images an 8 x 8 grid with a gap between tiles;
* ``mode_shares.png``: per run, a heat map of each mode's share of generated samples divided by
  its reference share (1 = fair share: white; 0 = dropped: blue; red = over-represented) against step;
* ``confusion.png``, ``class_samples.png``: for class-conditional rows only, the confusion matrix
  (requested vs assigned class) and the samples by requested class
  (:mod:`gandiag.auditing.conditional_report`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..atomic import atomic_path
from ..figures import plot_metric_axes
from ..schema import REAL_VS_REAL
from .report import PLOT_FILES

if TYPE_CHECKING:
    from .report import Report

__all__ = ["PLOT_FILES", "figure_png", "image_grid", "metrics_figure", "render_plots", "run_colors",
           "samples_figure", "shares_figure", "write_plots"]

PLOTTED = ("modes_captured", "hq_fraction", "mode_kl", "intra_mode_spread", "js", "w1", "fid", "coverage", "ndb_k")
MAX_METRIC_PANELS = 8
MAX_SAMPLE_PANELS = 8
OFF_MODE = "0.55"


def run_colors(report: "Report") -> dict[str, Any]:
    """One colour per run folder (matplotlib's ``tab10`` in report order), shared by all plots."""
    cycle = colormaps["tab10"].colors
    runs = [r for r in dict.fromkeys(report.frame["run"]) if r]
    return {run: cycle[i % len(cycle)] for i, run in enumerate(runs)}


@dataclass(frozen=True)
class Margins:
    """Fixed margins of a panel grid, in inches: around the grid, and between panels (``wgap`` across
    holds the next panel's y label and tick labels, ``hgap`` down the x label above and the title below)."""

    left: float = 0.8
    right: float = 0.15
    bottom: float = 0.6
    top: float = 0.35
    wgap: float = 0.9
    hgap: float = 0.9


#: The metrics grid's margins: room for the legend above, tick labels such as 0.001 and a two-word
#: y label between panels. Fixed margins draw the figure once, without a layout engine measuring
#: every label (the grid was most of a report's drawing time: a re-audit of 40 stored checkpoints
#: spent 2.7 of its 3.1 s on the plots).
METRICS_MARGINS = Margins(left=0.8, right=0.15, bottom=0.55, top=0.6, wgap=0.95, hgap=0.75)

#: The 2-D samples grid's margins: two-line titles above, x labels and the legend below.
SCATTER_MARGINS = Margins(left=0.7, right=0.15, bottom=0.85, top=0.5, wgap=0.75, hgap=0.95)


def _grid(n: int, cols: int, width: float, height: float,
          margins: Margins | None = None) -> tuple[Figure, np.ndarray]:
    """``n`` panels of ``width`` x ``height`` inches, ``cols`` across. With ``margins`` the panels sit at
    fixed positions (no layout engine: drawing runs once, about 3x faster than constrained layout, which
    measures every label at each draw); without, matplotlib's constrained layout places them."""
    cols = min(cols, max(1, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(width * cols, height * rows), layout=None if margins else "constrained")
    if margins is not None:
        w, h = width * cols, height * rows
        panel_w = (w - margins.left - margins.right - (cols - 1) * margins.wgap) / cols
        panel_h = (h - margins.bottom - margins.top - (rows - 1) * margins.hgap) / rows
        fig.subplots_adjust(left=margins.left / w, right=1 - margins.right / w, bottom=margins.bottom / h,
                            top=1 - margins.top / h, wspace=margins.wgap / panel_w, hspace=margins.hgap / panel_h)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _recommended(report: "Report") -> dict[str, Any]:
    """The recommended step of each run (runs without one are left out)."""
    from .verdict import verdicts

    return {v.subject: v.recommended[1] for v in verdicts(report) if v.is_run and v.recommended is not None}


def _picked(report: "Report") -> dict[str, tuple[Any, str]]:
    """Per run, the checkpoint shown beside the last one: the recommended one, else the best by the metric."""
    from .verdict import verdicts

    out = {}
    for v in verdicts(report):
        if v.is_run and v.recommended is not None:
            out[v.subject] = (v.recommended[1], "recommended")
        elif v.is_run and v.best is not None:
            out[v.subject] = (v.best[1], f"best {v.metric}, flagged")
    return out


def metrics_figure(report: "Report") -> Figure | None:
    """Metrics against step, one line per run, the floor as a band; ``None`` when no run has two checkpoints."""
    frame = report.frame[report.frame["error"] == ""]
    runs = frame[frame["run"] != ""]
    if runs.empty or runs.groupby("run").size().max() < 2:
        return None
    view = pd.concat([runs, frame[frame["source"] == REAL_VS_REAL]])
    metrics = [m for m in PLOTTED if m in view and view.loc[view["run"] != "", m].notna().any()][:MAX_METRIC_PANELS]
    if not metrics:
        return None
    fig, axes = _grid(len(metrics), 4, 3.5, 2.9, margins=METRICS_MARGINS)
    colors, marks = run_colors(report), _recommended(report)
    for ax, m in zip(axes, metrics):
        plot_metric_axes(view, m, ax, colors=colors, group="run", marks=marks)
    handles = [Line2D([], [], color=c, marker="o", label=Path(r).name) for r, c in colors.items()]
    handles += [Line2D([], [], ls="", marker="o", mfc="white", mec="k", label="a flag is raised"),
                Line2D([], [], ls="", marker="*", ms=11, color="k", label="recommended checkpoint"),
                Line2D([], [], color="0.35", ls="--", label="real-vs-real"),
                Line2D([], [], color="0.85", lw=8, label="within real-vs-real noise")]
    top = 1 - 0.08 / fig.get_figheight()  # in the top margin, above the first row's titles
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, top), ncols=len(handles), fontsize=8,
               frameon=False)
    return fig


def _shown_sources(report: "Report") -> list[tuple[str, str]]:
    """(source, title) of each run's recommended and last checkpoints, then every single source."""
    frame = report.frame[(report.frame["error"] == "") & (report.frame["source"] != REAL_VS_REAL)]
    chosen = _picked(report)
    picked: list[tuple[str, str]] = []
    for run, part in frame[frame["run"] != ""].groupby("run", sort=False):
        part = part.sort_values("step")
        name = Path(run).name
        step, why = chosen.get(run, (None, ""))
        best = part[part["step"] == step]
        if len(best) and best["source"].iloc[0] != part["source"].iloc[-1]:
            picked.append((best["source"].iloc[0], f"{name}, step {int(best['step'].iloc[0])} ({why})"))
        picked.append((part["source"].iloc[-1], f"{name}, step {int(part['step'].iloc[-1])} (last)"))
    picked += [(s, _short(s)) for s in frame.loc[frame["run"] == "", "source"]]
    return [(s, t) for s, t in picked if s in report.samples][: MAX_SAMPLE_PANELS - 1]


def image_grid(x: np.ndarray, side: int = 8, gap: int = 1) -> np.ndarray:
    """A mosaic of the first ``side**2`` images in [-1, 1] mapped to [0, 1], ``gap`` white pixels between tiles.

    Shape ``(side*H + (side-1)*gap, side*W + (side-1)*gap)`` for one channel (``[..., 3]`` for three).
    """
    x = np.clip((np.asarray(x[: side * side], dtype=float) + 1.0) / 2.0, 0.0, 1.0)
    n, c, h, w = x.shape
    canvas = np.ones((side * h + (side - 1) * gap, side * w + (side - 1) * gap, c))
    for i in range(n):
        r, q = divmod(i, side)
        top, left = r * (h + gap), q * (w + gap)
        canvas[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas[..., :3]


def _mode_colors(n_modes: int) -> ListedColormap:
    """Distinct colours for the modes, none of them grey (grey is for off-mode samples)."""
    tab10, tab20 = colormaps["tab10"].colors, colormaps["tab20"].colors
    base = [c for i, c in enumerate(tab10) if i != 7] + [c for i, c in enumerate(tab20) if i % 2 and i != 15]
    return ListedColormap([base[k % len(base)] for k in range(max(n_modes, 1))])


def _scatter(ax: Any, x: np.ndarray, ref: Any, title: str) -> None:
    """2-D samples coloured by their mode; off-mode samples (not high quality) as grey crosses."""
    x = np.asarray(x, dtype=float)
    if ref.has_modes:
        modes, hq = ref.assign_modes(x)
        hq = np.asarray(hq, dtype=bool)
        cmap = _mode_colors(ref.n_modes)
        centres = np.asarray(ref.centres)
        ax.scatter(centres[:, 0], centres[:, 1], marker="o", s=160, facecolors="none", edgecolors="0.8", lw=0.8,
                   zorder=1)
        ax.scatter(x[~hq, 0], x[~hq, 1], s=8, marker="x", c=OFF_MODE, lw=0.6, zorder=2, label="off-mode")
        ax.scatter(x[hq, 0], x[hq, 1], s=8, c=np.asarray(modes)[hq], cmap=cmap, vmin=-0.5, vmax=ref.n_modes - 0.5,
                   alpha=0.5, lw=0, zorder=3, label="in a mode")
        title += f"\n{100 * hq.mean():.0f}% high quality"
    else:
        ax.scatter(x[:, 0], x[:, 1], s=3, c="tab:blue", alpha=0.5, lw=0)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x1 (data units)", fontsize=8)
    ax.set_ylabel("x2 (data units)", fontsize=8)
    ax.tick_params(labelsize=7)


def _limits(x: np.ndarray, real: np.ndarray) -> tuple[float, float, float, float]:
    """Square axis limits holding the whole real sample and the 0.5-99.5 percentiles of ``x``, with a margin."""
    lo = np.minimum(real.min(0), np.percentile(x, 0.5, axis=0))
    hi = np.maximum(real.max(0), np.percentile(x, 99.5, axis=0))
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.12 + 1e-9
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def samples_figure(report: "Report") -> Figure | None:
    """Real samples beside generated ones (scatter in 2-D, image grids); ``None`` for other data."""
    shown = _shown_sources(report)
    ref = report.reference
    if not shown or ref is None or report.reference_sample is None:
        return None
    two_d = not ref.is_image and ref.shape == (2,)
    if not ref.is_image and not two_d:
        return None
    real = np.asarray(report.reference_sample)[: len(report.samples[shown[0][0]])]
    panels = [(real, "real (reference sample)")] + [(report.samples[s], t) for s, t in shown]
    cols = len(panels) if len(panels) <= 5 else 4
    fig, axes = _grid(len(panels), cols, 3.4 if two_d else 2.6, 3.4 if two_d else 2.8,
                      margins=SCATTER_MARGINS if two_d else None)
    if two_d:
        for ax, (x, title) in zip(axes, panels):
            _scatter(ax, x, ref, title)
            x0, x1, y0, y1 = _limits(np.asarray(x, dtype=float), np.asarray(real, dtype=float))
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
        legend = [Line2D([], [], ls="", marker="o", color=_mode_colors(max(ref.n_modes, 1))(0), label="sample in a mode "
                         "(colour = mode)"), Line2D([], [], ls="", marker="x", color=OFF_MODE,
                                                    label="off-mode (beyond 3 std of every centre)"),
                  Line2D([], [], ls="", marker="o", mfc="none", mec="0.6", ms=9, label="mode centre")] if ref.has_modes else []
        if legend:  # in the bottom margin, under the x labels
            fig.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, 0.02 / fig.get_figheight()), ncols=3,
                       fontsize=8, frameon=False)
    else:
        for ax, (x, title) in zip(axes, panels):
            grid = image_grid(np.asarray(x))
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(title, fontsize=9)
    return fig


def shares_figure(report: "Report") -> Figure | None:
    """Per run: each mode's share / its reference share against step (heat map); ``None`` without runs."""
    shares = report.mode_shares
    if shares is None:
        return None
    frame = report.frame
    runs = [r for r in dict.fromkeys(frame["run"]) if r]
    if not runs:
        return None
    ref = np.asarray(shares.attrs["reference_shares"], dtype=float)
    what = "mode" if report.reference is not None and report.reference.has_modes else "NDB bin"
    fig, axes = _grid(len(runs), 2, 5.2, 3.2)
    ratios = []
    for run in runs:
        part = shares[(frame["run"] == run).to_numpy()].sort_values("step")
        ratios.append((part, part.drop(columns="step").to_numpy(dtype=float) / np.where(ref > 0, ref, np.nan)))
    top = max(2.0, float(np.nanmax([np.nanmax(r) if np.isfinite(r).any() else 0.0 for _, r in ratios])))
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=top)
    image = None
    for i, (ax, run, (part, data)) in enumerate(zip(axes, runs, ratios)):
        steps = part["step"].tolist()
        image = ax.imshow(data.T, aspect="auto", origin="lower", cmap="RdBu_r", norm=norm, interpolation="nearest")
        ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 12)).round().astype(int))
        ax.set_xticks(ticks, [str(steps[t]) for t in ticks], fontsize=7)
        if data.shape[1] <= 25:
            ax.set_yticks(range(data.shape[1]), [str(k) for k in range(data.shape[1])], fontsize=7)
        ax.set_xlabel("training step (generator updates)", fontsize=8)
        if i % 2 == 0:
            ax.set_ylabel(f"{what} index", fontsize=8)
        ax.set_title(Path(run).name, fontsize=9)
    if image is not None:
        ticks = [t for t in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0) if t < 0.85 * top] + [top]
        bar = fig.colorbar(image, ax=list(axes[: len(runs)]), label="share / reference share\n(0 = dropped, 1 = fair)",
                           shrink=0.9, ticks=ticks)
        bar.ax.set_yticklabels([f"{t:.3g}" for t in ticks])
    return fig


def _short(source: str) -> str:
    p = Path(source)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (white background; a tight bounding box for a constrained-layout figure)."""
    buf = io.BytesIO()
    tight = "tight" if fig.get_layout_engine() is not None else None  # fixed margins: already in place, drawn once
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=tight, facecolor="white")
    return buf.getvalue()


def render_plots(report: "Report") -> dict[str, bytes]:
    """The plots that apply to this report, ``{file name: PNG bytes}``, in :data:`PLOT_FILES` order."""
    from .conditional_report import class_samples_figure, confusion_figure

    out = {}
    builders = (metrics_figure, samples_figure, shares_figure, confusion_figure, class_samples_figure)
    for name, build in zip(PLOT_FILES, builders):
        if build in (confusion_figure, class_samples_figure) and not report.confusion:
            continue  # nothing class-conditional: no plot, no cost
        fig = build(report)
        if fig is not None:
            out[name] = figure_png(fig)
    return out


def write_plots(report: "Report", out: Path, rendered: dict[str, bytes] | None = None) -> list[Path]:
    """Write the plots (``rendered``, default :func:`render_plots`) into ``out``, each atomically; their paths."""
    written = []
    for name, data in (render_plots(report) if rendered is None else rendered).items():
        with atomic_path(Path(out) / name) as tmp:
            Path(tmp).write_bytes(data)
        written.append(Path(out) / name)
    return written
