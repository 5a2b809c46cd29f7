"""The audit's judgement in words: one verdict per run or source, and every metric against its floor.

**Verdicts** (:func:`verdicts`), worst first (:data:`VERDICTS`):

* ``diverged`` - the last checkpoint produced NaN or infinite samples; ``failed`` - it could not be
  loaded or scored (any other error);
* ``condition ignored``, ``mode collapse``, ``class collapse``, ``mode dropping``, ``class dropping``,
  ``low quality`` - the worst flag (docs/contract.md section 6; the ``class_*`` and ``condition_ignored``
  flags of a conditional generator, :mod:`gandiag.conditional.flags`) raised at the last scored
  checkpoint of the run (the other raised flags are named in the evidence), except
  that for a generator with no high-quality sample at all (``modes_captured`` = 0) ``low quality``
  comes before ``mode dropping``: every mode is "missing" only because nothing looks like the data;
* ``class confusion`` - no flag, but a class-conditional generator draws another class for some
  requested ones (:func:`gandiag.auditing.conditional_report.confused_classes`): the evidence names them;
* ``not judged`` - the flags were not computed (the mode metrics were not selected: ``--metrics``
  without ``modes``);
* ``healthy`` - no flag at the last checkpoint.

A run's verdict is its state at the end of training; ``since`` (``None`` for a single source, which
has no history) is the step from which that state holds to the end (for a flag, the onset of
:func:`gandiag.modes.flag_onsets`: "appears and stays"; for ``healthy``, the first checkpoint of the
final stretch with no flag; for an error, of the final stretch of failing checkpoints). The
recommended checkpoint of a run comes from :func:`gandiag.auditing.best.best_checkpoints`.

**Within real-vs-real noise** (:func:`within_floor`): a metric value cannot be told apart from what a
perfect generator scores when its 95% interval overlaps the real-vs-real row's interval
([lo, hi] ∩ [lo_f, hi_f] ≠ ∅), or, whatever the intervals, when it is not worse than the floor's
value in the metric's direction (registry ``worse``: ``higher`` -> v <= f, ``lower`` -> v >= f,
``from1`` -> |v - 1| <= |f - 1|). Without intervals (``resamples=0``) only the second rule applies, so
a value just worse than the floor is not marked although it may be noise too: pass ``resamples=K``
to mark those. At the demo's n = 2,500 the transport distances between mixtures are dominated by
mode-count noise (the floor's W2 is about 0.44), which this marks.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import pandas as pd

from ..errors import GandiagInputError
from ..metrics.registry import get_spec, metric_names
from ..schema import ALL_FLAG_NAMES, REAL_VS_REAL, evidence_clauses, interval_columns
from .best import BestChoice, best_checkpoints
from .conditional_report import confusion_words

if TYPE_CHECKING:
    from .report import Report

__all__ = ["VERDICTS", "Verdict", "floor_row", "key_rows", "within_floor", "verdicts"]

#: Verdicts, worst first.
VERDICTS: tuple[str, ...] = ("diverged", "failed", "condition ignored", "mode collapse", "class collapse",
                             "mode dropping", "class dropping", "class confusion", "low quality", "not judged",
                             "healthy")
#: Flag -> verdict, in the order the worst raised flag is chosen.
FLAG_VERDICT: dict[str, str] = {"condition_ignored": "condition ignored", "mode_collapse": "mode collapse",
                                "class_collapse": "class collapse", "mode_dropping": "mode dropping",
                                "class_dropping": "class dropping", "low_quality": "low quality"}
NAN_ERROR = "NaN or infinite"


@dataclass(frozen=True)
class Verdict:
    """One run's (or single source's) verdict: see the module docstring."""

    subject: str
    kind: str
    since: Any
    evidence: str
    is_run: bool = True
    checkpoints: int = 1
    last_step: Any = None
    recommended: tuple[str, Any] | None = None
    rule: str = ""
    best: tuple[str, Any] | None = None
    metric: str = ""
    notes: tuple[str, ...] = ()
    row: Any = None  # a single source's row label in the report's frame (sources may share a name)

    @property
    def severity(self) -> int:
        """0 for the worst verdict (``diverged``) up to ``len(VERDICTS) - 1`` (``healthy``)."""
        return VERDICTS.index(self.kind)


def _int(value: Any) -> Any:
    """A step as a Python int (``None`` when missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _raised(row: pd.Series, flag: str) -> bool:
    value = row.get(flag)
    return value is not None and value is not pd.NA and not (isinstance(value, float) and math.isnan(value)) \
        and bool(value)


def _clause(row: pd.Series, flag: str) -> str:
    """The evidence clause of ``flag`` without its ``flag:`` prefix."""
    clause = evidence_clauses(row.get("evidence", "")).get(flag)
    return clause[len(flag) + 1:].strip() if clause is not None else flag.replace("_", " ")


def _final_stretch(rows: pd.DataFrame, mask: np.ndarray) -> Any:
    """Step of the first row of the final unbroken stretch of ``mask`` (rows sorted by step)."""
    since = None
    for step, hit in zip(rows["step"].tolist()[::-1], mask[::-1]):
        if not hit:
            break
        since = step
    return _int(since)


def floor_row(frame: pd.DataFrame) -> pd.Series | None:
    """The real-vs-real row of ``frame`` (``None`` when there is none)."""
    floor = frame[frame["source"] == REAL_VS_REAL]
    return floor.iloc[0] if len(floor) else None


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _healthy_evidence(row: pd.Series, floor: pd.Series | None, unit: str = "mode") -> str:
    parts = []
    if pd.notna(row.get("modes_captured", np.nan)) and pd.notna(row.get("modes_total", np.nan)):
        parts.append(f"{int(row['modes_captured'])} of {int(row['modes_total'])} {unit}s captured")
    if pd.notna(row.get("hq_fraction", np.nan)):
        ref = "" if floor is None or pd.isna(floor.get("hq_fraction", np.nan)) else \
            f" (real data {100 * float(floor['hq_fraction']):.0f}%)"
        parts.append(f"{100 * float(row['hq_fraction']):.0f}% high-quality samples{ref}")
    if pd.notna(row.get("intra_mode_spread", np.nan)):
        parts.append(f"intra-mode spread {_fmt(float(row['intra_mode_spread']))}")
    if pd.notna(row.get("label_accuracy", np.nan)):
        ref = "" if floor is None or pd.isna(floor.get("label_accuracy", np.nan)) else \
            f" (real data {100 * float(floor['label_accuracy']):.0f}%)"
        parts.append(f"label accuracy {100 * float(row['label_accuracy']):.0f}%{ref}")
    return "no flag raised" + (f": {', '.join(parts)}" if parts else "")


def _unit(report: "Report") -> str:
    """What the mode columns count: ``"bin"`` for a reference without modes (NDB bins), else ``"mode"``."""
    ref = getattr(report, "reference", None)
    return "bin" if ref is not None and not ref.has_modes else "mode"


def _confusion(report: "Report", row: pd.Series) -> str:
    """The class confusion of a class-conditional row in words (``""`` when none)."""
    return confusion_words(report.confusion.get(str(row["source"])))


def _flag_verdict(row: pd.Series, floor: pd.Series | None, confused: str = "", unit: str = "mode") -> tuple[str, str]:
    """(verdict, evidence) of one scored row (``confused``: its class confusion in words; ``unit``: what the
    mode columns count, "mode" or "bin")."""
    if all(_missing(row.get(f)) for f in ALL_FLAG_NAMES):
        return "not judged", "no flag computed: the mode metrics were not selected (add modes to --metrics)"
    raised = [f for f in FLAG_VERDICT if _raised(row, f)]
    if not raised:
        if confused:
            return "class confusion", confused.removeprefix("class confusion: ")
        return "healthy", _healthy_evidence(row, floor, unit)
    if {"low_quality", "mode_dropping"} <= set(raised) and row.get("modes_captured") == 0:
        # no high-quality sample at all: every mode is "missing" only because nothing looks like the data
        raised.remove("mode_dropping")
        raised.append("mode_dropping")
    worst = raised[0]
    others = [FLAG_VERDICT[f] for f in raised[1:]] + (["class confusion"] if confused else [])
    also = f" (also {' and '.join(others)})" if others else ""
    return FLAG_VERDICT[worst], _clause(row, worst) + also + (f"; {confused}" if confused else "")


def _error_verdict(error: str) -> str:
    return "diverged" if NAN_ERROR in error else "failed"


def _run_verdict(report: "Report", run: str, floor: pd.Series | None) -> Verdict:
    frame = report.frame
    rows = frame[frame["run"] == run].sort_values("step", kind="stable")
    last = rows.iloc[-1]
    errors = (rows["error"] != "").to_numpy()
    findings = report.findings.get(run)
    notes = tuple(line for line in (findings.lines() if findings else [])
                  if not line.startswith(ALL_FLAG_NAMES))  # onsets are the verdict's "since"; keep hopping etc.
    common = dict(subject=run, is_run=True, checkpoints=len(rows), last_step=_int(last["step"]), notes=notes)
    scored = rows[~errors]
    best = _best(frame, run) if len(scored) else None
    rec = dict(recommended=best.recommended, rule=best.rule, best=best.best, metric=best.metric) if best else {}
    if errors[-1]:
        kind = _error_verdict(str(last["error"]))
        since = _final_stretch(rows, errors)
        good = f" (last scored checkpoint: step {_int(scored['step'].iloc[-1])})" if len(scored) else ""
        what = "the generator produces NaN or infinite samples" if kind == "diverged" else \
            f"on the checkpoints cannot be scored ({last['error']})"
        return Verdict(kind=kind, since=since, evidence=f"from step {since} {what}{good}", **common, **rec)
    last = scored.iloc[-1]
    kind, evidence = _flag_verdict(last, floor, _confusion(report, last), _unit(report))
    if kind == "not judged":
        since = None
    elif kind in ("healthy", "class confusion"):
        confused = kind == "class confusion"
        clean = np.array([not any(_raised(r, f) for f in FLAG_VERDICT) and bool(_confusion(report, r)) == confused
                          for _, r in scored.iterrows()])
        since = _final_stretch(scored, clean)
    else:
        flag = next(f for f, v in FLAG_VERDICT.items() if v == kind)
        since = _int(findings.onsets.get(flag)) if findings is not None else None
        if since is None:
            since = _final_stretch(scored, np.array([_raised(r, flag) for _, r in scored.iterrows()]))
    return Verdict(kind=kind, since=since, evidence=f"at step {_int(last['step'])}: {evidence}", **common, **rec)


def _source_verdict(report: "Report", row: pd.Series, floor: pd.Series | None) -> Verdict:
    step = _int(row.get("step"))  # a single source has no history: no "since", its step is last_step
    if row.get("error", ""):
        kind = _error_verdict(str(row["error"]))
        return Verdict(row["source"], kind, None, str(row["error"]), is_run=False, last_step=step, row=row.name)
    kind, evidence = _flag_verdict(row, floor, _confusion(report, row), _unit(report))
    return Verdict(row["source"], kind, None, evidence, is_run=False, last_step=step, row=row.name)


def verdicts(report: "Report") -> list[Verdict]:
    """One :class:`Verdict` per run folder and per single source, worst first (then in report order).

    Parameters
    ----------
    report : Report
        An audit's report (:func:`gandiag.audit`): its ``frame`` and per-run ``findings``.

    Returns
    -------
    list of Verdict
        Sorted by :attr:`Verdict.severity` (:data:`VERDICTS` order); the real-vs-real row has none.

    Examples
    --------
    >>> import gandiag
    >>> ring = gandiag.reference("ring8")
    >>> point = ring.sample(400, seed=1).numpy() * 0 + [2.0, 0.0]   # every sample on one mode centre
    >>> report = gandiag.audit([ring.sample(400, seed=2), point], ring, n=400, metrics="modes", progress=False)
    >>> [v.kind for v in verdicts(report)]
    ['mode collapse', 'healthy']
    """
    return list(held(report, "verdicts", lambda: _verdicts(report)))


def _verdicts(report: "Report") -> list[Verdict]:
    frame = report.frame
    floor = floor_row(frame)
    out = [_run_verdict(report, run, floor) for run in dict.fromkeys(frame["run"]) if run]
    singles = frame[(frame["run"] == "") & (frame["source"] != REAL_VS_REAL)]
    out += [_source_verdict(report, row, floor) for _, row in singles.iterrows()]
    order = {id(v): i for i, v in enumerate(out)}
    return sorted(out, key=lambda v: (v.severity, order[id(v)]))


#: What is computed once while a report is written (:func:`holding`): id(report) -> (its frame, {name: value}).
_HELD: dict[int, tuple[pd.DataFrame, dict[str, Any]]] = {}


@contextlib.contextmanager
def holding(report: "Report") -> Iterator[None]:
    """Within the block, what :func:`held` is asked for ``report`` is computed once: writing a report
    asks for its verdicts and findings from the markdown, the HTML page and the plots (a third of a
    watch's rewrite). A report whose ``frame`` is replaced meanwhile gets them computed again; the
    hold ends with the block."""
    key = id(report)
    if key in _HELD:  # nested: the outer block holds them
        yield
        return
    _HELD[key] = (report.frame, {})
    try:
        yield
    finally:
        _HELD.pop(key, None)


def held(report: "Report", name: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, computed once per :func:`holding` block of ``report`` (every time outside one)."""
    entry = _HELD.get(id(report))
    if entry is None or entry[0] is not report.frame:
        return compute()
    if name not in entry[1]:
        entry[1][name] = compute()
    return entry[1][name]


def floor_marks(report: "Report") -> pd.DataFrame:
    """:func:`within_floor` of ``report.frame`` (a copy; computed once per :func:`holding` block)."""
    return held(report, "within_floor", lambda: within_floor(report.frame)).copy()


def key_rows(report: "Report", found: list[Verdict]) -> list[tuple[Any, str]]:
    """(frame index, label) of each run's recommended (else best-valued) and last checkpoints, and of each single
    source."""
    frame = report.frame
    rows: list[tuple[Any, str]] = []
    for v in found:
        name = Path(v.subject).name or v.subject
        if not v.is_run:
            hit = [v.row] if v.row in frame.index else frame.index[(frame["source"] == v.subject) & (frame["run"] == "")][:1]
            rows += [(i, name) for i in hit if frame.loc[i, "error"] == ""]
            continue
        sub = frame[(frame["run"] == v.subject) & (frame["error"] == "")].sort_values("step")
        if sub.empty:
            continue
        shown, why = (v.recommended, "recommended") if v.recommended is not None else (v.best, f"best {v.metric}")
        last = sub.index[-1]
        if shown is not None:
            hit = sub.index[sub["source"] == shown[0]]
            if len(hit) and hit[0] != last:
                rows.append((hit[0], f"{name}, step {shown[1]} ({why})"))
        also = f", {why}" if shown is not None and sub.loc[last, "source"] == shown[0] else ""
        rows.append((last, f"{name}, step {_int(sub.loc[last, 'step'])} (last{also})"))
    return rows


def _best(frame: pd.DataFrame, run: str) -> BestChoice | None:
    try:
        return best_checkpoints(frame, run=run)
    except GandiagInputError:  # no metric with a value: the report is still written, without a recommendation
        return None


def _good_side(value: float, floor: float, worse: str) -> bool:
    if worse == "higher":
        return value <= floor
    if worse == "lower":
        return value >= floor
    return abs(value - 1.0) <= abs(floor - 1.0)


def within_floor(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row and metric column: is the value within real-vs-real noise (module docstring)?

    Parameters
    ----------
    frame : pandas.DataFrame
        Report rows with a ``source`` column, one row being ``real-vs-real``; metric columns and
        optionally their ``{metric}_ci_low``/``{metric}_ci_high`` intervals.

    Returns
    -------
    pandas.DataFrame
        Booleans with ``frame``'s index and one column per metric that has a direction (registry
        ``worse``) and a floor value; ``False`` where the row has no value, and on the floor row.

    Examples
    --------
    >>> frame = pd.DataFrame({"source": ["a", "b", "real-vs-real"], "fid": [1.5, 2.0, 1.0],
    ...                       "fid_ci_low": [1.1, 1.6, 0.8], "fid_ci_high": [1.9, 2.4, 1.2]})
    >>> within_floor(frame)["fid"].tolist()      # [1.1, 1.9] overlaps [0.8, 1.2]; [1.6, 2.4] does not
    [True, False, False]
    """
    floor = floor_row(frame)
    out = pd.DataFrame(index=frame.index)
    if floor is None:
        return out
    is_floor = (frame["source"] == REAL_VS_REAL).to_numpy()
    for metric in metric_names():
        if metric not in frame.columns:
            continue
        worse = get_spec(metric).worse
        f = pd.to_numeric(pd.Series([floor[metric]]), errors="coerce").iloc[0]
        if worse is None or not np.isfinite(f):
            continue
        v = pd.to_numeric(frame[metric], errors="coerce").to_numpy(float)
        mark = np.array([np.isfinite(x) and _good_side(x, f, worse) for x in v])
        lo, hi = interval_columns(metric)
        if lo in frame.columns and hi in frame.columns and np.isfinite([floor[lo], floor[hi]]).all():
            rlo = pd.to_numeric(frame[lo], errors="coerce").to_numpy(float)
            rhi = pd.to_numeric(frame[hi], errors="coerce").to_numpy(float)
            with np.errstate(invalid="ignore"):
                mark |= np.isfinite(rlo) & np.isfinite(rhi) & (rlo <= float(floor[hi])) & (float(floor[lo]) <= rhi)
        out[metric] = mark & ~is_floor
    return out
