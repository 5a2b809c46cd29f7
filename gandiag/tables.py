"""Tables and figures written to disk: Markdown tables, CSV files and PNGs, each written atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .atomic import atomic_path

__all__ = ["markdown_table", "save_figure", "save_table"]


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
