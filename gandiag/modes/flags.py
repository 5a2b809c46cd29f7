"""Flags for one checkpoint: mode dropping, mode collapse, low quality (docs/contract.md section 6).

Inputs are the mode metrics of :func:`gandiag.modes.mode_metrics` (true modes or NDB bins); with
p_k the generated share of mode k, q_k its reference share, h_k its high-quality sample count, n
the number of generated samples, M the number of modes and the thresholds of
:class:`FlagThresholds` (defaults in brackets):

* ``mode_dropping``: some mode k is *missing* (h_k = 0; VEEGAN, Srivastava et al. 2017, and PacGAN,
  Lin et al. 2018, count a mode as captured with one high-quality sample) or *starved*
  (p_k < ``starved_ratio`` [1/4] x q_k).
  Optional guard against sampling noise (``significance`` [None: off, the contract's literal
  rule; 0.05 is a sensible choice]): a mode is only
  counted when a perfect generator would show so little of it with probability under
  significance / M (one-sided, Bonferroni over the M modes): for a missing mode
  P(h_k = 0) = (1 - q_k r)^n with r the reference's hq_fraction; for a starved one
  P(X <= n p_k), X ~ Binomial(n, q_k). Where q was counted on N_r reference samples (NDB bins,
  ``digits``), the exact conditional test of two binomial proportions replaces these (see
  :func:`_deficit_pvalue`). At the literature's n = 2,500 on ``ring8``/``grid25``
  (100 or more expected samples per mode) this never changes the verdict; it keeps a mode that a
  perfect generator would leave empty by chance (``stacked-digits``' 1000 modes at n = 2,500,
  small NDB bins) from raising the flag. It is off by default because docs/contract.md section 6
  defines the flag without it: with the literal rule a *perfect* stacked-digits sample of 2,500
  raises ``mode_dropping`` (about 100 of its 1000 modes are empty by chance).
* ``mode_collapse``: ``intra_mode_spread`` < ``min_spread`` [0.5], or some mode holds more than
  ``dominant_share`` [1/2] of the generated samples while q_k < ``dominant_reference_max`` [1/4].
* ``low_quality``: ``hq_fraction`` < ``hq_ratio`` [1/2] x the reference's own hq_fraction.

``evidence`` is one line, ``"; "``-separated, one clause per raised flag naming the numbers, e.g.
``mode_dropping: 5 of 8 modes missing (2, 3, 5, 6, 7); mode_collapse: mode 1 holds 0.81 of
samples (reference 0.125)``; empty when no flag is raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import GandiagInputError
from ..schema import FLAG_COLUMNS, FLAG_NAMES

__all__ = ["FLAG_COLUMNS", "FlagResult", "FlagThresholds", "detect_flags", "dropped_modes", "evaluate_flags"]

_LISTED = 8  # modes named in the evidence before "+N more"


@dataclass(frozen=True)
class FlagThresholds:
    """Every threshold of the flags; the defaults are docs/contract.md section 6."""

    starved_ratio: float = 0.25
    min_spread: float = 0.5
    dominant_share: float = 0.5
    dominant_reference_max: float = 0.25
    hq_ratio: float = 0.5
    significance: float | None = None

    def __post_init__(self) -> None:
        for name in ("starved_ratio", "min_spread", "dominant_share", "dominant_reference_max", "hq_ratio"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise GandiagInputError(f"flag threshold {name} must be a non-negative number, got {value!r}")
        if self.significance is not None and not 0.0 < self.significance < 1.0:
            raise GandiagInputError(f"flag threshold significance must be in (0, 1) or None, got {self.significance!r}")


def _vector(metrics: Mapping[str, Any], key: str, length: int | None = None) -> np.ndarray:
    if key not in metrics:
        raise GandiagInputError(f"flags need the mode metric {key!r} (from gandiag.modes.mode_metrics)")
    v = np.asarray(metrics[key], dtype=np.float64).reshape(-1)
    if length is not None and v.shape != (length,):
        raise GandiagInputError(f"mode metric {key!r} has {v.size} entries, expected {length}")
    return v


def listed(items: Sequence[str], *, sep: str = ", ", limit: int = _LISTED) -> str:
    """``items`` joined by ``sep``, the first ``limit`` of them, then ``+N more``."""
    shown = list(items[:limit]) + ([f"+{len(items) - limit} more"] if len(items) > limit else [])
    return sep.join(shown)


def dropped_modes(
    metrics: Mapping[str, Any], thresholds: FlagThresholds | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(missing, starved)``: boolean masks over modes, as :func:`detect_flags` counts them.

    A mode is reported under one of the two: missing ones are not also counted as starved.
    """
    thresholds = thresholds or FlagThresholds()
    shares = _vector(metrics, "mode_shares")
    ref = _vector(metrics, "reference_shares", len(shares))
    hq = _vector(metrics, "mode_hq_counts", len(shares))
    n = int(metrics.get("n", round(_vector(metrics, "mode_counts", len(shares)).sum())))
    missing = hq == 0
    starved = (shares < thresholds.starved_ratio * ref) & ~missing
    if thresholds.significance is not None:
        level = thresholds.significance / len(shares)
        r = float(metrics.get("reference_hq_fraction", 1.0))
        n_ref = float(metrics.get("reference_count", float("inf")))
        missing &= _deficit_pvalue(np.zeros(len(hq)), n, ref * r, n_ref) <= level
        starved &= _deficit_pvalue(np.round(shares * n), n, ref, n_ref) <= level
    return missing, starved


def _deficit_pvalue(observed: np.ndarray, n: int, share: np.ndarray, n_ref: float) -> np.ndarray:
    """P(a perfect generator shows <= ``observed`` of each mode's ``n`` samples), one-sided.

    Exact reference shares (``n_ref`` infinite): X ~ Binomial(n, share). Shares counted on ``n_ref``
    reference samples (c_r = share x n_ref of them in the mode): conditional on the mode's total
    t = observed + c_r, under equal shares X ~ Binomial(t, n / (n + n_ref)) (the exact conditional
    test of two binomial proportions), so the reference's own counting noise is accounted for.
    """
    share = np.clip(share, 0.0, 1.0)
    if not math.isfinite(n_ref):
        return stats.binom.cdf(observed, n, share)
    total = np.round(observed + share * n_ref)
    return stats.binom.cdf(observed, total, n / (n + n_ref))


def _dropping_clause(metrics: Mapping[str, Any], t: FlagThresholds, label: str) -> str | None:
    missing, starved = dropped_modes(metrics, t)
    if not (missing.any() or starved.any()):
        return None
    total = len(missing)
    parts = []
    if missing.any():
        names = listed([str(k) for k in np.flatnonzero(missing)])
        parts.append(f"{missing.sum()} of {total} {label}s missing ({names})")
    if starved.any():
        shares, ref = _vector(metrics, "mode_shares"), _vector(metrics, "reference_shares")
        idx = np.flatnonzero(starved)
        detail = listed([f"{k}: {shares[k]:.3g} vs reference {ref[k]:.3g}" for k in idx])
        parts.append(f"{len(idx)} of {total} {label}s starved, share under {t.starved_ratio:g} x reference ({detail})")
    return "mode_dropping: " + ", ".join(parts)


def _collapse_clause(metrics: Mapping[str, Any], t: FlagThresholds, label: str) -> str | None:
    parts = []
    spread = float(metrics.get("intra_mode_spread", float("nan")))
    if math.isfinite(spread) and spread < t.min_spread:
        parts.append(f"intra_mode_spread {spread:.3g} < {t.min_spread:g}")
    shares = _vector(metrics, "mode_shares")
    ref = _vector(metrics, "reference_shares", len(shares))
    for k in np.flatnonzero((shares > t.dominant_share) & (ref < t.dominant_reference_max)):
        parts.append(f"{label} {k} holds {shares[k]:.2f} of samples (reference {ref[k]:.3g})")
    return "mode_collapse: " + ", ".join(parts) if parts else None


def _quality_clause(metrics: Mapping[str, Any], t: FlagThresholds) -> str | None:
    for key in ("hq_fraction", "reference_hq_fraction"):
        if key not in metrics:
            raise GandiagInputError(f"flags need the mode metric {key!r} (from gandiag.modes.mode_metrics)")
    hq, ref_hq = float(metrics["hq_fraction"]), float(metrics["reference_hq_fraction"])
    if hq < t.hq_ratio * ref_hq:
        return f"low_quality: hq_fraction {hq:.3g} < {t.hq_ratio:g} x reference {ref_hq:.3g}"
    return None


@dataclass(frozen=True)
class FlagResult:
    """The flags of one checkpoint as data: for each flag of :data:`FLAG_NAMES`, its evidence
    clause (``"mode_dropping: 5 of 8 modes missing (...)"``) when raised, ``None`` when not."""

    clauses: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.clauses) - set(FLAG_NAMES)
        if unknown:
            raise ValueError(f"unknown flags {sorted(unknown)}; flags are {', '.join(FLAG_NAMES)}")

    def raised(self, flag: str) -> bool:
        """Whether ``flag`` is raised."""
        return self.clauses.get(flag) is not None

    def clause(self, flag: str) -> str | None:
        """The evidence clause of ``flag`` (``None`` when it is not raised)."""
        return self.clauses.get(flag)

    @property
    def evidence(self) -> str:
        """The report's ``evidence`` cell: the raised flags' clauses, ``"; "``-separated."""
        return "; ".join(c for c in (self.clauses.get(f) for f in FLAG_NAMES) if c is not None)

    def as_columns(self) -> dict[str, Any]:
        """The report columns: each flag as a bool, then ``evidence``."""
        return {**{f: self.raised(f) for f in FLAG_NAMES}, "evidence": self.evidence}


def evaluate_flags(metrics: Mapping[str, Any], thresholds: FlagThresholds | None = None) -> FlagResult:
    """The flags of one checkpoint's mode metrics (:func:`gandiag.modes.mode_metrics`), as data."""
    t = thresholds or FlagThresholds()
    label = str(metrics.get("mode_label", "mode"))
    return FlagResult({
        "mode_dropping": _dropping_clause(metrics, t, label),
        "mode_collapse": _collapse_clause(metrics, t, label),
        "low_quality": _quality_clause(metrics, t),
    })


def detect_flags(metrics: Mapping[str, Any], thresholds: FlagThresholds | None = None) -> dict[str, Any]:
    """The three flags (bools) and the ``evidence`` line for one checkpoint's mode metrics.

    The report-column form of :func:`evaluate_flags`.
    """
    return evaluate_flags(metrics, thresholds).as_columns()
