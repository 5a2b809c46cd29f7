"""Flags for one checkpoint: mode dropping, mode collapse, low quality (docs/contract.md section 6).

Inputs are the mode metrics of :func:`gandiag.modes.mode_metrics` (true modes or NDB bins); with
p_k the generated share of mode k, q_k its reference share, h_k its high-quality sample count, n
the number of generated samples, M the number of modes and the thresholds of
:class:`FlagThresholds` (defaults in brackets):

* ``mode_dropping``: some mode k is *missing* (h_k = 0; VEEGAN, Srivastava et al. 2017, and PacGAN,
  Lin et al. 2018, count a mode as captured with one high-quality sample) or *starved*
  (p_k < ``starved_ratio`` [1/4] x q_k).
  A guard against sampling noise decides (``significance`` [0.01]; 0 or None turns it off and
  gives the literal rule): a mode is only counted when a perfect generator would show so little
  of it with probability under significance / M (one-sided, Bonferroni over the M modes, so a
  perfect generator raises ``mode_dropping`` in at most a share ``significance`` of rows): for a
  missing mode P(h_k = 0) = (1 - q_k r)^n with r the reference's hq_fraction; for a starved one
  P(X <= n p_k), X ~ Binomial(n, q_k). Where q was counted on N_r reference samples (NDB bins,
  ``digits``), the exact conditional test of two binomial proportions replaces these (see
  :func:`_deficit_pvalue`). At the literature's n = 2,500 on ``ring8``/``grid25`` (100 or more
  expected samples per mode) the guard never changes the verdict (an empty ``grid25`` mode has
  probability 0.96^2500 = 1e-44); it keeps a mode that a perfect generator leaves empty or thin
  by chance (``ring8`` at n = 100, ``stacked-digits``' 1000 modes, NDB bins of ten samples) from
  raising the flag. 0.01 rather than 0.05: the flag is read without a multiple-testing eye over
  many checkpoints, and a 1% false-alarm rate per row costs no power where the flag is
  meaningful. Below :func:`min_trusted_n` samples even a wholly missing typical mode cannot be
  told from chance; the scorer then says so in the row's ``notes``.
* ``mode_collapse``: ``intra_mode_spread`` < ``min_spread`` [0.5] (beyond chance: the guard's
  F-test, as for ``max_spread`` below), or some mode holds more than
  ``dominant_share`` [1/2] of the generated samples while q_k < ``dominant_reference_max`` [1/4].
* ``low_quality``: ``hq_fraction`` < ``hq_ratio`` [1/2] x the reference's own hq_fraction (for NDB
  bins measured on held-out reference samples, :meth:`gandiag.modes.NDBBins.with_heldout`), or
  ``intra_mode_spread`` > ``max_spread`` [1.3]: modes wider than the reference's (a blurry
  generator). The spread is measured on high-quality samples, whose 3-std cut truncates a wide
  mode, so a within-mode std twice the reference's reads about 1.4; a perfect generator reads
  1 +- 0.1 from n = 200 on, but at n = 16-100 few high-quality samples per mode put it above 1.3
  in up to a third of seeds, so the guard applies here too: the spread only counts when the
  pooled F-test of the within-mode variances (``spread_wider_pvalue`` of
  :func:`gandiag.modes.mode_metrics`) rejects "no wider" at ``significance`` (ring8 and grid25
  real-vs-real at n = 16..1000, 40 seeds each: no flag left).

``evidence`` is one line, ``"; "``-separated, one clause per raised flag naming the numbers, e.g.
``mode_dropping: 5 of 8 modes missing (2, 3, 5, 6, 7); mode_collapse: mode 1 holds 0.81 of
samples (reference 0.125)``; empty when no flag is raised. Mode shares count every sample in the
mode it is assigned to (nearest centre, NDB centroid or the digits classifier's class), high quality
or not; when under half of a dominant mode's samples are high quality, the clause says so
(``... (reference 0.125, 0% of them high quality)``): such a generator sits off the data, nearest
to one mode, rather than on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import GandiagInputError
from ..schema import FLAG_COLUMNS, FLAG_NAMES

__all__ = ["FLAG_COLUMNS", "FlagResult", "FlagThresholds", "check_non_negative", "detect_flags", "dropped_modes",
           "evaluate_flags", "min_trusted_n"]

_LISTED = 8  # modes named in the evidence before "+N more"


def check_non_negative(thresholds: Any, names: Sequence[str], what: str) -> None:
    """Refuse any attribute ``names`` of ``thresholds`` that is not a finite number >= 0, naming it
    as ``f"{what} {name}"`` (the flags' and the conditional flags' thresholds)."""
    for name in names:
        value = getattr(thresholds, name)
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise GandiagInputError(f"{what} {name} must be a non-negative number, got {value!r}")


@dataclass(frozen=True)
class FlagThresholds:
    """Every threshold of the flags; the defaults are docs/contract.md section 6."""

    starved_ratio: float = 0.25
    min_spread: float = 0.5
    dominant_share: float = 0.5
    dominant_reference_max: float = 0.25
    hq_ratio: float = 0.5
    max_spread: float = 1.3
    significance: float | None = 0.01

    @property
    def guard(self) -> float | None:
        """The significance guard's level, ``None`` when it is off (``significance`` None or 0)."""
        return self.significance or None

    def __post_init__(self) -> None:
        check_non_negative(self, ("starved_ratio", "min_spread", "dominant_share", "dominant_reference_max",
                                  "hq_ratio", "max_spread"), "flag threshold")
        if self.significance is not None and not 0.0 <= self.significance < 1.0:
            raise GandiagInputError(f"flag threshold significance must be in [0, 1) (0 or None: guard off), "
                                    f"got {self.significance!r}")


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
    if thresholds.guard is not None:
        level = thresholds.guard / len(shares)
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


def min_trusted_n(
    reference_shares: Any, *, hq_fraction: float = 1.0, counted: bool = False, significance: float = 0.01
) -> int:
    """The smallest n at which a wholly missing *typical* mode raises ``mode_dropping`` under the guard.

    With M modes, q the median reference share, r the reference's hq_fraction and a = significance / M:
    exact shares (a mixture's weights): the least n with (1 - q r)^n <= a, i.e.
    n = ceil(log a / log(1 - q r)); shares counted on a reference sample of the same n (NDB bins,
    ``digits``): the conditional test sees an empty mode as P = (1/2)^c with c = round(q r n) reference
    samples in it, so c must reach ceil(log2(1/a)): n = ceil((ceil(log2(1/a)) - 1/2) / (q r)).
    Below it the flags cannot tell a dropped mode from chance (:func:`dropped_modes`). ``ring8``: 51,
    ``grid25``: 192 at r = 1 and significance 0.01.
    """
    q = np.asarray(reference_shares, dtype=np.float64).reshape(-1)
    typical = float(np.median(q)) * float(hq_fraction)
    if not 0.0 < typical < 1.0 or not 0.0 < significance < 1.0:
        return 1
    a = significance / len(q)
    if counted:  # the conditional test sees round(q r n) reference samples: need that many
        return int(math.ceil((math.ceil(math.log2(1.0 / a)) - 0.5) / typical))
    return int(math.ceil(math.log(a) / math.log1p(-typical)))


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


def _beyond_chance(metrics: Mapping[str, Any], key: str, t: FlagThresholds) -> bool:
    """Whether the spread test ``key`` rejects chance at the guard's level (always, with the guard
    off or for hand-built metrics without the p-value)."""
    p = float(metrics.get(key, 0.0))
    return t.guard is None or not p > t.guard


def _collapse_clause(metrics: Mapping[str, Any], t: FlagThresholds, label: str) -> str | None:
    parts = []
    spread = float(metrics.get("intra_mode_spread", float("nan")))
    if math.isfinite(spread) and spread < t.min_spread and _beyond_chance(metrics, "spread_narrower_pvalue", t):
        parts.append(f"intra_mode_spread {spread:.3g} < {t.min_spread:g}")
    shares = _vector(metrics, "mode_shares")
    ref = _vector(metrics, "reference_shares", len(shares))
    for k in np.flatnonzero((shares > t.dominant_share) & (ref < t.dominant_reference_max)):
        parts.append(f"{label} {k} holds {shares[k]:.2f} of samples (reference {ref[k]:.3g}{_off_mode_note(metrics, k)})")
    return "mode_collapse: " + ", ".join(parts) if parts else None


def _off_mode_note(metrics: Mapping[str, Any], k: int) -> str:
    """``", 3% of them high quality"`` when under half of the samples assigned to mode ``k`` are high
    quality, else ``""``. Shares count every sample in the mode it is assigned to (the nearest centre
    or NDB centroid, the digits classifier's class) whether it is high quality or not, so a generator
    off the data, nearest to one mode, has a dominant mode too; without this note "mode 1 holds 0.56
    of samples" beside "8 of 8 modes missing" reads as a contradiction."""
    if "mode_counts" not in metrics or "mode_hq_counts" not in metrics:
        return ""
    counts, hq = _vector(metrics, "mode_counts"), _vector(metrics, "mode_hq_counts")
    if k >= len(counts) or k >= len(hq) or counts[k] <= 0 or hq[k] >= 0.5 * counts[k]:
        return ""
    return f", {hq[k] / counts[k]:.0%} of them high quality"  # never ";": it separates the clauses


def _quality_clause(metrics: Mapping[str, Any], t: FlagThresholds) -> str | None:
    for key in ("hq_fraction", "reference_hq_fraction"):
        if key not in metrics:
            raise GandiagInputError(f"flags need the mode metric {key!r} (from gandiag.modes.mode_metrics)")
    hq, ref_hq = float(metrics["hq_fraction"]), float(metrics["reference_hq_fraction"])
    parts = []
    if hq < t.hq_ratio * ref_hq:
        parts.append(f"hq_fraction {hq:.3g} < {t.hq_ratio:g} x reference {ref_hq:.3g}")
    spread = float(metrics.get("intra_mode_spread", float("nan")))
    if math.isfinite(spread) and spread > t.max_spread and _beyond_chance(metrics, "spread_wider_pvalue", t):
        parts.append(f"intra_mode_spread {spread:.3g} > {t.max_spread:g} (modes wider than the reference's)")
    return "low_quality: " + ", ".join(parts) if parts else None


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
