"""One metric along training, the plot the audit and ``gandiag compare`` share; labels from the registry.

Every panel has its y-axis label with the unit (:func:`axis_label`), a logarithmic y-axis when
the values span more than :data:`LOG_SPAN` (a factor of 30; symmetric-log when some values are
0), and the real-vs-real floor as a grey band: the values a perfect generator's noise reaches
(:func:`floor_band`; the same rule as the report's "within real-vs-real noise" marks).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from .errors import GandiagInputError
from .metrics.registry import get_spec
from .schema import FLAG_NAMES, REAL_VS_REAL, interval_columns

if TYPE_CHECKING:  # matplotlib is imported by the plots only: labels and bands need none of it
    from matplotlib.axes import Axes

__all__ = ["LOG_SPAN", "UNITS", "axis_label", "floor_band", "label", "plot_metric_axes", "set_value_scale"]

#: Units of the report columns whose registered label does not already state one.
UNITS: dict[str, str] = {
    "w1": "data units", "w2": "data units", "sliced_w": "data units", "sinkhorn": "data units",
    "fid": "squared feature units", "kid": "squared feature units",
    "c2st_accuracy": "fraction", "c2st_pvalue": "probability",
    "precision": "fraction", "recall": "fraction", "coverage": "fraction", "density": "ratio",
    "modes_total": "count", "modes_captured": "count", "effective_modes": "count",
    "hq_fraction": "fraction", "intra_mode_spread": "x reference std", "ndb": "bins", "ndb_k": "fraction of bins",
}
#: A y-axis turns logarithmic when its largest positive value is more than this times its smallest.
LOG_SPAN = 30.0


def label(metric: str) -> str:
    """The plot and table label of a registered metric (the name itself for other columns)."""
    try:
        return get_spec(metric).label
    except GandiagInputError:
        return metric


def axis_label(metric: str) -> str:
    """The label with its unit, e.g. ``"W1 (data units)"`` (the registered label when it has one)."""
    text = label(metric)
    unit = UNITS.get(metric)
    return f"{text} ({unit})" if unit and "(" not in text else text


def set_value_scale(ax: "Axes", values: Sequence[float]) -> str:
    """Make the y-axis logarithmic when the positive ``values`` span more than :data:`LOG_SPAN`.

    Returns the scale set: ``"log"`` (all finite values positive), ``"symlog"`` (some are 0, linear
    below the smallest positive one) or ``"linear"``.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    pos = v[v > 0]
    if len(pos) < 2 or (v < 0).any() or pos.max() <= LOG_SPAN * pos.min():
        return "linear"
    scale = "symlog" if (v == 0).any() else "log"
    if scale == "symlog":
        ax.set_yscale("symlog", linthresh=float(pos.min()))
    else:
        ax.set_yscale("log")
        if pos.max() < 100 * pos.min():  # two decades or less: label 1, 2, 5 of each decade
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))  # 0.001, not 10^-3 or 3x10^0
    ax.yaxis.set_minor_formatter(NullFormatter())
    return scale


def floor_band(metric: str, floor: pd.Series | None) -> tuple[float, float] | None:
    """The range of values within real-vs-real noise, ``(low, high)`` (``±inf`` for an open end).

    With ``worse`` = ``higher`` (registry): everything up to the floor's value, or its interval's
    upper end; ``lower``: from the floor's value (or lower end) up; ``from1``: within |f - 1| of 1.
    ``None`` when the floor row has no value of ``metric`` or the metric has no direction.
    """
    if floor is None or metric not in floor.index:
        return None
    try:
        worse = get_spec(metric).worse
    except GandiagInputError:
        return None
    value = pd.to_numeric(pd.Series([floor[metric]]), errors="coerce").iloc[0]
    if worse is None or not np.isfinite(value):
        return None
    lo_col, hi_col = interval_columns(metric)
    lo = float(floor[lo_col]) if lo_col in floor.index and pd.notna(floor[lo_col]) else float(value)
    hi = float(floor[hi_col]) if hi_col in floor.index and pd.notna(floor[hi_col]) else float(value)
    if worse == "higher":
        return -math.inf, max(hi, float(value))
    if worse == "lower":
        return min(lo, float(value)), math.inf
    width = max(abs(lo - 1.0), abs(hi - 1.0), abs(float(value) - 1.0))
    return 1.0 - width, 1.0 + width


def _shade(ax: "Axes", band: tuple[float, float] | None, floor_value: float | None) -> None:
    """The floor's band and line, drawn after the data so that the axis limits are the data's."""
    if band is None:
        return
    ymin, ymax = ax.get_ylim()
    lo, hi = max(band[0], ymin), min(band[1], ymax)
    if hi > lo:
        ax.axhspan(lo, hi, color="0.85", zorder=0, label="within real-vs-real noise")
    if floor_value is not None and ymin <= floor_value <= ymax:
        ax.axhline(floor_value, color="0.35", ls="--", lw=1, zorder=1, label=REAL_VS_REAL)
    ax.set_ylim(ymin, ymax)


def plot_metric_axes(frame: pd.DataFrame, metric: str, ax: "Axes", *, colors: dict[str, Any] | None = None,
                     group: str = "source", marks: dict[str, Any] | None = None) -> None:
    """``metric`` against step, one line per ``group`` value, interval band, real-vs-real floor as a band.

    ``colors``: a colour per group value (default: matplotlib's cycle). ``marks``: per group value,
    the step to mark with a star (the recommended checkpoint). Checkpoints that raise a flag are
    drawn hollow.
    """
    runs = frame[frame["source"] != REAL_VS_REAL]
    seen: list[float] = []
    for name, part in runs.groupby(group, sort=False):
        part = part.sort_values("step")
        step = pd.to_numeric(part["step"], errors="coerce").to_numpy(dtype=float)
        values = pd.to_numeric(part[metric], errors="coerce").to_numpy(dtype=float)
        seen += values.tolist()
        color = (colors or {}).get(name)
        line, = ax.plot(step, values, "-", lw=1.5, color=color, label=Path(str(name)).name)
        flagged = _flagged(part)
        ax.plot(step[~flagged], values[~flagged], "o", ms=4, color=line.get_color())
        ax.plot(step[flagged], values[flagged], "o", ms=5, mfc="white", mec=line.get_color())
        low, high = interval_columns(metric)
        if low in part and part[low].notna().any():
            lows, highs = part[low].to_numpy(dtype=float), part[high].to_numpy(dtype=float)
            ax.fill_between(step, lows, highs, color=line.get_color(), alpha=0.15, lw=0)  # not in ``seen``: the
            # scale follows the values (an interval's low end may cross 0 where the values never do)
        mark = (marks or {}).get(name)
        if mark is not None and (step == mark).any():
            ax.plot([mark], values[step == mark][:1], "*", ms=13, color=line.get_color(), mec="k", mew=0.6, zorder=5)
    floor = frame[frame["source"] == REAL_VS_REAL]
    floor_row = floor.iloc[0] if len(floor) else None
    floor_value = None
    if floor_row is not None and metric in floor_row.index and pd.notna(floor_row[metric]):
        floor_value = float(floor_row[metric])
        seen.append(floor_value)
    set_value_scale(ax, seen)
    if floor_value is not None:  # the floor is always in view: where the data sit against it is the point
        ax.update_datalim([(ax.dataLim.x0 if np.isfinite(ax.dataLim.x0) else 0.0, floor_value)])
    ax.autoscale_view()
    _shade(ax, floor_band(metric, floor_row), floor_value)
    if metric in ("js", "js_density"):
        ax.axhline(math.log(2), color="grey", lw=0.5)
    ax.set_xlabel("training step (generator updates)")
    ax.set_ylabel(axis_label(metric))
    ax.set_title(label(metric), fontsize=10)
    ax.grid(alpha=0.3)


def _flagged(part: pd.DataFrame) -> np.ndarray:
    """Rows of ``part`` that raise some flag (False where the flag columns are absent or empty)."""
    raised = np.zeros(len(part), dtype=bool)
    for flag in FLAG_NAMES:
        if flag in part.columns:
            raised |= part[flag].fillna(False).astype(bool).to_numpy()
    return raised
