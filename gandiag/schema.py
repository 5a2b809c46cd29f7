"""The report row as code (docs/contract.md sections 5 and 6): every module imports its names from here.

A score row is ``source``, ``step``, ``n``, ``seed`` (:data:`HEAD_COLUMNS`), the metric columns of
the four families (:data:`METRIC_COLUMNS`), the flags and ``evidence`` (:data:`FLAG_COLUMNS`),
then any ``{metric}_ci_low``/``{metric}_ci_high`` interval columns (:func:`interval_columns`)
and, in an audit, ``run``, ``error`` and ``notes`` (:data:`TAIL_COLUMNS`). The real-vs-real row
(the floor a perfect generator reaches) has ``source`` = :data:`REAL_VS_REAL`.

What each metric *is* (family, direction, interval, label) is registered once in
:mod:`gandiag.metrics.registry`, which checks at import that it registers exactly these columns.
"""

from __future__ import annotations

import re

__all__ = [
    "ALL_FLAG_NAMES", "CI_HIGH", "CI_LOW", "CLASS_CONDITIONAL_COLUMNS", "CONDITIONAL_COLUMNS", "CONDITIONAL_FLAG_NAMES",
    "DEFAULT_N", "DIVERGENCE_COLUMNS", "FEATURE_COLUMNS", "FLAG_COLUMNS", "FLAG_NAMES",
    "HEAD_COLUMNS", "METRIC_COLUMNS", "MODE_COLUMNS", "NDB_COLUMNS", "REAL_VS_REAL", "REPORT_COLUMNS",
    "TAIL_COLUMNS", "TRANSLATION_COLUMNS", "UNTRUSTED_FLAGS", "evidence_clauses", "interval_columns", "metric_of_interval",
]

HEAD_COLUMNS: tuple[str, ...] = ("source", "step", "n", "seed")
DIVERGENCE_COLUMNS: tuple[str, ...] = ("js", "c2st_accuracy", "c2st_pvalue", "w1", "w2", "sliced_w", "sinkhorn")
FEATURE_COLUMNS: tuple[str, ...] = ("fid", "kid", "precision", "recall", "density", "coverage")
MODE_COLUMNS: tuple[str, ...] = ("modes_total", "modes_captured", "hq_fraction", "mode_kl", "effective_modes",
                                 "intra_mode_spread")
NDB_COLUMNS: tuple[str, ...] = ("ndb", "ndb_k")
#: The metric columns of docs/contract.md section 5, in report order.
METRIC_COLUMNS: tuple[str, ...] = (*DIVERGENCE_COLUMNS, *FEATURE_COLUMNS, *MODE_COLUMNS, *NDB_COLUMNS)
#: The flags of docs/contract.md section 6 (booleans).
FLAG_NAMES: tuple[str, ...] = ("mode_dropping", "mode_collapse", "low_quality")
FLAG_COLUMNS: tuple[str, ...] = (*FLAG_NAMES, "evidence")
#: Conditional generators (issue 13): class-conditional G(z, y) and translation G(x) columns, computed
#: only for such generators (absent from other rows), and their flags.
CLASS_CONDITIONAL_COLUMNS: tuple[str, ...] = ("label_accuracy", "label_mi", "label_mi_pvalue", "intra_class_fid")
TRANSLATION_COLUMNS: tuple[str, ...] = ("input_dependence", "input_dependence_pvalue", "output_diversity",
                                        "cycle_error", "map_accuracy")
CONDITIONAL_COLUMNS: tuple[str, ...] = (*CLASS_CONDITIONAL_COLUMNS, *TRANSLATION_COLUMNS)
CONDITIONAL_FLAG_NAMES: tuple[str, ...] = ("condition_ignored", "class_collapse", "class_dropping")
#: Every flag a row may carry: the mode flags, then the conditional ones.
ALL_FLAG_NAMES: tuple[str, ...] = (*FLAG_NAMES, *CONDITIONAL_FLAG_NAMES)
#: A score row's columns, in order, before intervals and the audit's tail.
REPORT_COLUMNS: tuple[str, ...] = (*HEAD_COLUMNS, *METRIC_COLUMNS, *FLAG_COLUMNS)
#: Columns an audit adds after the intervals.
TAIL_COLUMNS: tuple[str, ...] = ("run", "error", "notes")


def evidence_clauses(evidence: object) -> dict[str, str]:
    """``{flag: "flag: ..."}``: the clauses of an ``evidence`` cell, split at ``"; "`` only where the
    next clause begins with a flag's name (:data:`ALL_FLAG_NAMES`), so that a clause may itself hold
    ``"; "`` (``class_dropping: never requested: class 3; no high-quality output: class 5``).

    >>> evidence_clauses("mode_dropping: 2 of 8 modes missing (1, 5); class_dropping: a; b")
    {'mode_dropping': 'mode_dropping: 2 of 8 modes missing (1, 5)', 'class_dropping': 'class_dropping: a; b'}
    """
    text = "" if evidence is None else str(evidence)
    names = "|".join(ALL_FLAG_NAMES)
    parts = re.split(rf"; (?=(?:{names}):)", text) if text else []
    return {part.split(":", 1)[0]: part for part in (p.strip() for p in parts) if part.split(":", 1)[0] in ALL_FLAG_NAMES}


#: How a row's ``notes`` entry begins when n is too small for its flags to tell a dropped mode from
#: chance (:func:`gandiag.scoring.scorer.flags_trust_note`); summaries and ``gandiag score`` repeat it.
UNTRUSTED_FLAGS = "flags not to be trusted"
#: ``source`` of the real-vs-real row.
REAL_VS_REAL = "real-vs-real"
#: Samples per side when ``n`` is not given (a reference of stored samples: at most half of them).
DEFAULT_N = 10_000
CI_LOW, CI_HIGH = "_ci_low", "_ci_high"


def interval_columns(metric: str) -> tuple[str, str]:
    """``(f"{metric}_ci_low", f"{metric}_ci_high")``."""
    return f"{metric}{CI_LOW}", f"{metric}{CI_HIGH}"


def metric_of_interval(column: str) -> str | None:
    """The metric of an interval column (``"w1_ci_low"`` -> ``"w1"``), ``None`` for other columns."""
    for suffix in (CI_LOW, CI_HIGH):
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return None
