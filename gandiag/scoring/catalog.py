"""Which metrics exist, which apply to a reference, and how a user names them (CONTRACT.md section 5).

Metrics come in four families, each computed by one module:

* ``divergences`` (:mod:`gandiag.compare.rows`): ``js``, ``c2st_accuracy``, ``c2st_pvalue``,
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

from ..errors import GandiagInputError
from ..metrics.js_density import MAX_DIM
from ..modes.flags import FLAG_COLUMNS

__all__ = ["FAMILIES", "METRIC_NAMES", "OPTIONAL", "REPORT_COLUMNS", "resolve_metrics"]

FAMILIES: dict[str, tuple[str, ...]] = {
    "divergences": ("js", "c2st_accuracy", "c2st_pvalue", "w1", "w2", "sliced_w", "sinkhorn"),
    "features": ("fid", "kid", "precision", "recall", "density", "coverage"),
    "modes": ("modes_total", "modes_captured", "hq_fraction", "mode_kl", "effective_modes", "intra_mode_spread"),
    "ndb": ("ndb", "ndb_k"),
}
#: Metrics computed only when asked for by name (not in the default set).
OPTIONAL = ("js_density",)
METRIC_NAMES: tuple[str, ...] = (*(m for names in FAMILIES.values() for m in names), *OPTIONAL)
#: Columns of a score row, in order (CONTRACT.md section 5), before the extras (intervals, notes).
REPORT_COLUMNS: tuple[str, ...] = (
    "source", "step", "n", "seed", *(m for m in METRIC_NAMES if m not in OPTIONAL), *FLAG_COLUMNS,
)


def family_of(metric: str) -> str:
    """The family that computes ``metric`` (``js_density`` is a divergence)."""
    for family, names in FAMILIES.items():
        if metric in names:
            return family
    return "divergences"


def resolve_metrics(
    selection: str | Sequence[str] | None, *, is_vector: bool, dim: int, features_available: bool = True
) -> tuple[str, ...]:
    """The metric names to compute, in report order, for data with ``is_vector``/``dim``.

    Raises :class:`GandiagInputError` naming an unknown metric, or a metric that does not apply
    (``js_density`` on images or d > 3; feature metrics on images without a feature extractor).
    """
    if selection is None:
        wanted = [m for m in METRIC_NAMES if m not in OPTIONAL]
        if not features_available:
            wanted = [m for m in wanted if m not in FAMILIES["features"]]
        return tuple(wanted)
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
                f"--metrics: unknown metric {item!r}; use metric names ({', '.join(METRIC_NAMES)}) "
                f"or families ({', '.join(FAMILIES)})"
            )
    if "js_density" in chosen and not (is_vector and dim <= MAX_DIM):
        raise GandiagInputError(f"--metrics: js_density needs vector data with d <= {MAX_DIM}, this reference has d = {dim}")
    if not features_available and chosen & set(FAMILIES["features"]):
        raise GandiagInputError(
            "--metrics: fid/kid/precision/recall/density/coverage on these images need the Inception weights file: "
            "pass --inception-weights PATH or set GANDIAG_INCEPTION_WEIGHTS"
        )
    return tuple(m for m in METRIC_NAMES if m in chosen)
