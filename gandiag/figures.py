"""One metric along training, the plot the audit and ``gandiag compare`` share; labels from the registry."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from .errors import GandiagInputError
from .metrics.registry import get_spec
from .schema import REAL_VS_REAL, interval_columns

__all__ = ["label", "plot_metric_axes"]


def label(metric: str) -> str:
    """The plot and table label of a registered metric (the name itself for other columns)."""
    try:
        return get_spec(metric).label
    except GandiagInputError:
        return metric


def plot_metric_axes(frame: pd.DataFrame, metric: str, ax: Axes) -> None:
    """``metric`` against step, one line per source, interval band, real-vs-real floor dashed."""
    runs = frame[frame["source"] != REAL_VS_REAL]
    for source, part in runs.groupby("source", sort=False):
        part = part.sort_values("step")
        step = pd.to_numeric(part["step"], errors="coerce").to_numpy(dtype=float)
        ax.plot(step, part[metric].to_numpy(dtype=float), "o-", ms=3, label=Path(str(source)).name)
        low, high = interval_columns(metric)
        if low in part:
            ax.fill_between(step, part[low].to_numpy(dtype=float), part[high].to_numpy(dtype=float), alpha=0.2)
    floor = frame.loc[frame["source"] == REAL_VS_REAL, metric]
    if len(floor) and np.isfinite(float(floor.iloc[0])):
        ax.axhline(float(floor.iloc[0]), color="k", ls="--", lw=1, label=REAL_VS_REAL)
    if metric in ("js", "js_density"):
        ax.axhline(math.log(2), color="grey", lw=0.5)
    ax.set(title=label(metric), xlabel="step")
    ax.grid(alpha=0.3)
