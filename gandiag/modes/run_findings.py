"""Run-level findings over the checkpoints of one training run (docs/contract.md section 6).

Inputs are rows ordered by training step: a pandas DataFrame with a ``step`` column and the flag
columns of :func:`gandiag.modes.detect_flags`, the per-checkpoint mode shares, and optionally the
losses of ``train_log.csv``. Three findings, each with its numbers:

* **Onset** of each flag: the step of the first checkpoint of the final unbroken stretch of
  checkpoints where the flag is raised, i.e. the step from which the flag "appears and stays" to
  the end of the run. ``None`` when the flag is not raised at the last checkpoint (a flag that came
  and went is not an onset). Rows whose flag is missing (a checkpoint that failed to load) are
  skipped: they neither break nor start a stretch.
* **Mode hopping**: the *dominant mode* of a checkpoint is the mode k with the largest share p_k,
  provided p_k >= ``hop_share_ratio`` [2] x its reference share q_k (it holds clearly more than its
  fair share) and p_k exceeds the runner-up share by at least ``hop_margin`` [0.1] (no ties). A
  uniform histogram, or two modes sharing the mass, has no dominant mode. A *hop* is a pair of
  consecutive checkpoints, both with a dominant mode, whose dominant modes differ (Metz et al. 2017,
  "Unrolled GANs", figure 1: the generator moves its mass from mode to mode). The run is flagged
  with ``mode_hopping`` when there are at least ``min_hops`` [1] hops.
* **Non-convergence** of a series x (a loss or a metric) against step: over the last
  ``tail_fraction`` [1/3] of its points (at least ``min_tail_points`` [5], else not assessed), after
  averaging into at most ``max_tail_points`` [20] consecutive blocks (block means remove minibatch
  noise and keep slow oscillation),
  (a) no monotone trend: Kendall's tau against step has p-value >= ``trend_alpha`` [0.05]
  (``scipy.stats.kendalltau``), and
  (b) it still oscillates: relative spread = std(tail blocks, ddof=1) / median(|x|) over the whole
  run >= ``min_oscillation`` [0.2]. The scale is the whole run's median magnitude, not the tail's
  mean, so a series settling near 0 (a WGAN critic loss, ``mode_kl``) is not inflated.
  A series that satisfies both is *non-converging*; a run is when any of its series is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import GandiagInputError
from ..schema import ALL_FLAG_NAMES, FLAG_NAMES
from .flags import listed

__all__ = [
    "DEFAULT_SERIES",
    "FLAG_NAMES",
    "Convergence",
    "Hop",
    "RunFindings",
    "RunThresholds",
    "analyze_run",
    "dominant_modes",
    "flag_onsets",
    "mode_hops",
    "non_convergence",
]

DEFAULT_SERIES = ("loss_d", "loss_g", "js", "w1", "fid", "mode_kl", "hq_fraction", "effective_modes")


@dataclass(frozen=True)
class RunThresholds:
    """Thresholds of the run-level findings (module docstring)."""

    hop_share_ratio: float = 2.0
    hop_margin: float = 0.1
    min_hops: int = 1
    tail_fraction: float = 1.0 / 3.0
    min_tail_points: int = 5
    max_tail_points: int = 20
    trend_alpha: float = 0.05
    min_oscillation: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.tail_fraction <= 1.0:
            raise GandiagInputError(f"run threshold tail_fraction must be in (0, 1], got {self.tail_fraction!r}")
        if not 0.0 < self.trend_alpha < 1.0:
            raise GandiagInputError(f"run threshold trend_alpha must be in (0, 1), got {self.trend_alpha!r}")
        if int(self.min_hops) != self.min_hops or self.min_hops < 1:
            raise GandiagInputError(f"run threshold min_hops must be a positive integer, got {self.min_hops!r}")
        if self.min_tail_points < 3 or self.max_tail_points < self.min_tail_points:
            raise GandiagInputError("run thresholds need 3 <= min_tail_points <= max_tail_points")


@dataclass(frozen=True)
class Hop:
    """The dominant mode moved from ``mode_from`` at ``step_from`` to ``mode_to`` at ``step_to``."""

    step_from: Any
    step_to: Any
    mode_from: int
    mode_to: int

    def __str__(self) -> str:
        return f"step {self.step_from} -> {self.step_to}: mode {self.mode_from} -> {self.mode_to}"


@dataclass(frozen=True)
class Convergence:
    """Non-convergence test of one series; ``non_converging`` is ``None`` when not assessed."""

    name: str
    non_converging: bool | None
    n_points: int
    tail_from_step: Any = None
    kendall_tau: float = float("nan")
    trend_pvalue: float = float("nan")
    relative_spread: float = float("nan")

    def __str__(self) -> str:
        if self.non_converging is None:
            return f"{self.name}: not assessed ({self.n_points} points)"
        verdict = "oscillates without trend" if self.non_converging else "converging or trending"
        return (f"{self.name}: {verdict} from step {self.tail_from_step} (Kendall tau {self.kendall_tau:.2f}, "
                f"p {self.trend_pvalue:.2g}; relative spread {self.relative_spread:.2f})")


@dataclass(frozen=True)
class RunFindings:
    """Everything :func:`analyze_run` found, with :meth:`lines` for the report's summary."""

    onsets: dict[str, Any]
    hops: list[Hop] = field(default_factory=list)
    mode_hopping: bool = False
    convergence: list[Convergence] = field(default_factory=list)

    @property
    def non_converging(self) -> bool:
        return any(c.non_converging for c in self.convergence)

    def lines(self) -> list[str]:
        """One line per finding: onsets, hopping, non-converging series."""
        out = [f"{flag} from step {step} to the end of the run"
               for flag, step in self.onsets.items() if step is not None]
        if self.mode_hopping:
            shown = listed([str(h) for h in self.hops], sep="; ", limit=5)
            times = "time" if len(self.hops) == 1 else "times"
            out.append(f"mode hopping: dominant mode changed {len(self.hops)} {times} ({shown})")
        out += [f"non-convergence: {c}" for c in self.convergence if c.non_converging]
        return out


def _order(frame: pd.DataFrame, step: str) -> np.ndarray:
    """Row positions sorted by step (kept as given when some step is unknown)."""
    if not isinstance(frame, pd.DataFrame):
        raise GandiagInputError(f"run rows must be a pandas DataFrame, got {type(frame).__name__}")
    if step not in frame.columns:
        raise GandiagInputError(f"run rows have no {step!r} column")
    steps = pd.to_numeric(frame[step], errors="coerce")
    return np.argsort(steps.to_numpy(), kind="stable") if steps.notna().all() else np.arange(len(frame))


def _truthy(value: Any) -> bool:
    """A flag cell: a bool, or its text as read back from a CSV ("True"/"False")."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "1", "0"):
            raise GandiagInputError(f"flag value {value!r} is not a boolean")
        return value.strip().lower() in ("true", "1")
    return bool(value)


def flag_onsets(frame: pd.DataFrame, flags: Iterable[str] = FLAG_NAMES, *, step: str = "step") -> dict[str, Any]:
    """For each flag column: the step from which it is raised at every checkpoint to the end, else ``None``."""
    rows = frame.iloc[_order(frame, step)]
    out: dict[str, Any] = {}
    for flag in flags:
        if flag not in rows.columns:
            raise GandiagInputError(f"run rows have no {flag!r} column")
        known = rows[rows[flag].notna()]
        onset = None
        for s, raised in zip(known[step].tolist()[::-1], known[flag].tolist()[::-1]):
            if not _truthy(raised):
                break
            onset = s
        out[flag] = onset
    return out


def _share_matrix(shares: Any) -> np.ndarray:
    rows = [np.full(0, np.nan) if s is None or (np.isscalar(s) and pd.isna(s)) else np.asarray(s, float).reshape(-1)
            for s in shares]
    width = max((len(r) for r in rows), default=0)
    if any(len(r) not in (0, width) for r in rows):
        raise GandiagInputError("mode shares differ in length between checkpoints")
    return np.array([r if len(r) else np.full(width, np.nan) for r in rows]).reshape(len(rows), width)


def dominant_modes(shares: Any, reference_shares: Any = None, thresholds: RunThresholds | None = None) -> np.ndarray:
    """Dominant mode per checkpoint (rows of ``shares``), -1 where none is clearly dominant.

    ``reference_shares`` defaults to uniform (1/M).
    """
    t = thresholds or RunThresholds()
    p = _share_matrix(shares)
    if p.shape[1] < 2:
        return np.full(len(p), -1)
    q = np.full(p.shape[1], 1.0 / p.shape[1]) if reference_shares is None else np.asarray(reference_shares, float)
    if q.shape != (p.shape[1],):
        raise GandiagInputError(f"reference_shares has {q.size} entries, the mode shares {p.shape[1]}")
    out = np.full(len(p), -1)
    for i, row in enumerate(p):
        if not np.isfinite(row).all():
            continue
        top, second = np.argsort(-row, kind="stable")[:2]  # ties: the lower index first
        if row[top] >= t.hop_share_ratio * q[top] and row[top] - row[second] >= t.hop_margin:
            out[i] = top
    return out


def mode_hops(steps: Sequence[Any], shares: Any, reference_shares: Any = None,
              thresholds: RunThresholds | None = None) -> list[Hop]:
    """Consecutive checkpoints whose (clearly) dominant modes differ."""
    dom = dominant_modes(shares, reference_shares, thresholds)
    steps = list(steps)
    if len(steps) != len(dom):
        raise GandiagInputError(f"{len(steps)} steps but {len(dom)} rows of mode shares")
    return [Hop(steps[i], steps[i + 1], int(dom[i]), int(dom[i + 1]))
            for i in range(len(dom) - 1) if dom[i] >= 0 and dom[i + 1] >= 0 and dom[i] != dom[i + 1]]


def non_convergence(steps: Sequence[Any], values: Sequence[float], *, name: str = "series",
                    thresholds: RunThresholds | None = None) -> Convergence:
    """Does ``values`` (against ``steps``) oscillate without trend over the run's last part?"""
    t = thresholds or RunThresholds()
    s = pd.to_numeric(pd.Series(list(steps)), errors="coerce").to_numpy(float)
    x = pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(float)
    if len(s) != len(x):
        raise GandiagInputError(f"{name}: {len(s)} steps but {len(x)} values")
    keep = np.isfinite(s) & np.isfinite(x)
    s, x = s[keep], x[keep]
    order = np.argsort(s, kind="stable")
    s, x = s[order], x[order]
    n_tail = int(math.ceil(t.tail_fraction * len(x)))
    if n_tail < t.min_tail_points:
        return Convergence(name, None, len(x))
    blocks = np.array_split(np.arange(len(x) - n_tail, len(x)), min(n_tail, t.max_tail_points))
    ts = np.array([s[b].mean() for b in blocks])
    tx = np.array([x[b].mean() for b in blocks])
    scale = float(np.median(np.abs(x)))
    spread = float(tx.std(ddof=1))
    relative = spread / scale if scale > 0 else (0.0 if spread == 0 else float("inf"))
    if spread == 0:
        tau, pvalue = 0.0, 1.0
    else:
        res = stats.kendalltau(ts, tx)
        tau, pvalue = float(res.statistic), float(res.pvalue)
    oscillating = pvalue >= t.trend_alpha and relative >= t.min_oscillation
    first = s[len(x) - n_tail]
    return Convergence(name, bool(oscillating), len(x), int(first) if float(first).is_integer() else first,
                       tau, pvalue, relative)


def analyze_run(
    frame: pd.DataFrame,
    *,
    shares: Any = None,
    reference_shares: Any = None,
    losses: pd.DataFrame | None = None,
    series: Iterable[str] | None = None,
    thresholds: RunThresholds | None = None,
    step: str = "step",
) -> RunFindings:
    """All run-level findings for one run's checkpoint rows (and its ``train_log.csv`` losses).

    ``shares``: per-checkpoint mode shares in ``frame``'s row order (default: its ``mode_shares``
    column, if any). ``series``: the columns of ``frame`` and ``losses`` tested for non-convergence
    (default: those of :data:`DEFAULT_SERIES` present).
    """
    t = thresholds or RunThresholds()
    order = _order(frame, step)
    rows = frame.iloc[order]
    onsets = flag_onsets(rows, [f for f in ALL_FLAG_NAMES if f in rows.columns], step=step)  # conditional ones too
    if shares is None and "mode_shares" in rows.columns:
        shares = rows["mode_shares"].tolist()
    elif shares is not None:
        given = list(shares)
        if len(given) != len(frame):
            raise GandiagInputError(f"{len(given)} rows of mode shares for {len(frame)} checkpoints")
        shares = [given[i] for i in order]
    hops = mode_hops(rows[step].tolist(), shares, reference_shares, t) if shares is not None else []
    names = list(series) if series is not None else list(DEFAULT_SERIES)
    tests = []
    for source in (rows, losses):
        if source is None:
            continue
        if step not in source.columns:
            raise GandiagInputError(f"losses have no {step!r} column")
        tests += [non_convergence(source[step], source[c], name=c, thresholds=t) for c in names if c in source.columns]
    return RunFindings(onsets, hops, len(hops) >= t.min_hops, tests)
