"""Which metrics exist, which apply to a reference, and how a user names them (docs/contract.md section 5).

What each metric is (family, direction, interval, label, default, where it applies) is registered
once in :mod:`gandiag.metrics.registry`; this module reads it. Metrics come in four families, each
computed by one runner of :mod:`gandiag.scoring.runners`:

* ``divergences`` (:mod:`gandiag.scoring.divergence_row`): ``js``, ``c2st_accuracy``, ``c2st_pvalue``,
  ``w1``, ``w2``, ``sliced_w``, ``sinkhorn``, and on request ``js_density`` (vectors, d <= 3);
* ``features`` (:mod:`gandiag.metrics`, on the reference's feature extractor): ``fid``, ``kid``,
  ``precision``, ``recall``, ``density``, ``coverage``;
* ``modes`` (:mod:`gandiag.modes`): ``modes_total``, ``modes_captured``, ``hq_fraction``,
  ``mode_kl``, ``effective_modes``, ``intra_mode_spread``, on the reference's modes or, for a
  reference without modes, on NDB bins;
* ``ndb``: ``ndb``, ``ndb_k`` (k-means bins fitted on the reference sample).

A selection is a comma-separated string or a list of metric names and family names
(``"w1,fid"``, ``["modes", "js"]``); ``None`` means the default set: every metric that applies to
the reference and runs offline (FID/KID/PRDC on images other than the built-in digits need the
Inception weights file, so they join the default set only when it is given).
"""

from __future__ import annotations

from typing import Sequence

from ..errors import GandiagInputError, did_you_mean
from ..metrics.registry import families, get_spec, metric_names
from ..schema import REPORT_COLUMNS

__all__ = ["FAMILIES", "METRIC_NAMES", "OPTIONAL", "REPORT_COLUMNS", "family_of", "resolve_metrics"]

#: family -> its default metrics (from :mod:`gandiag.metrics.registry`).
FAMILIES: dict[str, tuple[str, ...]] = families()
#: Metrics computed only when asked for by name (not in the default set).
OPTIONAL: tuple[str, ...] = tuple(m for m in metric_names() if not get_spec(m).default)
#: Every metric name, in report order.
METRIC_NAMES: tuple[str, ...] = (*metric_names(default_only=True), *OPTIONAL)


def family_of(metric: str) -> str:
    """The family that computes ``metric``."""
    return get_spec(metric).family


def resolve_metrics(
    selection: str | Sequence[str] | None, *, is_vector: bool, dim: int, features_available: bool = True
) -> tuple[str, ...]:
    """The metric names to compute, in report order, for data with ``is_vector``/``dim``.

    ``None`` selects every default metric that applies (:meth:`MetricSpec.unavailable`). Raises
    :class:`GandiagInputError` naming an unknown metric, or a metric that does not apply
    (``js_density`` on images or d > 3; feature metrics on images without a feature extractor).
    """
    def why_not(name: str) -> str | None:
        return get_spec(name).unavailable(is_vector=is_vector, dim=dim, features_available=features_available)

    if selection is None:
        return tuple(m for m in metric_names(default_only=True) if why_not(m) is None)
    items = [s.strip() for s in selection.split(",")] if isinstance(selection, str) else [str(s).strip() for s in selection]
    items = [s for s in items if s]
    if not items:
        raise GandiagInputError("--metrics: empty selection; name metrics or families, e.g. 'w1,fid' or 'modes'")
    chosen: set[str] = set()
    for item in items:
        if item in FAMILIES:
            chosen.update(FAMILIES[item])
        elif item in METRIC_NAMES:
            chosen.add(item)
        else:
            raise GandiagInputError(
                f"--metrics: unknown metric {item!r}{did_you_mean(item, (*METRIC_NAMES, *FAMILIES))}; use metric "
                f"names ({', '.join(METRIC_NAMES)}) "
                f"or families ({', '.join(FAMILIES)})"
            )
    for name in METRIC_NAMES:
        if name in chosen and why_not(name):
            raise GandiagInputError(f"--metrics: {why_not(name)}")
    return tuple(m for m in METRIC_NAMES if m in chosen)
