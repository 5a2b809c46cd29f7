"""The conditional flags: ``condition_ignored``, ``class_collapse``, ``class_dropping`` (docs/contract.md section 6).

With the thresholds of :class:`ConditionalThresholds` (defaults in brackets):

* ``condition_ignored``: the output does not depend on the condition. Class-conditional: the
  permutation test of independence of requested and assigned class
  (:func:`gandiag.conditional.independence_pvalue`) does not reject at ``significance`` [0.01], or
  both the accuracy and the best relabelling's accuracy are within ``chance_margin`` [0.05] of
  chance (an output that a large n makes "significantly" dependent but that no relabelling
  predicts). Labels shifted by one (asked for 4, draws 5) depend on the label perfectly: their
  accuracy is near 0 but MI near log K, so they are *class confusion*, not this flag. Translation:
  the distance-correlation permutation test of x and G(x) does not reject at ``significance``.
* ``class_collapse``: a class's ``intra_mode_spread`` is under ``min_spread`` [0.5], or its
  ``coverage`` (where features exist) is under ``coverage_ratio`` [0.5] x the median coverage of
  the classes while the class *is* produced (its accuracy at least ``coverage_ratio`` x the median
  accuracy; a class that never comes out is dropping or confusion, not collapse): the class's
  variety collapsed while the others are fine.
* ``class_dropping``: a class is never requested (a sample file without that label), *missing*
  from the output (no high-quality output is assigned to it, whatever was requested) or *starved*
  (its output share under ``starved_ratio`` [1/4] x its reference share). As for the mode flags,
  a significance guard (``significance`` / K, one-sided binomial: :func:`gandiag.modes.dropped_modes`)
  keeps a class that a perfect generator would leave empty by chance at small n from counting.

Evidence names the classes: ``class_collapse: class 2 intra_mode_spread 0 < 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import GandiagInputError
from ..modes import FlagThresholds, dropped_modes
from ..modes.flags import check_non_negative, listed

__all__ = ["CONDITIONAL_FLAGS", "ConditionalFlags", "ConditionalThresholds", "class_flags", "translation_flags"]

#: The conditional flags, in report order.
CONDITIONAL_FLAGS: tuple[str, ...] = ("condition_ignored", "class_collapse", "class_dropping")


@dataclass(frozen=True)
class ConditionalThresholds:
    """Thresholds of the conditional flags (module docstring)."""

    significance: float = 0.01
    chance_margin: float = 0.05
    min_spread: float = 0.5
    coverage_ratio: float = 0.5
    starved_ratio: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.significance < 1.0:
            raise GandiagInputError(f"conditional threshold significance must be in (0, 1), got {self.significance!r}")
        check_non_negative(self, ("chance_margin", "min_spread", "coverage_ratio", "starved_ratio"),
                           "conditional threshold")


@dataclass(frozen=True)
class ConditionalFlags:
    """Each conditional flag's evidence clause when raised, ``None`` when not; ``classes``: the
    classes named by each raised class flag."""

    clauses: Mapping[str, str | None] = field(default_factory=dict)
    classes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def raised(self, flag: str) -> bool:
        """Whether ``flag`` is raised."""
        if flag not in CONDITIONAL_FLAGS:
            raise KeyError(f"unknown conditional flag {flag!r}; flags are {', '.join(CONDITIONAL_FLAGS)}")
        return self.clauses.get(flag) is not None

    @property
    def evidence(self) -> str:
        """The raised flags' clauses, ``"; "``-separated."""
        return "; ".join(c for c in (self.clauses.get(f) for f in CONDITIONAL_FLAGS) if c is not None)

    def as_columns(self) -> dict[str, Any]:
        """The flags as report columns (bools; ``NA`` for a flag that does not apply)."""
        return {f: (self.clauses[f] is not None) if f in self.clauses else pd.NA for f in CONDITIONAL_FLAGS}


def _ignored_clause(accuracy: float, relabelled: float, chance: float, mi: float, pvalue: float,
                    t: ConditionalThresholds) -> str | None:
    if pvalue > t.significance:
        return (f"condition_ignored: independence of requested and assigned class not rejected "
                f"(label_mi {mi:.3g} nats, permutation p = {pvalue:.3g} > {t.significance:g})")
    if abs(accuracy - chance) <= t.chance_margin and abs(relabelled - chance) <= t.chance_margin:
        return (f"condition_ignored: label_accuracy {accuracy:.3g} and best relabelling {relabelled:.3g} within "
                f"{t.chance_margin:g} of chance {chance:.3g}")
    return None


def _collapse_clause(table: pd.DataFrame, t: ConditionalThresholds) -> tuple[str | None, tuple[int, ...]]:
    spread = np.asarray(table["intra_mode_spread"], dtype=np.float64)
    parts, named = [], []
    for c in np.flatnonzero(np.isfinite(spread) & (spread < t.min_spread)):
        parts.append(f"class {int(table['class'].iloc[c])} intra_mode_spread {spread[c]:.3g} < {t.min_spread:g}")
        named.append(int(table["class"].iloc[c]))
    coverage = np.asarray(table["coverage"], dtype=np.float64)
    accuracy = np.nan_to_num(np.asarray(table["accuracy"], dtype=np.float64))
    produced = accuracy >= max(t.coverage_ratio * float(np.median(accuracy)), 1e-12)  # else confusion or dropping
    if np.isfinite(coverage).sum() >= 2:
        median = float(np.nanmedian(coverage))
        for c in np.flatnonzero(np.isfinite(coverage) & produced & (coverage < t.coverage_ratio * median)):
            cls = int(table["class"].iloc[c])
            parts.append(f"class {cls} coverage {coverage[c]:.3g} < {t.coverage_ratio:g} x median {median:.3g}")
            named.append(cls)
    named = sorted(set(named))
    return ("class_collapse: " + listed(parts) if parts else None), tuple(named)


def _dropping_clause(table: pd.DataFrame, hq_counts: np.ndarray, n: int, reference_count: int,
                     reference_hq_fraction: float, t: ConditionalThresholds) -> tuple[str | None, tuple[int, ...]]:
    shares = np.asarray(table["output_share"], dtype=np.float64)
    ref = np.asarray(table["reference_share"], dtype=np.float64)
    ref = np.where(ref > 0, ref, 0.5 / max(reference_count, 1))  # a class the reference sample lacks: KT pseudo-count
    metrics = {"mode_shares": shares, "reference_shares": ref / ref.sum(), "mode_hq_counts": hq_counts, "n": n,
               "mode_counts": np.round(shares * n),
               "reference_hq_fraction": reference_hq_fraction, "reference_count": float(reference_count)}
    missing, starved = dropped_modes(metrics, FlagThresholds(starved_ratio=t.starved_ratio,
                                                             significance=t.significance))
    never = np.asarray(table["n"]) == 0
    parts = []
    if never.any():
        parts.append(f"never requested: class {listed([str(c) for c in np.flatnonzero(never)])}")
    if missing.any():
        parts.append(f"no high-quality output: class {listed([str(c) for c in np.flatnonzero(missing)])}")
    if starved.any():
        detail = listed([f"{c}: {shares[c]:.3g} vs reference {ref[c]:.3g}" for c in np.flatnonzero(starved)])
        parts.append(f"starved, output share under {t.starved_ratio:g} x reference ({detail})")
    named = tuple(int(c) for c in np.flatnonzero(never | missing | starved))
    return ("class_dropping: " + "; ".join(parts) if parts else None), named


def class_flags(table: pd.DataFrame, *, accuracy: float, relabelled: float, chance: float, mi: float, pvalue: float,
                hq_counts: Any, n: int, reference_count: int, reference_hq_fraction: float,
                thresholds: ConditionalThresholds | None = None) -> ConditionalFlags:
    """The three flags of a class-conditional generator from its per-class table and label statistics.

    ``hq_counts``: high-quality outputs per *assigned* class (length K); ``n``: outputs;
    ``reference_count``/``reference_hq_fraction``: the labelled reference sample's size and
    high-quality share (for the significance guard of ``class_dropping``).
    """
    t = thresholds or ConditionalThresholds()
    collapse, collapsed = _collapse_clause(table, t)
    dropping, dropped = _dropping_clause(table, np.asarray(hq_counts, dtype=np.float64), int(n), int(reference_count),
                                         float(reference_hq_fraction), t)
    clauses = {"condition_ignored": _ignored_clause(accuracy, relabelled, chance, mi, pvalue, t),
               "class_collapse": collapse, "class_dropping": dropping}
    return ConditionalFlags(clauses, {"class_collapse": collapsed, "class_dropping": dropped})


def translation_flags(dependence: float, pvalue: float, thresholds: ConditionalThresholds | None = None
                      ) -> ConditionalFlags:
    """``condition_ignored`` for a translation generator (the class flags do not apply: absent)."""
    t = thresholds or ConditionalThresholds()
    clause = None
    if not pvalue <= t.significance:
        clause = (f"condition_ignored: G(x) independent of x not rejected (input_dependence {dependence:.3g}, "
                  f"permutation p = {pvalue:.3g} > {t.significance:g})")
    return ConditionalFlags({"condition_ignored": clause})
