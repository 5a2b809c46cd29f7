"""What each metric *is*, stated once: one :class:`MetricSpec` per report column.

A spec gives the column's name, its family (the computation that produces it), which way is
worse, what kind of 95% interval the scorer gives it, its label in plots and tables, whether it is
in the default selection, and what data it applies to. The catalog (metric selection), the gate
(directions, which metrics take a baseline margin), the plots (labels) and the run findings read
these specs; none keeps a table of its own. Models: scikit-learn's
``make_scorer(greater_is_better=...)``, torchmetrics' ``higher_is_better``, torch-fidelity's
``registry.py`` (registration that refuses duplicates).

Adding a metric is three moves: write the function (in :mod:`gandiag.metrics`), register its spec
here, and add its column to the family runner in :mod:`gandiag.scoring.runners` (an import-time
check there makes sure every registered name has exactly one producer).

Examples
--------
>>> from gandiag.metrics.registry import get_spec, metric_names
>>> get_spec("w1").worse, get_spec("w1").interval
('higher', 'subsample')
>>> metric_names(family="ndb")
('ndb', 'ndb_k')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import GandiagInputError, did_you_mean
from ..schema import CONDITIONAL_COLUMNS, METRIC_COLUMNS

__all__ = ["CONDITIONS", "FAMILY_NAMES", "INTERVAL_KINDS", "MetricSpec", "WORSE_KINDS", "families", "get_spec", "metric_names",
           "metric_specs", "register"]

#: The families, in report order: one runner each in :mod:`gandiag.scoring.runners`.
FAMILY_NAMES: tuple[str, ...] = ("divergences", "features", "modes", "ndb", "conditional")
#: ``higher``/``lower``: larger/smaller values are worse; ``from1``: the distance from 1 is.
WORSE_KINDS: tuple[str | None, ...] = ("higher", "lower", "from1", None)
#: ``bootstrap``: percentile bootstrap; ``subsample``: half-size subsamples; ``none``: no interval.
INTERVAL_KINDS: tuple[str, ...] = ("bootstrap", "subsample", "none")
DATA_KINDS = frozenset({"vectors", "images"})
#: What a conditional metric needs of the generator: ``classes`` (G(z, y)) or ``translation`` (G(x)).
CONDITIONS: tuple[str | None, ...] = (None, "classes", "translation")


@dataclass(frozen=True)
class MetricSpec:
    """One report column: see the module docstring.

    ``data``: the kinds of samples it applies to (``vectors``, ``images``); ``max_dim``: the largest
    vector dimension it applies to (``None``: any); ``needs_extractor``: it is computed on features,
    so images other than the built-in digits need the Inception weights file. ``condition``: a
    conditional metric's kind of generator (``classes``, ``translation``; family ``conditional``,
    never in the default set: computed whenever the generator is such a one). ``floor``: what a
    perfect generator scores and what chance scores, in words, where that is not the real-vs-real row.
    ``interval_trusted``: its 95% interval covers the value at full n at least 90% of the time in
    ``benchmarks/bench_calibration.py`` (reports/calibration.md); the gate's baseline rule
    compares intervals only of trusted metrics. ``False`` for a metric whose interval is shown
    but is not calibrated (and for metrics without one).
    """

    name: str
    family: str
    worse: str | None
    interval: str
    label: str
    default: bool = True
    data: frozenset[str] = DATA_KINDS
    max_dim: int | None = None
    needs_extractor: bool = False
    condition: str | None = None
    floor: str = ""
    interval_trusted: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"metric name {self.name!r} is not an identifier")
        if self.family not in FAMILY_NAMES:
            raise ValueError(f"metric {self.name!r}: family {self.family!r} is not one of {FAMILY_NAMES}")
        if self.worse not in WORSE_KINDS:
            raise ValueError(f"metric {self.name!r}: worse={self.worse!r} is not one of {WORSE_KINDS}")
        if self.interval not in INTERVAL_KINDS:
            raise ValueError(f"metric {self.name!r}: interval={self.interval!r} is not one of {INTERVAL_KINDS}")
        if self.condition not in CONDITIONS or (self.condition is not None) != (self.family == "conditional"):
            raise ValueError(f"metric {self.name!r}: condition={self.condition!r} must be one of {CONDITIONS[1:]} "
                             "exactly when the family is 'conditional'")
        if self.condition is not None and self.default:
            raise ValueError(f"metric {self.name!r}: conditional metrics are not in the default set")
        if not self.data or not self.data <= DATA_KINDS:
            raise ValueError(f"metric {self.name!r}: data={sorted(self.data)} must be a subset of {sorted(DATA_KINDS)}")

    @property
    def has_interval(self) -> bool:
        return self.interval != "none"

    @property
    def trusted_interval(self) -> bool:
        """An interval that the calibration benchmark found to hold its nominal coverage (>= 90%)."""
        return self.has_interval and self.interval_trusted

    def unavailable(self, *, is_vector: bool, dim: int, features_available: bool = True) -> str | None:
        """Why the metric does not apply to this data, or ``None`` when it does."""
        kind = "vectors" if is_vector else "images"
        if self.max_dim is not None and (not is_vector or dim > self.max_dim):
            return f"{self.name} needs vector data with d <= {self.max_dim}, this reference has d = {dim}"
        if kind not in self.data:
            return f"{self.name} applies to {' and '.join(sorted(self.data))} only"
        if self.needs_extractor and not features_available:
            return (f"{self.name} on these images needs the Inception weights file: pass --inception-weights PATH "
                    "or set GANDIAG_INCEPTION_WEIGHTS")
        return None


_REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec) -> MetricSpec:
    """Add ``spec``; a name registered twice is an error (one column, one description)."""
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register() takes a MetricSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY:
        raise ValueError(f"metric {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> MetricSpec:
    """The spec of metric ``name``; :class:`GandiagInputError` naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise GandiagInputError(f"unknown metric {name!r}{did_you_mean(name, _REGISTRY)}; known metrics: "
                                f"{', '.join(_REGISTRY)}") from None


def metric_specs(*, family: str | None = None, default_only: bool = False) -> tuple[MetricSpec, ...]:
    """Registered specs in report order (families in :data:`FAMILY_NAMES` order, then registration)."""
    order = {f: i for i, f in enumerate(FAMILY_NAMES)}
    specs = sorted(_REGISTRY.values(), key=lambda s: order[s.family])  # stable: registration order within
    return tuple(s for s in specs if (family is None or s.family == family) and (s.default or not default_only))


def metric_names(*, family: str | None = None, default_only: bool = False) -> tuple[str, ...]:
    """Names of :func:`metric_specs`."""
    return tuple(s.name for s in metric_specs(family=family, default_only=default_only))


def families(*, default_only: bool = True) -> dict[str, tuple[str, ...]]:
    """``{family: metric names}``, default metrics only unless ``default_only=False``."""
    return {f: metric_names(family=f, default_only=default_only) for f in FAMILY_NAMES}


def _register_all(specs: Iterable[MetricSpec]) -> None:
    for spec in specs:
        register(spec)


_V = frozenset({"vectors"})
_register_all([
    # divergences: one classifier gives js, c2st_accuracy, c2st_pvalue; exact transport w1, w2
    # js: a held-out bound clipped at 0, neither smooth nor normal near equal distributions: its
    # interval held the full-n value in 12 of 15 seeds (reports/calibration.md), so no baseline margin
    MetricSpec("js", "divergences", "higher", "subsample", "JS, classifier (nats)", interval_trusted=False),
    MetricSpec("c2st_accuracy", "divergences", "higher", "none", "C2ST accuracy"),
    MetricSpec("c2st_pvalue", "divergences", "lower", "none", "C2ST p-value"),
    MetricSpec("js_density", "divergences", "higher", "subsample", "JS, KDE (nats)", default=False, data=_V,
               max_dim=3, interval_trusted=False),  # not in the calibration benchmark (not a default metric)
    MetricSpec("w1", "divergences", "higher", "subsample", "W1"),
    MetricSpec("w2", "divergences", "higher", "subsample", "W2"),
    MetricSpec("sliced_w", "divergences", "higher", "subsample", "sliced W2"),
    MetricSpec("sinkhorn", "divergences", "higher", "subsample", "Sinkhorn"),
    # feature statistics: on the reference's extractor (the samples themselves for vectors)
    MetricSpec("fid", "features", "higher", "bootstrap", "FID", needs_extractor=True),
    MetricSpec("kid", "features", "higher", "subsample", "KID", needs_extractor=True),
    MetricSpec("precision", "features", "lower", "subsample", "precision", needs_extractor=True),
    MetricSpec("recall", "features", "lower", "subsample", "recall", needs_extractor=True),
    MetricSpec("density", "features", "lower", "subsample", "density", needs_extractor=True),
    MetricSpec("coverage", "features", "lower", "subsample", "coverage", needs_extractor=True),
    # modes: on the reference's modes, or NDB bins for a reference without them
    MetricSpec("modes_total", "modes", None, "none", "modes total"),
    MetricSpec("modes_captured", "modes", "lower", "subsample", "modes captured"),
    MetricSpec("hq_fraction", "modes", "lower", "subsample", "high-quality fraction"),
    MetricSpec("mode_kl", "modes", "higher", "subsample", "mode KL (nats)"),
    MetricSpec("effective_modes", "modes", "lower", "subsample", "effective modes"),
    MetricSpec("intra_mode_spread", "modes", "from1", "subsample", "intra-mode spread"),
    # NDB: one test on k-means bins fitted on the reference sample
    MetricSpec("ndb", "ndb", "higher", "none", "NDB (bins different)"),
    MetricSpec("ndb_k", "ndb", "higher", "none", "NDB / K"),
    # conditional generators (gandiag.conditional): computed for class-conditional or translation generators
    MetricSpec("label_accuracy", "conditional", "lower", "none", "label accuracy", default=False, condition="classes",
               floor="the assigner's accuracy on real labelled data; chance 1/K"),
    MetricSpec("label_mi", "conditional", "lower", "bootstrap", "label MI (nats)", default=False, condition="classes",
               floor="log K when the label fixes the class (less the assigner's errors); chance 0 (+ (K-1)^2/2n bias)"),
    MetricSpec("label_mi_pvalue", "conditional", "higher", "none", "label independence p-value", default=False,
               condition="classes", floor="1/(B+1) when the output depends on the label; uniform on (0, 1] by chance"),
    MetricSpec("intra_class_fid", "conditional", "higher", "none", "intra-class FID", default=False,
               condition="classes", needs_extractor=True,
               floor="the real-vs-real per-class FID at n/K samples per class"),
    MetricSpec("input_dependence", "conditional", "lower", "none", "input dependence (dCor)", default=False,
               condition="translation", floor="1 for an invertible linear map; chance about 0"),
    MetricSpec("input_dependence_pvalue", "conditional", "higher", "none", "input independence p-value",
               default=False, condition="translation", floor="1/(B+1) when G(x) depends on x; uniform by chance"),
    MetricSpec("output_diversity", "conditional", "from1", "none", "output diversity", default=False,
               condition="translation", floor="1 on the target distribution; 0 for a constant map"),
    MetricSpec("cycle_error", "conditional", "higher", "none", "cycle error", default=False, condition="translation",
               floor="0 for a true inverse pair; about 1 when F(G(x)) is unrelated to x"),
    MetricSpec("map_accuracy", "conditional", "lower", "none", "map accuracy", default=False,
               condition="translation", floor="1 for the true map; chance about 1/K on a K-mode toy"),
])

_contract = tuple(s.name for s in metric_specs(default_only=True))
if _contract != METRIC_COLUMNS:  # pragma: no cover - a broken registry must not import
    raise ImportError(f"the default metrics {_contract} are not docs/contract.md's columns {METRIC_COLUMNS}")
if metric_names(family="conditional") != CONDITIONAL_COLUMNS:  # pragma: no cover
    raise ImportError(f"the conditional metrics {metric_names(family='conditional')} are not {CONDITIONAL_COLUMNS}")
