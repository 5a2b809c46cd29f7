"""Every divergence between two sample sets, as one table row, with intervals and the floor.

Columns follow docs/contract.md section 5: ``js``, ``c2st_accuracy``, ``c2st_pvalue``, ``w1``,
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
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from .._arrays import to_numpy
from ..errors import GandiagInputError
from ..metrics import c2st, js, js_density, sinkhorn, sliced_w
from ..metrics.intervals import real_vs_real, subsample_interval
from ..metrics.js_density import MAX_DIM
from .._arrays import pair_2d
from ..metrics.wasserstein import (DEFAULT_MAX_ITER, DEFAULT_MAX_POINTS, EXACT_DIFFERENCES_MAX_DIM, SubsampledWarning,
                                   TransportWarning, _check_options, _subsample, exact_transport,
                                   failure_message)

__all__ = ["ROW_COLUMNS", "divergences", "divergence_floor", "transport_row"]

#: The columns of :func:`divergences`: the divergence family, ``js_density`` and (vectors) ``fid``.
ROW_COLUMNS = ("js", "c2st_accuracy", "c2st_pvalue", "js_density", "w1", "w2", "sliced_w", "sinkhorn", "fid")


def _exact_value(p: int, failures: list[str] | None = None) -> Callable[..., float]:
    """W_p on a seeded subset of at most ``max_points`` per side, warning-free (NaN on failure, noted)."""
    def metric(real: Any, fake: Any, seed: int = 0, max_points: int = DEFAULT_MAX_POINTS) -> float:
        xs, ys = _subsample(*pair_2d(real, fake), int(max_points), seed, None)
        result = exact_transport(xs, ys, p)
        if not result.converged and failures is not None:
            failures.append(f"w{p}: {failure_message(result, DEFAULT_MAX_ITER)}; no value reported")
        return result.value
    metric.__name__ = f"w{p}"
    return metric


def transport_row(real: Any, fake: Any, metrics: Sequence[str], *, seed: int = 0, repeats: int = 0,
                  fraction: float = 0.5, max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """``w1``/``w2`` (those in ``metrics``), their intervals with ``repeats``, and ``notes`` of failures.

    The values of :func:`divergences`, computed without the process-wide ``warnings`` machinery,
    so that this can run on a second thread beside the other metrics (a solver failure gives NaN
    and a line in ``notes``, in the words of :class:`gandiag.metrics.TransportError`).
    """
    _check_options(max_points, "warn")
    r, f = to_numpy(real, name="real"), to_numpy(fake, name="fake")
    row: dict[str, Any] = {}
    failures: list[str] = []
    for name in ("w1", "w2"):
        if name not in metrics:
            continue
        metric = functools.partial(_exact_value(int(name[1]), failures), seed=seed, max_points=max_points)
        row[name] = metric(r, f)
        if repeats:
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = subsample_interval(
                metric, r, f, repeats=int(repeats), fraction=fraction, seed=seed)
    row["notes"] = "; ".join(dict.fromkeys(failures))
    return row


def _sinkhorn(real: Any, fake: Any, seed: int = 0, max_points: int = DEFAULT_MAX_POINTS) -> float:
    return sinkhorn(real, fake, seed=seed, max_points=max_points, on_failure="warn")


def _fid(real: Any, fake: Any, seed: int = 0) -> float:
    from .. import metrics

    return metrics.fid(real, fake)


def _at_most(r: np.ndarray, f: np.ndarray, points: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` rows of each set: a seeded subset without replacement (all when None)."""
    if points is None:
        return r, f
    rng = np.random.default_rng([int(seed), 0xC257])
    pick = lambda x: x[np.sort(rng.permutation(len(x))[: int(points)])] if len(x) > points else x  # noqa: E731
    return pick(r), pick(f)


def _js_at_most(real: Any, fake: Any, seed: int = 0, points: int = 0) -> float:
    return js(*_at_most(to_numpy(real), to_numpy(fake), points, seed), seed=seed)


def _metric_functions(is_vector: bool, d: int) -> dict[str, Callable[..., float]]:
    """The interval-able divergences that apply to data of this kind, by column name."""
    from .. import metrics

    funcs: dict[str, Callable[..., float]] = {"js": js}
    if is_vector and d <= MAX_DIM:
        funcs["js_density"] = js_density
    funcs.update({"sliced_w": sliced_w, "sinkhorn": _sinkhorn})
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
    metrics: Sequence[str] | None = None,
    sinkhorn_points: int | None = None,
    classifier_points: int | None = None,
) -> dict[str, Any]:
    """All divergences between ``real`` and ``fake`` (numpy/torch, (n, d) or (n, C, H, W)).

    ``metrics`` picks columns of :data:`ROW_COLUMNS` (default: all that apply); the
    others stay NaN. ``js``, ``c2st_accuracy`` and ``c2st_pvalue`` come from one classifier,
    trained on at most ``classifier_points`` samples per side (default: all; a seeded subset).
    ``max_points`` caps exact transport, ``sinkhorn_points`` (default ``max_points``) Sinkhorn.

    With ``repeats > 0`` every divergence also gets ``_ci_low``/``_ci_high`` from ``repeats``
    subsamples of ``fraction`` of each set. A transport solver that fails gives NaN and a
    line in ``notes`` -- never a silent number.

    While the classifier trains (one torch thread), exact ``w1`` and ``w2`` are solved on a
    second thread: POT's network simplex releases the GIL, so on two cores they overlap (an
    audit row on ring8: 0.9 s saved). Only for d <= 64, where their cost matrices come from
    scipy rather than torch, so the values cannot depend on torch's thread count.
    """
    if int(repeats) != repeats or repeats < 0:
        raise GandiagInputError(f"repeats must be a non-negative integer, got {repeats!r}")
    wanted = set(ROW_COLUMNS if metrics is None else metrics)
    unknown = wanted - set(ROW_COLUMNS)
    if unknown:
        raise GandiagInputError(f"unknown divergences {sorted(unknown)}: use {', '.join(ROW_COLUMNS)}")
    r, f = to_numpy(real, name="real"), to_numpy(fake, name="fake")
    is_vector = r.ndim <= 2
    d = int(np.prod(r.shape[1:])) if r.ndim > 1 else 1
    row: dict[str, Any] = {c: np.nan for c in ROW_COLUMNS}
    notes: list[str] = []
    exact = [w for w in ("w1", "w2") if w in wanted]
    transport = functools.partial(transport_row, r, f, exact, seed=seed, repeats=repeats, fraction=fraction,
                                  max_points=max_points)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TransportWarning)
        warnings.simplefilter("ignore", SubsampledWarning)  # reported as ot_points instead
        classifier = wanted & {"js", "c2st_accuracy", "c2st_pvalue"}
        functions = _metric_functions(is_vector, d)
        overlap = bool(exact) and bool(classifier) and d <= EXACT_DIFFERENCES_MAX_DIM
        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead = pool.submit(transport) if overlap else None
            if classifier:
                test = c2st(*_at_most(r, f, classifier_points, seed), seed=seed)
                row.update({k: test[k] for k in classifier})
            exact_row = ahead.result() if ahead is not None else transport() if exact else {"notes": ""}
        notes.extend(n for n in [exact_row.pop("notes")] if n)
        row.update(exact_row)
        for name, metric in functions.items():
            if name not in wanted:
                continue
            kwargs: dict[str, Any] = {}
            if name == "sinkhorn":
                kwargs["max_points"] = sinkhorn_points or max_points
            if name == "js" and classifier_points is not None:
                metric = functools.partial(_js_at_most, points=int(classifier_points))
            seeded = functools.partial(metric, seed=seed, **kwargs)
            if name != "js":
                row[name] = seeded(r, f)
            if repeats:
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = subsample_interval(
                    seeded, r, f, repeats=int(repeats), fraction=fraction, seed=seed)
    notes.extend(str(w.message) for w in caught if issubclass(w.category, TransportWarning))
    row["ot_points"] = min(max(len(r), len(f)), int(max_points))
    if classifier_points is not None and classifier and max(len(r), len(f)) > classifier_points:
        notes.append(f"js/c2st on {int(classifier_points)} samples per side")
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def divergence_floor(reference: Any, n: int, *, seed: int = 0, **options: Any) -> dict[str, Any]:
    """The real-vs-real row: :func:`divergences` between two independent reference samples of size n."""
    return real_vs_real(lambda a, b: divergences(a, b, seed=seed, **options), reference, n, seed=seed)
