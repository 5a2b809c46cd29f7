"""Divergences along a training run, and how they rank the checkpoints.

For each checkpoint of each SOURCE, n generated samples are compared with one fixed set of n
reference samples, with every divergence of :mod:`gandiag.scoring.divergence_row`. Whether a divergence
tracks training is read from Spearman's rank correlation (Spearman 1904) with the training
step, and whether two divergences agree from their rank correlation with each other: rank
correlation asks only "does it order the checkpoints the same way", which is what a model
selection criterion needs, and is blind to the very different scales (nats, data units).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from ..errors import GandiagInputError, SourceError
from ..generators import Generator
from ..loading import iter_sources
from ..references import Reference
from ..references import reference as get_reference
from ..references import reference_pair
from ..schema import REAL_VS_REAL
from ..scoring.divergence_row import ROW_COLUMNS, divergences

__all__ = ["REAL_VS_REAL", "compare_sources", "rank_correlations"]

MIN_POINTS = 3


def compare_sources(
    sources: Sequence[Any],
    reference: Any,
    *,
    n: int = 2000,
    seed: int = 0,
    resamples: int = 0,
    floor: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per checkpoint (a folder contributes all of its checkpoints, ordered by step).

    A checkpoint that cannot be loaded or sampled gets a row of NaN with the reason in
    ``notes``; when none can, the first error is raised.

    Columns: ``source``, ``step``, ``n``, ``seed``, the divergences and, with ``resamples``,
    their intervals. With ``floor`` the last row is the real-vs-real floor at the same n.
    """
    if not sources:
        raise GandiagInputError("compare: give at least one SOURCE (a checkpoint, sample file or run folder)")
    if int(n) != n or n < 16:
        raise GandiagInputError(f"--n: need an integer >= 16, got {n!r}")
    ref = get_reference(reference)
    real, second = reference_pair(ref, int(n), int(seed))
    total, items = iter_sources(sources, ref)
    rows = []
    failures = []
    for source, run, step, gen in tqdm(items, total=total, desc="compare", unit="ckpt", disable=not progress):
        row: dict[str, Any] = {"source": run or source, "step": step, "n": int(n), "seed": int(seed)}
        try:
            if not isinstance(gen, Generator):
                raise gen
            row.update(divergences(real, gen.sample(int(n), seed=int(seed)), seed=seed, repeats=resamples))
        except SourceError as exc:  # one bad checkpoint: recorded, the others still count
            failures.append(exc)
            row.update({c: math.nan for c in ROW_COLUMNS}, notes=str(exc))
        rows.append(row)
    if len(failures) == len(rows):
        raise failures[0]
    if floor:
        rows.append({"source": REAL_VS_REAL, "step": None, "n": int(n), "seed": int(seed),
                     **divergences(real, second, seed=seed, repeats=resamples)})
    frame = pd.DataFrame(rows)
    frame["step"] = frame["step"].astype("Int64")
    return frame


def _spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_POINTS or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return math.nan, math.nan, int(ok.sum())
    res = spearmanr(a[ok], b[ok])
    return float(res.statistic), float(res.pvalue), int(ok.sum())


def rank_correlations(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlations, one row per metric: against ``step`` (rho, p-value, points)
    and against each other metric. The real-vs-real row and rows without a step are left out
    of the step correlation; NaN where fewer than 3 points or a constant column.
    """
    rows = frame[frame["source"] != REAL_VS_REAL] if "source" in frame else frame
    metrics = [m for m in (metrics or ROW_COLUMNS) if m in rows and rows[m].notna().any()]
    step = pd.to_numeric(rows["step"], errors="coerce").to_numpy(dtype=float) if "step" in rows else None
    out = []
    for m in metrics:
        values = rows[m].to_numpy(dtype=float)
        entry: dict[str, Any] = {"metric": m}
        if step is not None:
            entry["vs_step"], entry["vs_step_pvalue"], entry["points"] = _spearman(values, step)
        for other in metrics:
            entry[other] = _spearman(values, rows[other].to_numpy(dtype=float))[0]
        out.append(entry)
    return pd.DataFrame(out)
