"""Feature-statistics metrics (fid, kid, prdc, frechet_distance) re-exported by gandiag.metrics.

Plus their uncertainty (docs/contract.md section 5, ``_ci_low``/``_ci_high`` and the real-vs-real
floor), built on :mod:`gandiag.metrics.intervals`:

* :func:`feature_metric` turns a column name (``fid``, ``kid``, ``precision``, ``recall``,
  ``density``, ``coverage``) into a float-valued ``metric(real, fake)`` that
  ``bootstrap_interval``, ``subsample_interval`` and ``real_vs_real`` accept;
* :func:`feature_intervals` gives all six intervals at once: FID by the percentile bootstrap,
  KID and the four nearest-neighbour metrics by subsampling without replacement (duplicated rows
  from a bootstrap would sit at distance 0 from each other and inflate them), computing
  precision/recall/density/coverage once per subsample for all four.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import GandiagInputError
from ..schema import FEATURE_COLUMNS
from .fid import fid
from .frechet import frechet_distance
from .intervals import bootstrap_interval, resample_interval, subsample_interval
from .kid import kid
from .prdc import prdc

__all__ = ["FEATURE_COLUMNS", "feature_intervals", "feature_metric", "fid", "frechet_distance", "kid", "prdc"]

PRDC_COLUMNS = FEATURE_COLUMNS[2:]  # precision, recall, density, coverage: one PRDC pass


def feature_metric(column: str, **options: Any) -> Callable[[Any, Any], float]:
    """``metric(real, fake) -> float`` for a feature column; ``options`` go to fid/kid/prdc.

    Parameters
    ----------
    column : str
        One of ``fid``, ``kid``, ``precision``, ``recall``, ``density``, ``coverage``.
    **options
        Keyword arguments of :func:`fid`, :func:`kid` or :func:`prdc`.

    Returns
    -------
    callable
        ``metric(real, fake) -> float``, the form :func:`bootstrap_interval`,
        :func:`subsample_interval` and :func:`real_vs_real` accept.

    Raises
    ------
    GandiagInputError
        An unknown ``column``.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics import feature_metric
    >>> x = np.random.default_rng(0).normal(size=(64, 2))
    >>> feature_metric("precision")(x, x)
    1.0
    >>> round(feature_metric("fid")(x, x + [3.0, 4.0]), 6)
    25.0
    >>> feature_metric("w1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gandiag.errors.GandiagInputError: unknown feature metric 'w1': use one of fid, kid, precision, ...
    """
    if column == "fid":
        return lambda real, fake: fid(real, fake, **options)
    if column == "kid":
        return lambda real, fake: kid(real, fake, **options)
    if column in PRDC_COLUMNS:
        return lambda real, fake: prdc(real, fake, **options)[column]
    raise GandiagInputError(f"unknown feature metric {column!r}: use one of {', '.join(FEATURE_COLUMNS)}")


def feature_intervals(
    real: Any,
    fake: Any,
    columns: tuple[str, ...] = FEATURE_COLUMNS,
    *,
    level: float = 0.95,
    seed: int = 0,
    n_boot: int = 100,
    repeats: int = 10,
    fraction: float = 0.5,
    kid_options: dict[str, Any] | None = None,
    prdc_options: dict[str, Any] | None = None,
) -> dict[str, tuple[float, float]]:
    """``{column: (low, high)}`` intervals at ``level`` for the requested feature ``columns``.

    FID: :func:`bootstrap_interval` (``n_boot`` resamples). KID and precision/recall/density/
    coverage: :func:`subsample_interval` (``repeats`` subsamples of ``fraction`` of each set);
    KID's ``subset_size`` is capped at the subsample size. Same seed, same intervals.

    Parameters
    ----------
    real, fake : array_like
        Feature sets (n_r, d) and (n_f, d), numpy arrays or torch tensors.
    columns : tuple of str, default all six
        Which of ``fid``, ``kid``, ``precision``, ``recall``, ``density``, ``coverage`` to give;
        other names are ignored.
    level : float, default 0.95
        Confidence level, in (0, 1).
    seed : int, default 0
        Seed of the resamples and subsamples.
    n_boot : int, default 100
        Bootstrap resamples for FID.
    repeats : int, default 10
        Subsamples for the others.
    fraction : float, default 0.5
        Share of each set in one subsample, in (0, 1].
    kid_options, prdc_options : dict, optional
        Keyword arguments of :func:`kid` and :func:`prdc`.

    Returns
    -------
    dict of str to tuple of float
        ``{column: (low, high)}`` for the requested columns, in the order fid, kid, then the
        requested ones of precision, recall, density, coverage.

    Raises
    ------
    GandiagInputError
        ``level`` or ``fraction`` out of range, or bad input to the metrics.

    Examples
    --------
    >>> import numpy as np
    >>> from gandiag.metrics import feature_intervals, fid
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [1.0, 0.0]
    >>> out = feature_intervals(real, fake, n_boot=20, repeats=5, kid_options={"subsets": 10})
    >>> list(out)
    ['fid', 'kid', 'precision', 'recall', 'density', 'coverage']
    >>> all(low <= high for low, high in out.values())
    True
    >>> out["fid"][0] < fid(real, fake) < out["fid"][1]
    True
    >>> list(feature_intervals(real, fake, ("coverage", "fid"), n_boot=20, repeats=5))
    ['fid', 'coverage']
    """
    out: dict[str, tuple[float, float]] = {}
    common = {"level": level, "seed": seed}
    if "fid" in columns:
        out["fid"] = bootstrap_interval(fid, real, fake, n_boot=n_boot, **common)
    if "kid" in columns:
        opts = dict(kid_options or {})
        smallest = max(2, int(round(fraction * min(len(real), len(fake)))))
        opts["subset_size"] = min(opts.get("subset_size", 1000), smallest)
        out["kid"] = subsample_interval(kid, real, fake, repeats=repeats, fraction=fraction, **common, **opts)
    wanted = [c for c in PRDC_COLUMNS if c in columns]
    if wanted:
        values: list[dict[str, float]] = []
        full = prdc(real, fake, **(prdc_options or {}))

        def record(r: Any, f: Any) -> float:
            values.append(prdc(r, f, **(prdc_options or {})))
            return values[-1][wanted[0]]

        out[wanted[0]] = subsample_interval(record, real, fake, repeats=repeats, fraction=fraction,
                                            estimate=full[wanted[0]], **common)
        share = min(max(2, round(fraction * len(real))) / len(real), max(2, round(fraction * len(fake))) / len(fake))
        for column in wanted[1:]:  # centred as gandiag.metrics.intervals documents
            out[column] = resample_interval([v[column] for v in values], full[column], level=level,
                                            fraction=share if share < 1.0 else fraction)
    return out
