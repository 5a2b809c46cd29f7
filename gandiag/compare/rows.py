"""Every divergence between two sample sets, as one table row, with intervals and the floor.

Columns follow CONTRACT.md section 5: ``js``, ``c2st_accuracy``, ``c2st_pvalue``, ``w1``,
``w2``, ``sliced_w``, ``sinkhorn``, plus ``js_density`` (vectors with d <= 3) and ``fid``
(vectors: the features are the samples themselves), ``ot_points`` (points per side that exact
transport used, the larger side when the sizes differ) and ``notes`` (why a value is missing).
Intervals (``{metric}_ci_low``, ``{metric}_ci_high``) come from
:func:`gandiag.metrics.intervals.subsample_interval`:
resampling with replacement would put duplicated points at distance 0 from each other, which
makes transport distances and classifier scores optimistic.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

import numpy as np

from .._arrays import to_numpy
from ..errors import GandiagInputError
from ..metrics import c2st, js, js_density, sinkhorn, sliced_w, transport
from ..metrics.intervals import real_vs_real, subsample_interval
from ..metrics.js_density import MAX_DIM
from ..metrics.wasserstein import DEFAULT_MAX_POINTS, SubsampledWarning, TransportWarning

__all__ = ["DIVERGENCE_COLUMNS", "divergences", "divergence_floor"]

DIVERGENCE_COLUMNS = ("js", "c2st_accuracy", "c2st_pvalue", "js_density", "w1", "w2", "sliced_w", "sinkhorn", "fid")


def _w(p: int) -> Callable[..., float]:
    def metric(real: Any, fake: Any, seed: int = 0, max_points: int = DEFAULT_MAX_POINTS) -> float:
        return transport(real, fake, p, max_points=max_points, seed=seed, on_failure="warn").value
    metric.__name__ = f"w{p}"
    return metric


def _sinkhorn(real: Any, fake: Any, seed: int = 0, max_points: int = DEFAULT_MAX_POINTS) -> float:
    return sinkhorn(real, fake, seed=seed, max_points=max_points, on_failure="warn")


def _fid(real: Any, fake: Any, seed: int = 0) -> float:
    from .. import metrics

    return metrics.fid(real, fake)


def _metric_functions(is_vector: bool, d: int) -> dict[str, Callable[..., float]]:
    """The interval-able divergences that apply to data of this kind, by column name."""
    from .. import metrics

    funcs: dict[str, Callable[..., float]] = {"js": js}
    if is_vector and d <= MAX_DIM:
        funcs["js_density"] = js_density
    funcs.update({"w1": _w(1), "w2": _w(2), "sliced_w": sliced_w, "sinkhorn": _sinkhorn})
    if is_vector and hasattr(metrics, "fid"):  # the feature-statistics issue provides it
        funcs["fid"] = _fid
    return funcs


def divergences(
    real: Any,
    fake: Any,
    *,
    seed: int = 0,
    repeats: int = 0,
    fraction: float = 0.5,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """All divergences between ``real`` and ``fake`` (numpy/torch, (n, d) or (n, C, H, W)).

    With ``repeats > 0`` every divergence also gets ``_ci_low``/``_ci_high`` from ``repeats``
    subsamples of ``fraction`` of each set. A transport solver that fails gives NaN and a
    line in ``notes`` -- never a silent number.
    """
    if int(repeats) != repeats or repeats < 0:
        raise GandiagInputError(f"repeats must be a non-negative integer, got {repeats!r}")
    r, f = to_numpy(real, name="real"), to_numpy(fake, name="fake")
    is_vector = r.ndim <= 2
    d = int(np.prod(r.shape[1:])) if r.ndim > 1 else 1
    row: dict[str, Any] = {c: np.nan for c in DIVERGENCE_COLUMNS}
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TransportWarning)
        warnings.simplefilter("ignore", SubsampledWarning)  # reported as ot_points instead
        test = c2st(r, f, seed=seed)
        row.update({k: test[k] for k in ("js", "c2st_accuracy", "c2st_pvalue")})
        for name, metric in _metric_functions(is_vector, d).items():
            kwargs: dict[str, Any] = {"max_points": max_points} if name in ("w1", "w2", "sinkhorn") else {}
            seeded = functools.partial(metric, seed=seed, **kwargs)
            if name != "js":
                row[name] = seeded(r, f)
            if repeats:
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = subsample_interval(
                    seeded, r, f, repeats=int(repeats), fraction=fraction, seed=seed)
    notes.extend(str(w.message) for w in caught if issubclass(w.category, TransportWarning))
    row["ot_points"] = min(max(len(r), len(f)), int(max_points))
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def divergence_floor(reference: Any, n: int, *, seed: int = 0, **options: Any) -> dict[str, Any]:
    """The real-vs-real row: :func:`divergences` between two independent reference samples of size n."""
    return real_vs_real(lambda a, b: divergences(a, b, seed=seed, **options), reference, n, seed=seed)
