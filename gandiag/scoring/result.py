"""One scored row as data: the typed result a :class:`gandiag.scoring.Scorer` produces.

Inside gandiag a row travels as a :class:`ScoreResult`: its column values, its flags as a
:class:`gandiag.modes.FlagResult` (the gate reads the raised flags and their evidence clauses
from it, never from the text), its per-mode data as a :class:`gandiag.modes.ModeDetails`, and a
few generated samples for the report's plots. At the edges it becomes the contract's
``pandas.Series`` (:meth:`ScoreResult.to_series`, docs/contract.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..conditional import ConditionalResult
from ..modes import FlagResult, ModeDetails
from ..schema import CONDITIONAL_FLAG_NAMES, FLAG_NAMES, REPORT_COLUMNS

__all__ = ["ScoreResult"]


@dataclass
class ScoreResult:
    """One row: ``values`` (metric, flag, interval and ``notes`` columns), ``flags``, ``modes``, ``samples``;
    for a conditional generator ``conditional`` (its flags, confusion matrix and per-class table) and, for a
    class-conditional one, ``sample_labels`` (the class requested for each of ``samples``, for the report's
    per-class plots)."""

    source: str
    step: int | None
    n: int
    seed: int
    values: dict[str, Any]
    flags: FlagResult | None = None
    modes: ModeDetails | None = None
    samples: np.ndarray | None = field(default=None, repr=False)
    conditional: ConditionalResult | None = field(default=None, repr=False)
    sample_labels: np.ndarray | None = field(default=None, repr=False)  # requested class of each of ``samples``

    @property
    def classes(self) -> pd.DataFrame | None:
        """The per-class table (``classes.csv``: one row per class) of a class-conditional generator, else ``None``."""
        return None if self.conditional is None else self.conditional.classes

    @property
    def confusion(self) -> np.ndarray | None:
        """K x K counts, rows the requested class, columns the assigned one; ``None`` when not class-conditional."""
        return None if self.conditional is None else self.conditional.confusion

    def flag(self, name: str) -> bool | None:
        """Whether flag ``name`` is raised; ``None`` when the flags were not computed."""
        if name in CONDITIONAL_FLAG_NAMES:
            if self.conditional is None or name not in self.conditional.flags.clauses:
                return None
            return self.conditional.flags.raised(name)
        if name not in FLAG_NAMES:
            raise KeyError(f"unknown flag {name!r}; flags are {', '.join(FLAG_NAMES + CONDITIONAL_FLAG_NAMES)}")
        return None if self.flags is None else self.flags.raised(name)

    def to_series(self, **extra: Any) -> pd.Series:
        """The contract's row: ``source``, ``step``, ``n``, ``seed``, the columns of docs/contract.md
        section 5 in order, then intervals and ``notes``, then ``extra`` columns (the audit's ``run``
        and ``error``: given here, since adding labels to a Series one by one copies it each time).
        ``attrs`` carries the per-mode shares and counts and a few samples, for users of earlier versions."""
        head = {"source": self.source, "step": self.step, "n": self.n, "seed": self.seed}
        first = [c for c in REPORT_COLUMNS if c in self.values]
        ordered = {**{c: self.values[c] for c in first}, **{c: v for c, v in self.values.items() if c not in first}}
        series = pd.Series({**head, **ordered, **extra}, name=self.source, dtype=object)
        if self.modes is not None:
            m = self.modes
            series.attrs.update(mode_shares=m.shares, reference_shares=m.reference_shares, mode_counts=m.counts,
                                mode_hq_counts=m.hq_counts, reference_hq_fraction=m.reference_hq_fraction,
                                mode_label=m.label)
        if self.samples is not None:
            series.attrs["samples"] = self.samples
        if self.classes is not None:
            series.attrs.update(classes=self.classes, confusion=self.confusion)
        return series
