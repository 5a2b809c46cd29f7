"""An audit that grows one checkpoint at a time: the engine of ``gandiag watch`` and :class:`gandiag.Monitor`.

:class:`LiveAudit` holds the rows scored so far (each scored once, by one
:class:`gandiag.scoring.Scorer`, and kept in the result store when there is one), rebuilds the
:class:`Report` from them after each checkpoint (table, run findings, plots: nothing is scored
again) and says when something happened:

* a flag's onset is **confirmed** when the flag is raised on ``confirm`` consecutive scored
  checkpoints (default 2: one noisy checkpoint is not an alert); it is announced once per onset,
  and again if the flag clears and comes back;
* **mode hopping** is announced when the run findings first report it
  (:func:`gandiag.modes.analyze_run`);
* **stop rules** (``exit_on``, the gate's checks: a flag name, or a bound ``METRIC.max=V`` /
  ``METRIC.min=V`` as in the gate's ``[gate.metrics.METRIC]`` table) are confirmed the same way,
  and :attr:`LiveAudit.stop` names the first one that was.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import GandiagInputError
from ..gate.checks import evaluate
from ..gate.config import GateConfig, parse_config
from ..schema import ALL_FLAG_NAMES, FLAG_NAMES
from ..scoring import Scorer, ScoreResult
from .best import DEFAULT_METRICS
from .report import Report
from .runner import _Row, _scored, build_report

__all__ = ["Alert", "LiveAudit", "parse_exit_on", "summary_line"]


def parse_exit_on(rules: Sequence[str], reference: str) -> GateConfig | None:
    """``--exit-on`` rules as a gate configuration: ``FLAG``, ``any`` (every flag), ``METRIC.max=V``
    or ``METRIC.min=V`` (the gate's ``[gate.metrics.METRIC]`` keys); ``None`` for no rule."""
    if not rules:
        return None
    flags: list[str] = []
    metrics: dict[str, dict[str, float]] = {}
    for rule in rules:
        text = rule.strip()
        if text == "any":
            flags += list(FLAG_NAMES)
        elif "=" in text:
            name, _, value = text.partition("=")
            metric, _, bound = name.strip().rpartition(".")
            if not metric or bound not in ("min", "max"):
                raise GandiagInputError(f"--exit-on {rule!r}: a bound is METRIC.max=VALUE or METRIC.min=VALUE "
                                        "(e.g. fid.max=20)")
            try:
                metrics.setdefault(metric, {})[bound] = float(value)
            except ValueError:
                raise GandiagInputError(f"--exit-on {rule!r}: {value!r} is not a number") from None
        else:
            flags.append(text)
    return parse_config({"reference": reference, "flags": list(dict.fromkeys(flags)), "metrics": metrics},
                        where="--exit-on", prefix="exit-on")


@dataclass(frozen=True)
class Alert:
    """Something confirmed at ``step``: ``kind`` is ``flag``, ``hopping`` or ``stop``."""

    kind: str
    name: str
    step: int | None
    since: int | None
    message: str

    def line(self) -> str:
        return f"ALERT step {self.step}: {self.message}"


def _where(step: int | None) -> str:
    return "?" if step is None else str(step)


@dataclass
class LiveAudit:
    """Rows added one checkpoint at a time; see the module docstring.

    ``run``: the name of the run in the report (the ``run`` column); ``out``: the report folder,
    rewritten after every :meth:`add` (``None``: not written); ``keep``: entries of ``out`` that
    travel with it (the result store).
    """

    scorer: Scorer
    run: str
    out: Path | None = None
    confirm: int = 2
    exit_on: GateConfig | None = None
    plots: bool = True
    keep: tuple[str, ...] = ()
    floor: ScoreResult | None = None
    rows: list[_Row] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    stop: Alert | None = None
    _streaks: dict[str, list[int | None]] = field(default_factory=dict)
    _hopping: bool = False
    _latest: Report | None = None

    def __post_init__(self) -> None:
        if isinstance(self.confirm, bool) or not isinstance(self.confirm, int) or self.confirm < 1:
            raise GandiagInputError(f"--confirm: need an integer >= 1, got {self.confirm!r}")

    # -- rows ------------------------------------------------------------------------------
    def add(self, result: ScoreResult, *, save: bool = True) -> list[Alert]:
        """Add a scored checkpoint (in step order), return the new alerts; rewrite the report in
        ``out`` unless ``save=False`` (then :meth:`save` writes it, e.g. once per batch)."""
        self.rows.append(_scored(result, self.run))
        new = self._flag_alerts(result) + self._stop_alerts(result)
        report = self.report()
        findings = report.findings.get(self.run)
        if findings is not None and findings.mode_hopping and not self._hopping:
            self._hopping = True
            hop = findings.hops[0] if findings.hops else None
            new.append(Alert("hopping", "mode_hopping", result.step, getattr(hop, "step", None),
                             f"mode hopping: the dominant mode changed {len(findings.hops)} time(s) "
                             f"({'; '.join(str(h) for h in findings.hops[:3])})"))
        self.alerts += new
        self._latest = report
        if save:
            self.save()
        return new

    def save(self) -> None:
        """Write the report of the rows so far into ``out`` (nothing when ``out`` is None)."""
        if self.out is not None and (self.rows or self.floor is not None):
            report = self._latest if self._latest is not None and len(self._latest.frame) == self._size() else self.report()
            report.save(self.out, plots=self.plots, keep=self.keep)

    def _size(self) -> int:
        return len(self.rows) + (self.floor is not None)

    def _confirmed(self, name: str, active: bool, step: int | None) -> int | None:
        """Track a condition's run of consecutive checkpoints; the onset step when it reaches ``confirm``."""
        streak = self._streaks.setdefault(name, [])
        if not active:
            streak.clear()
            return None
        streak.append(step)
        return streak[0] if len(streak) == self.confirm else None

    def _flag_alerts(self, result: ScoreResult) -> list[Alert]:
        out = []
        for flag in ALL_FLAG_NAMES:  # the conditional flags of a conditional generator too
            raised = bool(result.flag(flag))
            since = self._confirmed(f"flag:{flag}", raised, result.step)
            if since is not None:
                if flag in FLAG_NAMES:
                    clause = result.flags.clause(flag) if result.flags is not None else flag
                else:  # raised: the row has its conditional result
                    clause = result.conditional.flags.clauses.get(flag) or flag
                out.append(Alert("flag", flag, result.step, since,
                                 f"{flag} confirmed ({self._times()} since step {_where(since)}): {clause}"))
        return out

    def _times(self) -> str:
        return "1 checkpoint" if self.confirm == 1 else f"{self.confirm} consecutive checkpoints"

    def _stop_alerts(self, result: ScoreResult) -> list[Alert]:
        if self.exit_on is None:
            return []
        out = []
        for check in evaluate(self.exit_on, result):
            since = self._confirmed(f"stop:{check.name}", check.failed, result.step)
            if since is not None:
                alert = Alert("stop", check.name, result.step, since,
                              f"stop rule {check.name} failed ({self._times()} since step {_where(since)}): "
                              f"{check.message}")
                out.append(alert)
                self.stop = self.stop or alert
        return out

    # -- report ----------------------------------------------------------------------------
    def report(self) -> Report:
        """The report of the rows so far (and the real-vs-real row, when given)."""
        rows = self.rows + ([_scored(self.floor, "")] if self.floor is not None else [])
        if not rows:
            raise GandiagInputError("no checkpoint has been scored yet")
        return build_report(rows, self.scorer)


def summary_line(result: ScoreResult, metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """One line for a scored checkpoint: step, source, the first few metrics that have a value, flags."""
    shown = []
    for name in ("modes_captured", "hq_fraction", *metrics):
        value = result.values.get(name)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value and len(shown) < 4:
            shown.append(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {int(value)}")
    raised = [f for f in ALL_FLAG_NAMES if result.flag(f)]
    return (f"step {_where(result.step):>8}  {Path(str(result.source)).name}  " + "  ".join(shown)
            + f"  flags: {', '.join(raised) or 'none'}")

