"""Evaluating a gate: score the candidate (and the baseline) once, then judge every check.

One :class:`gandiag.scoring.Scorer` scores both sources, so they are compared on the same
reference sample, ``n``, seed and intervals (``resamples`` half-size subsamples, 95%). A folder
SOURCE is gated on its last checkpoint (in :func:`gandiag.load_generator`'s run order: by the
step in the file name), as ``gandiag sample`` does. Checks, in
this order, each named ``KIND:NAME``:

* ``min:M`` passes when value >= min; ``max:M`` when value <= max. Bounds are absolute: they are
  judged on the value at the configured n; the interval (when ``resamples`` > 0) is shown, not
  used. A NaN value (metric not computable, e.g. ``intra_mode_spread`` with no captured mode)
  fails.
* ``flag:F`` passes when flag F is false; a failure quotes the flag's evidence.
* ``baseline:M``, the **baseline rule**, for each metric with a ``margin``, and only for metrics
  whose interval the calibration benchmark found trustworthy
  (:attr:`gandiag.metrics.registry.MetricSpec.trusted_interval`: 95% intervals holding the
  value at full n at least 90% of the time, ``reports/calibration.md``; a margin on another
  metric is a configuration error naming it). It compares the two 95% intervals (``resamples``
  half-size subsamples of each side, FID by bootstrap, each centred on the full-n value with
  the resamples' spread carried to full n: :mod:`gandiag.metrics.intervals`), so the
  candidate must be worse by more than both noises. Put each interval on a scale
  where larger is worse (:data:`gandiag.gate.config.WORSE`), as (best, worst) ends:
  [low, high] -> (low, high) where higher is worse, (-high, -low) where lower is worse, and for
  ``intra_mode_spread`` the distance |v - 1|: (0 if the interval holds 1, else the nearer end's
  distance; the farther end's distance). Then::

      fail  when  best(candidate) - worst(baseline) > margin

  i.e. when the candidate's whole interval lies on the worse side of the baseline's whole
  interval, more than ``margin`` beyond it. Concretely: higher is worse,
  ``ci_low(candidate) - ci_high(baseline) > margin``; lower is worse,
  ``ci_low(baseline) - ci_high(candidate) > margin``. For intervals of half-widths h_c, h_b
  centred on c_c, c_b this is "c_c is worse than c_b by more than margin + h_c + h_b": the
  candidate must be worse by more than the margin *and* by more than the noise both intervals
  show. Adding the half-widths (rather than taking the root of their summed squares, the
  half-width of a difference of independent estimates) makes the rule conservative, so a
  failure is a regression beyond the noise. Without a baseline these checks are skipped (status
  ``skip``), which is not a failure; a missing or NaN interval on either side fails.

The gate passes when no check fails.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..defaults import DEFAULTS
from ..errors import GandiagInputError
from ..modes.flags import FlagResult
from ..schema import CONDITIONAL_FLAG_NAMES, FLAG_NAMES, evidence_clauses
from ..scoring.result import ScoreResult
from .config import WORSE, GateConfig, MetricRule

__all__ = ["Check", "GateResult", "evaluate", "fmt", "load_source", "run_gate"]

PASS, FAIL, SKIP = "pass", "fail", "skip"


def fmt(value: Any) -> str:
    """A number for people: 4 significant digits, integers as integers, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "nan"
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.4g}"


@dataclass(frozen=True)
class Check:
    """One judged check: its name (``KIND:NAME``), status (pass/fail/skip), the numbers and a message."""

    name: str
    status: str
    value: Any = None
    bound: str = ""
    interval: tuple[float, float] | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    @property
    def interval_text(self) -> str:
        return _text(self.interval)


@dataclass
class GateResult:
    """The checks of one gated source; ``passed`` when none failed."""

    source: str
    checks: list[Check]
    config: GateConfig
    baseline: str | None = None
    seconds: float = 0.0
    row: Any = field(default=None, repr=False)
    baseline_row: Any = field(default=None, repr=False)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary_line(self) -> str:
        """``PASS: 5 checks (1 skipped)`` or ``FAIL: 2 of 5 checks failed``."""
        skipped = sum(c.status == SKIP for c in self.checks)
        extra = f" ({skipped} skipped)" if skipped else ""
        if self.passed:
            return f"PASS: {len(self.checks)} checks{extra}"
        return f"FAIL: {len(self.failures)} of {len(self.checks)} checks failed{extra}"

    def failure_report(self) -> str:
        """Every failed check with its numbers, one per line, under a heading naming the source."""
        against = f" against baseline {self.baseline}" if self.baseline else ""
        lines = [f"gandiag gate {self.summary_line()} for {self.source}{against} ({self.config.origin})"]
        lines += [f"  {c.name}: {c.message}" for c in self.failures]
        return "\n".join(lines)


def _value(row: Mapping[str, Any], name: str) -> float:
    value = row.get(name) if row is not None else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _interval(row: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    low, high = _value(row, f"{metric}_ci_low"), _value(row, f"{metric}_ci_high")
    return None if math.isnan(low) and math.isnan(high) else (low, high)


def _text(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def _bound_checks(rule: MetricRule, row: Mapping[str, Any]) -> list[Check]:
    value, interval, out = _value(row, rule.metric), _interval(row, rule.metric), []
    for kind, limit in (("min", rule.min), ("max", rule.max)):
        if limit is None:
            continue
        sign, broke = (">=", "<") if kind == "min" else ("<=", ">")
        ok = value >= limit if kind == "min" else value <= limit  # NaN compares False: fails
        if math.isnan(value):
            message = f"{rule.metric} is NaN (not computed; see the row's notes), needs {sign} {fmt(limit)}"
        else:
            message = f"{rule.metric} = {fmt(value)} {sign if ok else broke} {kind} {fmt(limit)}"
        status = PASS if ok else FAIL
        out.append(Check(f"{kind}:{rule.metric}", status, value, f"{sign} {fmt(limit)}", interval, message))
    return out


def _flags_of_mapping(row: Mapping[str, Any]) -> FlagResult | None:
    """Flags of a plain mapping (a user's row): the booleans, each raised flag's clause from ``evidence``.

    Only for rows handed to :func:`evaluate` as mappings; the gate's own rows carry their
    :class:`gandiag.modes.FlagResult`.
    """
    raw = {f: row.get(f) for f in FLAG_NAMES}
    if not all(isinstance(v, (bool, np.bool_)) for v in raw.values()):
        return None  # pd.NA / None: the mode metrics were not computed
    clauses = evidence_clauses(row.get("evidence", ""))
    return FlagResult({f: clauses.get(f, f"{f}: raised") if bool(v) else None for f, v in raw.items()})


def _conditional_flag_check(flag: str, row: Mapping[str, Any], conditional: Any) -> Check:
    """A conditional flag, from the row's typed conditional result or (a user's mapping) its column."""
    if conditional is not None and flag in conditional.flags.clauses:
        raised, clause = conditional.flags.raised(flag), conditional.flags.clauses[flag]
    elif isinstance(row.get(flag), (bool, np.bool_)):
        raised = bool(row[flag])
        clause = evidence_clauses(row.get("evidence", "")).get(flag, f"{flag}: raised")
    else:
        return Check(f"flag:{flag}", FAIL, None, "false", None, f"{flag} was not computed (not a conditional generator)")
    if not raised:
        return Check(f"flag:{flag}", PASS, False, "false", None, f"{flag} is false")
    return Check(f"flag:{flag}", FAIL, True, "false", None, f"flag raised: {clause}")


def _flag_check(flag: str, flags: FlagResult | None) -> Check:
    if flags is None:
        return Check(f"flag:{flag}", FAIL, None, "false", None, f"{flag} was not computed")
    if not flags.raised(flag):
        return Check(f"flag:{flag}", PASS, False, "false", None, f"{flag} is false")
    return Check(f"flag:{flag}", FAIL, True, "false", None, f"flag raised: {flags.clause(flag)}")


def badness_range(metric: str, interval: tuple[float, float]) -> tuple[float, float]:
    """(best, worst) of an interval [low, high] on the scale where larger is worse.

    Higher is worse: (low, high); lower is worse: (-high, -low); distance from 1 (``|v - 1|``):
    (0 when the interval holds 1, else the nearer end's distance; the farther end's distance).
    """
    low, high = interval
    kind = WORSE[metric]
    if kind == "higher":
        return low, high
    if kind == "lower":
        return -high, -low
    near = 0.0 if low <= 1.0 <= high else min(abs(low - 1.0), abs(high - 1.0))
    return near, max(abs(low - 1.0), abs(high - 1.0))


def _baseline_bound(metric: str, limit: float) -> str:
    """The limit on the candidate's interval, in the metric's own terms."""
    kind = WORSE[metric]
    if kind == "higher":
        return f"ci_low <= {fmt(limit)}"
    if kind == "lower":
        return f"ci_high >= {fmt(-limit)}"
    return f"min |ci - 1| <= {fmt(limit)}"


def _baseline_check(rule: MetricRule, row: Mapping[str, Any], base: Mapping[str, Any] | None) -> Check:
    m, margin = rule.metric, float(rule.margin or 0.0)
    name, value, interval = f"baseline:{m}", _value(row, m), _interval(row, m)
    if base is None:
        return Check(name, SKIP, value, f"margin {fmt(margin)}", interval, "no baseline given (--baseline)")
    ref, ref_interval = _value(base, m), _interval(base, m)
    ends = [*(interval or (math.nan, math.nan)), *(ref_interval or (math.nan, math.nan))]
    if any(math.isnan(x) for x in ends):
        return Check(name, FAIL, value, f"margin {fmt(margin)}", interval,
                     f"cannot compare {m}: an interval is missing or NaN (candidate {_text(interval)}, "
                     f"baseline {_text(ref_interval)}; resamples >= 2 and both values computable are needed)")
    best, _ = badness_range(m, interval)
    _, worst_ref = badness_range(m, ref_interval)
    gap = best - worst_ref  # > 0: the candidate's whole interval is worse than the baseline's
    bound = f"{_baseline_bound(m, worst_ref + margin)} (baseline {_text(ref_interval)})"
    values = f"(values {fmt(value)} vs {fmt(ref)})"
    if gap > margin:
        return Check(name, FAIL, value, bound, interval, f"{m} interval {_text(interval)} is worse than baseline "
                     f"interval {_text(ref_interval)} by {fmt(gap)} > margin {fmt(margin)} {values}")
    apart = "overlaps" if gap <= 0 else f"is worse by {fmt(gap)} <= margin {fmt(margin)} than"
    return Check(name, PASS, value, bound, interval,
                 f"{m} interval {_text(interval)} {apart} baseline interval {_text(ref_interval)} {values}")


def evaluate(config: GateConfig, row: ScoreResult | Mapping[str, Any],
             baseline_row: ScoreResult | Mapping[str, Any] | None = None) -> list[Check]:
    """Judge every check of ``config`` on a score row (and the baseline's row), in the documented order.

    Rows are :class:`gandiag.scoring.ScoreResult` (flags read from its typed ``flags``) or plain
    mappings of report columns.
    """
    conditional = None
    if isinstance(row, ScoreResult):
        flags, conditional, row = row.flags, row.conditional, row.to_series()
    else:
        flags = _flags_of_mapping(row)
    if isinstance(baseline_row, ScoreResult):
        baseline_row = baseline_row.to_series()
    checks = [c for rule in config.metrics for c in _bound_checks(rule, row)]
    checks += [_conditional_flag_check(flag, row, conditional) if flag in CONDITIONAL_FLAG_NAMES
               else _flag_check(flag, flags) for flag in config.flags]
    checks += [_baseline_check(rule, row, baseline_row) for rule in config.metrics if rule.margin is not None]
    return checks


def load_source(source: str | Path, config: GateConfig, *, device: str = "cpu", allow_torchscript: bool = False,
                timeout: float | None = DEFAULTS["timeout"]) -> Any:
    """The generator to gate in ``source``: a file, a folder's last checkpoint, or a network or samples in memory.

    TorchScript archives load only with ``allow_torchscript=True`` (it runs code from the file);
    loading and sampling each take at most ``timeout`` seconds (:mod:`gandiag.timeouts`).
    """
    from ..loading import Run, load_generator

    gen = load_generator(source, latent=config.latent, latent_dim=config.latent_dim, device=device,
                         allow_torchscript=allow_torchscript, timeout=timeout)
    if isinstance(gen, Run):
        gen = gen.load(len(gen) - 1)
    return gen


def run_gate(source: str | Path, config: GateConfig, baseline: str | Path | None = None, *,
             device: str = "cpu", allow_torchscript: bool = False, timeout: float | None = DEFAULTS["timeout"]) -> GateResult:
    """Score ``source`` (and ``baseline``) with one scorer and evaluate ``config``'s checks.

    Raises :class:`GandiagInputError` for sources that cannot be loaded or sampled, and when a
    ``baseline`` is given to a configuration with no ``margin`` (nothing would use it).
    """
    from ..scoring import Scorer

    start = time.perf_counter()
    if baseline is not None and not config.has_baseline_rules:
        raise GandiagInputError(f"--baseline {baseline}: {config.origin} sets no metric margin, so the baseline "
                                "would not be used; add e.g. margin = 0.01 to a [metrics.NAME] table")
    gen = load_source(source, config, device=device, allow_torchscript=allow_torchscript, timeout=timeout)
    base_gen = (load_source(baseline, config, device=device, allow_torchscript=allow_torchscript, timeout=timeout)
                if baseline is not None else None)
    try:
        scorer = Scorer(config.reference, n=config.n, seed=config.seed, metrics=list(config.scored_metrics),
                        resamples=config.resamples, thresholds=config.thresholds,
                        conditional_thresholds=config.conditional_thresholds)
    except GandiagInputError as exc:  # e.g. an unknown reference, FID on images without Inception weights
        raise GandiagInputError(f"{config.origin}: {exc}") from None
    result = scorer.score(gen)
    base_result = scorer.score(base_gen) if base_gen is not None else None
    row, base_row = result.to_series(), (base_result.to_series() if base_result is not None else None)
    return GateResult(source=str(gen.source), checks=evaluate(config, result, base_result), config=config,
                      baseline=None if base_gen is None else str(base_gen.source),
                      seconds=time.perf_counter() - start, row=row, baseline_row=base_row)
