"""Which checkpoint to keep: the best value of one metric, the checkpoints not significantly worse,
and a recommendation that avoids flagged checkpoints.

Picking the checkpoint with the lowest FID treats a noisy estimate as exact: two checkpoints whose
95% intervals overlap cannot be told apart at this n (Lucic et al., "Are GANs created equal?",
NeurIPS 2018, show FID differences of this size between seeds of one model). The rule here uses
the intervals exactly as the gate's baseline rule does (:func:`gandiag.gate.checks.badness_range`,
margin 0), on the scale where larger is worse (``|v - 1|`` for ``intra_mode_spread``):

* **best**: the scored checkpoint (no error, not the real-vs-real row) with the best value;
* **tied**: every checkpoint whose interval's best end is no worse than the worst end of the best
  checkpoint's interval (``best_end(c) <= worst_end(best)``): not significantly worse. Without
  intervals (``resamples`` = 0) only equal values tie;
* **recommended**: among the tied checkpoints, the best-valued one that raises no flag; when every
  tied checkpoint raises a flag, the best-valued checkpoint of the whole run that raises none;
  when every checkpoint raises a flag, none (``None``), and :attr:`BestChoice.rule` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..errors import GandiagInputError, did_you_mean
from ..gate.checks import badness_range
from ..gate.config import WORSE
from ..schema import ALL_FLAG_NAMES, REAL_VS_REAL, interval_columns

__all__ = ["BestChoice", "DEFAULT_METRICS", "best_by_run", "best_checkpoints", "check_rank_metric"]

#: The metric used when none is given: the first of these with a value in the report.
DEFAULT_METRICS: tuple[str, ...] = ("fid", "w2", "sliced_w", "w1", "sinkhorn", "kid", "js", "mode_kl")

Key = tuple[str, "int | None"]


@dataclass(frozen=True)
class BestChoice:
    """The outcome of :func:`best_checkpoints`; ``table`` has one row per candidate checkpoint.

    ``best``, ``tied`` and ``recommended`` are ``(source, step)`` pairs (step ``None`` for a
    single file); ``rule`` is the recommendation rule in one sentence, with the reason when there
    is no recommendation.
    """

    metric: str
    run: str | None
    best: Key
    tied: list[Key]
    recommended: Key | None
    rule: str
    table: pd.DataFrame

    def describe(self) -> str:
        """One line: the best checkpoint, the ties, and the recommendation."""
        ties = len(self.tied) - 1
        rec = "none" if self.recommended is None else _name(self.recommended)
        return (f"best {self.metric}: {_name(self.best)}; {ties} other checkpoint(s) not significantly worse; "
                f"recommended: {rec}")


def _name(key: Key) -> str:
    """``"runs/x/step-0000500.pt (step 500)"``; a monitor's rows are named ``"step 500"`` already."""
    source, step = key
    return source if step is None or source == f"step {step}" else f"{source} (step {step})"


def _step(value: object) -> int | None:
    try:
        return None if value is None or pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


def raised_flags(frame: pd.DataFrame) -> list[list[str]]:
    """Per row of ``frame``, the flags it raises (columns of :data:`ALL_FLAG_NAMES` that are true),
    read column by column: a row at a time through pandas costs ~1 ms per row."""
    columns = [(f, frame[f].to_numpy(dtype=object)) for f in ALL_FLAG_NAMES if f in frame.columns]
    return [[f for f, values in columns if not pd.isna(values[i]) and bool(values[i])] for i in range(len(frame))]


def check_rank_metric(metric: str | None) -> str | None:
    """``metric`` when it can rank checkpoints (a registered metric with a direction: ``fid``, ``w1``,
    ``coverage``, ...), ``None`` for the default; :class:`GandiagInputError` naming the closest names
    and every rankable one otherwise. ``gandiag best`` calls it before scoring, so a typo costs no audit."""
    if metric is None or metric in WORSE:
        return metric
    raise GandiagInputError(f"best: {metric!r} is not a metric that ranks checkpoints{did_you_mean(metric, WORSE)}; "
                            f"metrics with a better and a worse direction: {', '.join(WORSE)}")


def _pick_metric(frame: pd.DataFrame, metric: str | None) -> str:
    if metric is not None:
        check_rank_metric(metric)
        if metric not in frame.columns or frame[metric].isna().all():
            have = [m for m in DEFAULT_METRICS if m in frame.columns and frame[m].notna().any()]
            raise GandiagInputError(f"best: metric {metric!r} has no value in this report; metrics with values: "
                                    f"{', '.join(have) or 'none'}")
        return metric
    for name in DEFAULT_METRICS:
        if name in frame.columns and frame[name].notna().any():
            return name
    raise GandiagInputError(f"best: none of {', '.join(DEFAULT_METRICS)} has a value in this report; "
                            "give --metric")


def _candidates(frame: pd.DataFrame, metric: str, run: str | None) -> pd.DataFrame:
    rows = frame[frame["source"].astype(str) != REAL_VS_REAL]
    if "error" in rows.columns:
        rows = rows[rows["error"].fillna("").astype(str) == ""]
    if run is not None:
        if "run" not in rows.columns or not (rows["run"] == run).any():
            raise GandiagInputError(f"best: run {run!r} is not in this report")
        rows = rows[rows["run"] == run]
    rows = rows[pd.to_numeric(rows[metric], errors="coerce").notna()]
    if rows.empty:
        raise GandiagInputError(f"best: no scored checkpoint has a value of {metric}")
    return rows


def best_checkpoints(frame: pd.DataFrame, metric: str | None = None, run: str | None = None) -> BestChoice:
    """The best checkpoint of ``frame`` by ``metric``, the ones not significantly worse, and the recommendation.

    Parameters
    ----------
    frame : pandas.DataFrame
        An audit report's frame (:attr:`gandiag.auditing.Report.frame`): ``source``, ``step``,
        the metric, its ``{metric}_ci_low``/``{metric}_ci_high`` columns, the flags.
    metric : str, optional
        The report column to rank by; default the first of :data:`DEFAULT_METRICS` with a value.
    run : str, optional
        Only the checkpoints of this run folder (the frame's ``run`` column).

    Returns
    -------
    BestChoice

    Raises
    ------
    GandiagInputError
        The metric has no value, the run is not in the report, or nothing was scored.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"source": ["a", "b", "c"], "step": [1, 2, 3], "fid": [3.0, 2.0, 9.0],
    ...                       "fid_ci_low": [2.5, 1.0, 8.0], "fid_ci_high": [3.5, 2.8, 10.0],
    ...                       "mode_collapse": [False, True, False]})
    >>> choice = best_checkpoints(frame)
    >>> choice.best, choice.tied, choice.recommended
    (('b', 2), [('b', 2), ('a', 1)], ('a', 1))
    """
    metric = _pick_metric(frame, metric)
    rows = _candidates(frame, metric, run)
    low_col, high_col = interval_columns(metric)
    values = pd.to_numeric(rows[metric], errors="coerce").astype(float)
    badness = [badness_range(metric, (v, v))[0] for v in values]
    lows = pd.to_numeric(rows[low_col], errors="coerce") if low_col in rows.columns else pd.Series(math.nan, rows.index)
    highs = pd.to_numeric(rows[high_col], errors="coerce") if high_col in rows.columns else pd.Series(math.nan, rows.index)
    order = sorted(range(len(rows)), key=lambda i: (badness[i], i))
    top = order[0]
    top_interval = (float(lows.iloc[top]), float(highs.iloc[top]))
    has_top_interval = not any(math.isnan(x) for x in top_interval)
    worst_top = badness_range(metric, top_interval)[1] if has_top_interval else badness[top]
    tied_mask = []
    for i in range(len(rows)):
        interval = (float(lows.iloc[i]), float(highs.iloc[i]))
        if has_top_interval and not any(math.isnan(x) for x in interval):
            tied_mask.append(badness_range(metric, interval)[0] <= worst_top)
        else:
            tied_mask.append(badness[i] == badness[top])
    keys = [(str(s), _step(t)) for s, t in zip(rows["source"], rows["step"] if "step" in rows else [None] * len(rows))]
    flags = raised_flags(rows)
    tied = [keys[i] for i in order if tied_mask[i]]
    clean_tied = [i for i in order if tied_mask[i] and not flags[i]]
    clean_any = [i for i in order if not flags[i]]
    rule = (f"the best {metric} among the checkpoints not significantly worse than the best (95% intervals "
            "overlapping, as the gate's baseline rule) that raise no flag")
    if clean_tied:
        pick: int | None = clean_tied[0]
    elif clean_any:
        pick = clean_any[0]
        rule += "; every such checkpoint raises a flag, so the best-valued checkpoint that raises none"
    else:
        pick = None
        rule += "; every checkpoint raises a flag: no recommendation"
    if not has_top_interval:
        rule += " (no intervals in this report: run with resamples >= 2 to see which differences are noise)"
    table = pd.DataFrame({
        "source": [k[0] for k in keys], "step": pd.array([k[1] for k in keys], dtype="Int64"),
        metric: values.to_numpy(), low_col: lows.to_numpy(), high_col: highs.to_numpy(),
        "flags": [", ".join(f) for f in flags], "best": [i == top for i in range(len(rows))],
        "tied": tied_mask, "recommended": [i == pick for i in range(len(rows))],
    }).iloc[order].reset_index(drop=True)
    return BestChoice(metric=metric, run=run, best=keys[top], tied=tied,
                      recommended=None if pick is None else keys[pick], rule=rule, table=table)


def best_by_run(frame: pd.DataFrame, metric: str | None = None, runs: Sequence[str] | None = None) -> dict[str, BestChoice]:
    """:func:`best_checkpoints` for every run folder of the report (``run`` column, non-empty)."""
    if runs is None:
        runs = [r for r in dict.fromkeys(frame.get("run", pd.Series(dtype=str)).fillna("").astype(str)) if r]
    return {r: best_checkpoints(frame, metric, run=r) for r in runs}
