"""Uncertainty of sample-based metrics: bootstrap intervals and the real-vs-real floor.

Every metric here is an estimate from finitely many samples. Two ways to show its noise:

* :func:`bootstrap_interval` - percentile bootstrap (Efron & Tibshirani 1993, ch. 13): resample
  the rows of ``real`` and ``fake`` independently *with* replacement, recompute, take the
  ``(1 - level)/2`` and ``(1 + level)/2`` quantiles. Cheap metrics only; duplicated rows make
  nearest-neighbour and transport metrics optimistic, so for those prefer
* :func:`subsample_interval` - repeated subsampling *without* replacement (Politis, Romano &
  Wolf 1999, "Subsampling"): ``repeats`` draws of a ``fraction`` of each set, quantiles of the
  recomputed metric. Its spread is that of the metric at the smaller size, so it is a
  conservative (wider) interval for the full-size value.

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


def bootstrap_interval(
    metric: Metric,
    real: Any,
    fake: Any,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``metric(real, fake, **metric_kwargs)``.

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
    **metric_kwargs
        Passed on to ``metric``.

    Returns
    -------
    low, high : tuple of float
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the resampled values.

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
    return _quantiles(values, level)


def subsample_interval(
    metric: Metric,
    real: Any,
    fake: Any,
    *,
    repeats: int = 10,
    fraction: float = 0.5,
    level: float = 0.95,
    seed: int = 0,
    **metric_kwargs: Any,
) -> tuple[float, float]:
    """Interval from ``repeats`` subsamples without replacement of ``fraction`` of each set.

    Each subsample keeps ``max(2, round(fraction * n))`` rows of a set of ``n``, drawn with a
    ``numpy.random.default_rng(seed)`` stream; no row is repeated within a subsample, so
    nearest-neighbour and transport metrics are not made optimistic by duplicates.

    Parameters
    ----------
    metric, real, fake, level, seed, **metric_kwargs
        As for :func:`bootstrap_interval` (``seed`` seeds the subsampling stream).
    repeats : int, default 10
        Number of subsamples.
    fraction : float, default 0.5
        Share of each set in one subsample, in (0, 1].

    Returns
    -------
    low, high : tuple of float
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the subsample values.

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
    return _quantiles(values, level)


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
