"""Uncertainty of sample-based metrics: bootstrap intervals and the real-vs-real floor.

Every metric here is an estimate from finitely many samples. Two ways to show its noise:

* :func:`bootstrap_interval` - bootstrap (Efron & Tibshirani 1993, ch. 13): resample the rows of
  ``real`` and ``fake`` independently *with* replacement, recompute. Cheap metrics only;
  duplicated rows make nearest-neighbour and transport metrics optimistic, so for those prefer
* :func:`subsample_interval` - repeated subsampling *without* replacement (Politis, Romano &
  Wolf 1999, "Subsampling"): ``repeats`` draws of a ``fraction`` f of each set, recomputed.

Both give, by default (``method="centred"``, :func:`resample_interval`), a normal interval
*centred on the full-n value* theta_n with the resamples' standard deviation s carried to full n:

    theta_n -+ t_{K-1, (1+level)/2} x s x c,   c = sqrt(f / (1 - f)) for subsamples, 1 for the bootstrap.

Why: a subsample of m = f n rows drawn without replacement from the n has, given the sample,
variance about sigma^2 / m x (1 - m/n) (the finite-population correction), while theta_n has
sigma^2 / n; their ratio is f / (1 - f), 1 at the default half-size subsamples (the sqrt(n) rule
of Politis, Romano & Wolf, section 2.2, with the correction for sampling without replacement;
it assumes a root-n consistent estimator). Centring on theta_n removes the bias that half-size
or duplicated samples add (transport distances, FID, ``modes_captured`` read higher or lower at
m than at n), so the interval brackets what the metric reads at n; with K = 10-20 resamples the
extreme percentiles are too close together (K = 20 values cover a new one only 19/21 of the
time), which the t quantile of the standard deviation avoids. ``method="percentile"`` gives the
plain (1 - level)/2 and (1 + level)/2 quantiles of the resampled values (the intervals of
gandiag 0.x). ``benchmarks/bench_calibration.py`` measures the coverage (reports/calibration.md).

and the floor:

* :func:`real_vs_real` - the metric between two independent reference samples of the same
  ``n``: what a perfect generator would score at this sample size (FID, W1 and the JS
  estimate are all biased upward at finite n; the floor makes the bias visible).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._arrays import to_numpy
from ..errors import GandiagInputError

Metric = Callable[..., float]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise GandiagInputError(f"confidence level must be in (0, 1), got {level}")


def _quantiles(values: list[float], level: float) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(arr, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def resample_interval(values: Any, estimate: float, *, level: float = 0.95, fraction: float | None = None
                      ) -> tuple[float, float]:
    """The centred interval of the module docstring from resampled ``values`` and the full-n ``estimate``.

    ``fraction``: the subsample share f (in (0, 1)) for subsamples without replacement, ``None``
    for bootstrap resamples (c = 1). NaN values are dropped; fewer than two left give (NaN, NaN)
    unless every value equals ``estimate``.
    """
    from scipy import stats

    _check_level(level)
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size < 2 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    scale = 1.0
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise GandiagInputError(f"subsample fraction must be in (0, 1) for a centred interval, got {fraction} "
                                    "(use method='percentile')")
        scale = float(np.sqrt(fraction / (1.0 - fraction)))
    half = float(stats.t.ppf((1.0 + level) / 2.0, arr.size - 1)) * float(np.std(arr, ddof=1)) * scale
    return float(estimate) - half, float(estimate) + half


def _interval(values: list[float], estimate: Any, level: float, method: str, fraction: float | None,
              ) -> tuple[float, float]:
    if method == "percentile":
        return _quantiles(values, level)
    if method != "centred":
        raise GandiagInputError(f"interval method must be 'centred' or 'percentile', got {method!r}")
    return resample_interval(values, float(estimate()), level=level, fraction=fraction)


def bootstrap_interval(
    metric: Metric,
    real: Any,
    fake: Any,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    estimate: float | None = None,
    method: str = "centred",
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Bootstrap interval of ``metric(real, fake, **metric_kwargs)`` (centred on the full-n value by default).

    Rows of each set are resampled with replacement, independently, ``n_boot`` times with a
    ``numpy.random.default_rng(seed)`` stream.

    Parameters
    ----------
    metric : callable
        ``metric(real, fake, **metric_kwargs) -> float``, e.g. :func:`gandiag.metrics.fid`.
    real, fake : array_like
        Sample (or feature) sets, numpy arrays or torch tensors, rows are samples.
    n_boot : int, default 200
        Number of bootstrap resamples.
    level : float, default 0.95
        Confidence level, in (0, 1).
    seed : int, default 0
        Seed of the resampling stream: same seed, same interval.
    estimate : float, optional
        The metric on the full sets, if the caller has it (else computed here, once).
    method : {"centred", "percentile"}, default "centred"
        The module docstring's centred normal interval, or the plain percentile interval.
    **metric_kwargs
        Passed on to ``metric``.

    Returns
    -------
    low, high : tuple of float
        ``method="centred"``: estimate -+ t x sd of the resampled values; ``"percentile"``: their
        ``(1 - level)/2`` and ``(1 + level)/2`` quantiles.

    Raises
    ------
    GandiagInputError
        ``level`` outside (0, 1), or ``real``/``fake`` holding NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics import fid
    >>> from gandiag.metrics.intervals import bootstrap_interval
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [3.0, 0.0]
    >>> low, high = bootstrap_interval(fid, real, fake, n_boot=50)
    >>> low < fid(real, fake) < high
    True
    >>> bootstrap_interval(fid, real, fake, n_boot=50) == (low, high)
    True
    """
    _check_level(level)
    r, f = to_numpy(real, name="real"), to_numpy(fake, name="fake")
    rng = np.random.default_rng(seed)
    values = [
        metric(r[rng.integers(0, len(r), len(r))], f[rng.integers(0, len(f), len(f))], **metric_kwargs)
        for _ in range(int(n_boot))
    ]
    full = (lambda: metric(r, f, **metric_kwargs)) if estimate is None else (lambda: estimate)
    return _interval(values, full, level, method, None)


def subsample_interval(
    metric: Metric,
    real: Any,
    fake: Any,
    *,
    repeats: int = 10,
    fraction: float = 0.5,
    level: float = 0.95,
    seed: int = 0,
    estimate: float | None = None,
    method: str = "centred",
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Interval from ``repeats`` subsamples without replacement of ``fraction`` of each set.

    Each subsample keeps ``max(2, round(fraction * n))`` rows of a set of ``n``, drawn with a
    ``numpy.random.default_rng(seed)`` stream; no row is repeated within a subsample, so
    nearest-neighbour and transport metrics are not made optimistic by duplicates.

    Parameters
    ----------
    metric, real, fake, level, seed, estimate, method, **metric_kwargs
        As for :func:`bootstrap_interval` (``seed`` seeds the subsampling stream).
    repeats : int, default 10
        Number of subsamples.
    fraction : float, default 0.5
        Share of each set in one subsample, in (0, 1] (the centred method needs it under 1).

    Returns
    -------
    low, high : tuple of float
        ``method="centred"``: estimate -+ t x sd x sqrt(f / (1 - f)) of the subsample values;
        ``"percentile"``: their ``(1 - level)/2`` and ``(1 + level)/2`` quantiles.

    Raises
    ------
    GandiagInputError
        As :func:`bootstrap_interval`, and ``fraction`` outside (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics import w1
    >>> from gandiag.metrics.intervals import subsample_interval
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [3.0, 0.0]
    >>> low, high = subsample_interval(w1, real, fake, repeats=10)
    >>> low < w1(real, fake) < high
    True
    >>> subsample_interval(w1, real, fake, fraction=0)
    Traceback (most recent call last):
    ...
    gandiag.errors.GandiagInputError: subsample fraction must be in (0, 1], got 0
    """
    _check_level(level)
    if not 0.0 < fraction <= 1.0:
        raise GandiagInputError(f"subsample fraction must be in (0, 1], got {fraction}")
    r, f = to_numpy(real, name="real"), to_numpy(fake, name="fake")
    m_r, m_f = max(2, int(round(fraction * len(r)))), max(2, int(round(fraction * len(f))))
    rng = np.random.default_rng(seed)
    values = [
        metric(r[rng.permutation(len(r))[:m_r]], f[rng.permutation(len(f))[:m_f]], **metric_kwargs)
        for _ in range(int(repeats))
    ]
    full = (lambda: metric(r, f, **metric_kwargs)) if estimate is None else (lambda: estimate)
    share = min(m_r / len(r), m_f / len(f))
    share = share if share < 1.0 else fraction  # tiny sets: m = 2 of 2
    return _interval(values, full, level, method, share)


def real_vs_real(metric: Metric, reference: Any, n: int, *, seed: int = 0, **metric_kwargs: Any) -> float:
    """``metric`` between two independent samples of size ``n`` from ``reference``.

    ``reference`` is a :class:`gandiag.Reference` (or a name/path for :func:`gandiag.reference`);
    the two samples are :func:`gandiag.references.reference_pair` ``(ref, n, seed)``: the sample a
    generator is scored against with this seed and an independent one (for stored samples, the two
    halves of one seeded permutation), the same pair as the real-vs-real row of every command.

    Parameters
    ----------
    metric : callable
        ``metric(real, fake, **metric_kwargs) -> float``.
    reference : Reference or str or path
        The reference distribution, or its name (``ring8``, ``grid25``, ``digits``,
        ``stacked-digits``) or a path to stored samples.
    n : int
        Size of each of the two samples.
    seed : int, default 0
        Seed of the pair, as for the generator rows it is the floor of.
    **metric_kwargs
        Passed on to ``metric``.

    Returns
    -------
    float
        ``metric`` between the two samples: the value a perfect generator would score at ``n``.

    Raises
    ------
    GandiagInputError
        An unknown reference name or path, or a stored reference holding fewer than ``2 n``
        samples.

    Examples
    --------
    >>> from gandiag.metrics import w1
    >>> from gandiag.metrics.intervals import real_vs_real
    >>> floor = real_vs_real(w1, "ring8", 200)
    >>> 0.0 < floor < 1.0
    True
    >>> real_vs_real(w1, "ring8", 200) == floor
    True
    """
    from ..references import reference as get_reference
    from ..references import reference_pair

    real, second = reference_pair(get_reference(reference), int(n), int(seed))
    return metric(real, second, **metric_kwargs)


#: The range each metric's value lies in: (low, high), a bound ``None`` when open, a string when
#: it is another column of the row (``modes_captured`` <= ``modes_total``). KID's unbiased
#: estimate can be negative, so it has no lower bound.
METRIC_RANGES: dict[str, tuple[float | str | None, float | str | None]] = {
    "js": (0.0, float(np.log(2.0))), "c2st_accuracy": (0.0, 1.0), "w1": (0.0, None), "w2": (0.0, None),
    "sliced_w": (0.0, None), "sinkhorn": (0.0, None), "fid": (0.0, None), "precision": (0.0, 1.0),
    "recall": (0.0, 1.0), "density": (0.0, None), "coverage": (0.0, 1.0), "modes_captured": (0.0, "modes_total"),
    "hq_fraction": (0.0, 1.0), "mode_kl": (0.0, None), "effective_modes": (1.0, "modes_total"),
    "intra_mode_spread": (0.0, None), "ndb": (0.0, None), "ndb_k": (0.0, 1.0), "label_accuracy": (0.0, 1.0),
    "label_mi": (0.0, None), "map_accuracy": (0.0, 1.0),
}


def clip_intervals(row: dict[str, Any]) -> None:
    """Clip every ``{metric}_ci_low``/``_ci_high`` of ``row`` to the metric's range (:data:`METRIC_RANGES`).

    The centred intervals are symmetric around the full-n value, so near a bound they can reach
    past it (modes_captured up to 11 of 8, a negative mode KL); the true value cannot be there,
    so clipping changes no coverage.
    """
    for metric, (low, high) in METRIC_RANGES.items():
        lo_col, hi_col = f"{metric}_ci_low", f"{metric}_ci_high"
        if lo_col not in row:
            continue
        bounds = []
        for bound in (low, high):
            value = row.get(bound) if isinstance(bound, str) else bound
            bounds.append(float(value) if value is not None and np.isfinite(float(value)) else None)
        for col in (lo_col, hi_col):
            value = row[col]
            if value is None or not np.isfinite(float(value)):
                continue
            if bounds[0] is not None:
                value = max(float(value), bounds[0])
            if bounds[1] is not None:
                value = min(float(value), bounds[1])
            row[col] = value

