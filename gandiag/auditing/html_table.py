"""Tables of the audit report as HTML (and the cell formats the Markdown report shares).

Cells: integers as integers (a column whose values are all whole numbers, e.g. ``step`` 500, not
500.0), other numbers to 4 significant digits, an interval as ``value [low, high]`` in one cell,
raised flags as badges, a metric value within real-vs-real noise
(:func:`gandiag.auditing.verdict.within_floor`) greyed with the mark :data:`NOISE_MARK` and the
tooltip :data:`NOISE_TEXT`. Only columns with a value are shown; ``n`` and ``seed`` too when they
are the same on every row (the page's header states them). In the HTML table a row's evidence,
error and notes go on a second line under it, so that rows stay one line tall.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..figures import axis_label, label
from ..metrics.registry import metric_names
from ..schema import ALL_FLAG_NAMES, REAL_VS_REAL, interval_columns, metric_of_interval

__all__ = ["NOISE_MARK", "NOISE_TEXT", "KEY_METRICS", "common_notes", "fmt", "integer_columns", "metrics_table", "scores_table",
           "short_source", "table_columns"]

NOISE_MARK = "≈"
NOISE_TEXT = "within real-vs-real noise"
#: The metrics of the "against the floor" table, in order (those with a value are shown).
KEY_METRICS: tuple[str, ...] = ("modes_captured", "hq_fraction", "mode_kl", "effective_modes", "intra_mode_spread",
                                "js", "w1", "w2", "sliced_w", "sinkhorn", "fid", "kid", "precision", "recall",
                                "density", "coverage", "ndb_k", "label_accuracy", "label_mi", "intra_class_fid",
                                "input_dependence", "output_diversity", "cycle_error", "map_accuracy")
TEXT_COLUMNS = ("evidence", "notes", "error")
BADGE = {f: f.replace("_", " ") for f in ALL_FLAG_NAMES}


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)) \
        or (isinstance(value, str) and value == "")


def fmt(value: Any, integer: bool = False) -> str:
    """One cell as text: ``""`` when missing, whole numbers without ``.0``, floats to 4 significant digits."""
    if _missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)) or (integer and float(value).is_integer()):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def integer_columns(frame: pd.DataFrame) -> set[str]:
    """Numeric columns whose every value is a whole number."""
    out = set()
    for col in frame.columns:
        column = frame[col]
        if column.dtype == object or pd.api.types.is_bool_dtype(column):
            continue
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":  # plain numpy numbers: no coercion
            values = column.to_numpy(dtype=float)
            values = values[~np.isnan(values)]
        else:
            values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)
        if len(values) and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            out.add(col)
    return out


def short_source(source: str) -> str:
    """``parent/name`` of a path (the floor row and in-memory names unchanged)."""
    p = Path(str(source))
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def _has_value(column: pd.Series) -> bool:
    return bool(column.map(lambda v: not _missing(v)).any())


def common_notes(frame: pd.DataFrame) -> str:
    """The ``notes`` text when every row has the same one (said once above the table), else ``""``."""
    if "notes" not in frame.columns:
        return ""
    notes = frame["notes"].fillna("").astype(str).unique()
    return str(notes[0]) if len(notes) == 1 else ""


def table_columns(frame: pd.DataFrame, *, text: bool = True) -> list[str]:
    """The columns the full table shows: those with a value, intervals folded into their metric, the three
    flags as one ``flags`` column, ``n``/``seed``/``run`` left out when constant or implied, ``notes`` when the
    same on every row (:func:`common_notes`); ``text=False`` leaves out :data:`TEXT_COLUMNS`."""
    cols = []
    for col in frame.columns:
        if metric_of_interval(col) is not None or col in ALL_FLAG_NAMES or col == "run" or not _has_value(frame[col]):
            continue
        if col in TEXT_COLUMNS and (not text or (col == "notes" and common_notes(frame))):
            continue
        if col in ("n", "seed") and frame[col].nunique(dropna=True) <= 1:
            continue
        cols.append(col)
    if any(f in frame.columns for f in ALL_FLAG_NAMES):  # right after source and step: the first thing read
        at = max((cols.index(c) + 1 for c in ("source", "step") if c in cols), default=0)
        cols.insert(at, "flags")
    return cols


def _badges(row: pd.Series) -> str:
    raised = [f for f in ALL_FLAG_NAMES if f in row.index and not _missing(row[f]) and bool(row[f])]
    return "".join(f"<span class='badge {f}'>{BADGE[f]}</span>" for f in raised)


def _metric_cell(row: pd.Series, metric: str, integer: bool, noise: bool) -> str:
    text = fmt(row[metric], integer)
    lo, hi = interval_columns(metric)
    if text and lo in row.index and not _missing(row[lo]) and not _missing(row[hi]):
        text += f" <span class='ci'>[{fmt(row[lo])}, {fmt(row[hi])}]</span>"
    if noise and text:
        return f"<td class='num noise' title='{NOISE_TEXT}'>{NOISE_MARK}&thinsp;{text}</td>"
    return f"<td class='num'>{text}</td>"


def _header(col: str) -> str:
    title = html.escape(axis_label(col), quote=True)
    return f"<th title='{title}'>{html.escape(label(col) if col in metric_names() else col.replace('_', ' '))}</th>"


def _text_row(row: pd.Series, frame: pd.DataFrame, width: int) -> str:
    """A second line under a row: its evidence, error and own notes across the table (rows stay one line tall)."""
    parts = []
    for col in TEXT_COLUMNS:
        if col in row.index and not _missing(row[col]) and not (col == "notes" and common_notes(frame)):
            css = " class='err'" if col == "error" else ""
            parts.append(f"<span{css}><b>{col}</b>: {html.escape(str(row[col]))}</span>")
    return f"<tr class='sub'><td colspan='{width}'>{' &middot; '.join(parts)}</td></tr>" if parts else ""


def _row_html(row: pd.Series, cols: Sequence[str], ints: set[str], noise: pd.Series | None) -> str:
    cells = []
    metrics = set(metric_names())
    for col in cols:
        if col == "source":
            src = str(row["source"])
            cells.append(f"<td class='src' title='{html.escape(src, quote=True)}'>{html.escape(short_source(src))}</td>")
        elif col == "flags":
            cells.append(f"<td class='flags'>{_badges(row)}</td>")
        elif col in metrics:
            mark = bool(noise[col]) if noise is not None and col in noise.index else False
            cells.append(_metric_cell(row, col, col in ints, mark))
        elif col in TEXT_COLUMNS:
            css = "err" if col == "error" else "text"
            cells.append(f"<td class='{css}'>{html.escape(fmt(row[col]))}</td>")
        else:
            cells.append(f"<td class='num'>{html.escape(fmt(row[col], col in ints))}</td>")
    css = " class='floor'" if row.get("source") == REAL_VS_REAL else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def scores_table(frame: pd.DataFrame, within: pd.DataFrame) -> str:
    """The full table: every row, :func:`table_columns`, a sticky header, noise greyed."""
    cols = table_columns(frame, text=False)
    ints = integer_columns(frame)
    head = "".join(_header(c) for c in cols)
    body = "".join(_row_html(row, cols, ints, within.loc[i] if i in within.index else None)
                   + _text_row(row, frame, len(cols)) for i, row in frame.iterrows())
    common = common_notes(frame)
    note = f"<p class='legend'>Notes on every row: {html.escape(common)}.</p>" if common else ""
    return (f"{note}<div class='scroll'><table class='scores'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def metrics_table(frame: pd.DataFrame, within: pd.DataFrame, rows: Iterable[tuple[Any, str]]) -> str:
    """The key metrics of the chosen ``rows`` ((frame index, label) pairs) and the floor row."""
    cols = [m for m in KEY_METRICS if m in frame.columns and _has_value(frame[m])]
    ints = integer_columns(frame)
    floor = frame.index[frame["source"] == REAL_VS_REAL].tolist()
    picked = list(rows) + [(i, "real-vs-real (floor)") for i in floor]
    head = "<th>checkpoint</th>" + "".join(_header(c) for c in cols)
    body = []
    for index, name in picked:
        row = frame.loc[index]
        noise = within.loc[index] if index in within.index else None
        cells = "".join(_metric_cell(row, m, m in ints, bool(noise[m]) if noise is not None and m in noise.index
                                     else False) for m in cols)
        css = " class='floor'" if row["source"] == REAL_VS_REAL else ""
        title = html.escape(str(row["source"]), quote=True)
        body.append(f"<tr{css}><td class='src' title='{title}'>{html.escape(name)}</td>{cells}</tr>")
    return f"<table class='key'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
