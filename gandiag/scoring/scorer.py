"""``gandiag.score``: every metric of one generator against a reference, as one report row.

A :class:`Scorer` fixes what every row of a report shares -- the reference, ``n``, the seed, the
metric selection, the reference sample and what is derived from it once (its features, its NDB
bins) -- and scores generators or sample arrays against it, one row each
(CONTRACT.md sections 5 and 8):

* the reference sample is ``reference.sample(n, seed)``; the generator's sample is
  ``generator.sample(n, seed)``; a perfect generator is scored by :meth:`Scorer.floor`, which
  compares a second, independent reference sample (seed ``seed + FLOOR_SEED_OFFSET``; for a
  reference of stored samples, the other half of one seeded permutation, so no stored sample
  is in both) -- the real-vs-real row;
* divergences (:func:`gandiag.compare.rows.divergences`), feature statistics on the reference's
  extractor (samples themselves for vectors, the shipped digits classifier for ``digits`` and
  ``stacked-digits``, Inception from a given weights file for other images), mode metrics on
  the reference's modes or NDB bins (Richardson & Weiss 2018) and the flags of
  :func:`gandiag.modes.detect_flags`;
* with ``ci > 0``, ``{metric}_ci_low``/``_ci_high`` from ``ci`` subsamples of half of each set
  (FID: ``ci`` bootstrap resamples), as :mod:`gandiag.metrics.intervals` documents.

A subsample interval describes the metric at *half* the sample size; metrics biased by finite n
(FID, KID's variance, transport distances, ``modes_captured``) sit a little higher or lower there,
so an interval need not contain the full-size value. Compare intervals with intervals.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .._arrays import to_numpy
from ..errors import GandiagInputError, SourceError
from ..generators import Generator, as_generator
from ..metrics import fid, kid, prdc
from ..metrics._feature_api import PRDC_COLUMNS, feature_intervals
from ..metrics.intervals import _quantiles
from ..modes import FlagThresholds, NDBBins, detect_flags, mode_metrics, ndb_test
from ..references import Reference, _Empirical
from ..references import reference as get_reference
from .catalog import FAMILIES, METRIC_NAMES, OPTIONAL, REPORT_COLUMNS, family_of, resolve_metrics
from ..modes.flags import FLAG_COLUMNS

__all__ = ["DEFAULT_N", "FLOOR_SEED_OFFSET", "REAL_VS_REAL", "Scorer", "score"]

DEFAULT_N = 10_000
FLOOR_SEED_OFFSET = 1_000_003
REAL_VS_REAL = "real-vs-real"
KID_SUBSET = 1000
NDB_MIN_PER_BIN = 10  # reference samples per k-means bin below which k is lowered (noted)
PLOT_SAMPLES = 2000  # generated vectors kept with each row for the report's scatter plots
PLOT_IMAGES = 64  # generated images kept with each row for the report's 8 x 8 grids
#: Samples per side for the classifier (js, c2st) and exact transport (w1, w2) in a score row, and
#: for Sinkhorn: a seeded subset of the n, so that a checkpoint scores in seconds (the metric
#: functions themselves default to 5,000; raise these with ``max_points``/``sinkhorn_points``).
SCORE_MAX_POINTS = 2000
SCORE_SINKHORN_POINTS = 1000


def default_n(ref: Reference) -> int:
    """10,000, or half the stored samples of a reference made of them (so the floor has its own half)."""
    if isinstance(ref, _Empirical):
        return max(2, min(DEFAULT_N, len(ref) // 2))
    return DEFAULT_N


def _extractor_name(ref: Reference, given: str | None, weights: str | None) -> str | None:
    """``identity`` for vectors, ``digits`` for the digit references, ``inception`` if weights exist."""
    if given is not None:
        return given
    if not ref.is_image:
        return "identity"
    if ref.name in ("digits", "stacked-digits"):
        return "digits"
    from ..features.inception import InceptionWeightsError, resolve_weights_path

    try:
        resolve_weights_path(weights)
    except InceptionWeightsError:
        return None
    return "inception"


class Scorer:
    """Scores generators against one reference sample; see the module docstring.

    ``metrics``: names or families (:func:`gandiag.scoring.catalog.resolve_metrics`), default all
    that apply offline. ``thresholds``: the flags' thresholds. ``max_points``: samples per side for
    the classifier and exact transport (default 2,000), ``sinkhorn_points`` for Sinkhorn (default
    1,000): seeded subsets, reported in ``notes``. ``ndb_bins``: K for NDB. ``extractor``/``inception_weights``:
    the feature extractor (default by reference) and the Inception weights file.
    """

    def __init__(
        self,
        reference: str | Reference,
        *,
        n: int | None = None,
        seed: int = 0,
        metrics: str | Sequence[str] | None = None,
        ci: int = 0,
        thresholds: FlagThresholds | None = None,
        max_points: int = SCORE_MAX_POINTS,
        sinkhorn_points: int = SCORE_SINKHORN_POINTS,
        ndb_bins: int = 100,
        extractor: str | None = None,
        inception_weights: str | None = None,
    ) -> None:
        self.reference = get_reference(reference)
        ref = self.reference
        self.n = default_n(ref) if n is None else _check_int("n", n, 16)
        self.seed = _check_int("seed", seed, 0)
        self.ci = _check_int("ci", ci, 0)
        self.thresholds = thresholds or FlagThresholds()
        self.max_points = _check_int("max-points", max_points, 2)
        self.sinkhorn_points = _check_int("sinkhorn-points", sinkhorn_points, 2)
        self.is_vector = not ref.is_image
        self.dim = int(np.prod(ref.shape))
        self.extractor_name = _extractor_name(ref, extractor, inception_weights)
        self.metrics = resolve_metrics(metrics, is_vector=self.is_vector, dim=self.dim,
                                       features_available=self.extractor_name is not None)
        self.families = {family_of(m) for m in self.metrics}
        self.notes: list[str] = []
        self.real, self._floor_sample = self._reference_samples()
        self._extractor = None
        if "features" in self.families:
            from ..features import get_extractor

            opts = {"weights": inception_weights} if self.extractor_name == "inception" else {}
            self._extractor = get_extractor(self.extractor_name, **opts)
            self.real_features = self._extractor(self.real)
        self.bins = None
        if "ndb" in self.families or ("modes" in self.families and not ref.has_modes):
            k = int(ndb_bins)
            if self.n < NDB_MIN_PER_BIN * k:
                k = max(2, self.n // NDB_MIN_PER_BIN)
                self.notes.append(f"NDB with k = {k} bins (n = {self.n} < {NDB_MIN_PER_BIN} x {int(ndb_bins)})")
            self.bins = NDBBins.fit(self.real, k, seed=self.seed)
        self.assigner = ref if ref.has_modes else self.bins

    # -- samples -------------------------------------------------------------------------
    def _reference_samples(self) -> tuple[np.ndarray, np.ndarray]:
        ref, n = self.reference, self.n
        if isinstance(ref, _Empirical):
            if 2 * n > len(ref):
                raise GandiagInputError(
                    f"--n {n}: reference {ref.name!r} holds {len(ref)} samples; the real-vs-real floor needs "
                    f"two disjoint sets of n, so use --n {len(ref) // 2} or less"
                )
            both = ref.sample(2 * n, seed=self.seed)
            return _np(both[:n]), _np(both[n:])
        return _np(ref.sample(n, seed=self.seed)), _np(ref.sample(n, seed=self.seed + FLOOR_SEED_OFFSET))

    def sample(self, generator: Generator) -> np.ndarray:
        """``n`` samples of ``generator`` with the scorer's seed, checked against the reference's shape."""
        try:
            x = generator.sample(self.n, seed=self.seed)
        except (SourceError, GandiagInputError):
            raise
        except Exception as exc:  # a user's program that fails to run is that source's problem
            raise SourceError(generator.source, f"sampling failed: {type(exc).__name__}: {exc}") from exc
        arr = _np(x)
        if arr.shape[1:] != tuple(self.reference.shape):
            raise SourceError(generator.source, f"produces samples of shape {arr.shape[1:]} but reference "
                              f"{self.reference.name!r} expects {tuple(self.reference.shape)}")
        if not np.isfinite(arr).all():
            raise SourceError(generator.source, "produced NaN or infinite samples")
        return arr

    # -- scoring -------------------------------------------------------------------------
    def score_samples(self, fake: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
        """(row of metric columns, details: per-mode shares and counts) for generated ``fake``."""
        row: dict[str, Any] = {m: math.nan for m in METRIC_NAMES if m not in OPTIONAL or m in self.metrics}
        row.update({f: pd.NA for f in FLAG_COLUMNS[:3]}, evidence="")
        details: dict[str, Any] = {}
        notes = list(self.notes)
        if "divergences" in self.families:
            from ..compare.rows import divergences

            wanted = [m for m in self.metrics if family_of(m) == "divergences"]
            div = divergences(self.real, fake, seed=self.seed, repeats=self.ci, max_points=self.max_points,
                              sinkhorn_points=self.sinkhorn_points, classifier_points=self.max_points,
                              metrics=wanted)
            row.update({k: v for k, v in div.items() if k.split("_ci_")[0] in wanted})
            if div.get("notes"):
                notes.append(div["notes"])
        if "features" in self.families:
            notes += self._features(fake, row)
        if "modes" in self.families or "ndb" in self.families:
            self._modes(fake, row, details)
        row["notes"] = "; ".join(dict.fromkeys(n for n in notes if n))
        return row, details

    def _features(self, fake: np.ndarray, row: dict[str, Any]) -> list[str]:
        wanted = [m for m in self.metrics if family_of(m) == "features"]
        feats = self._extractor(fake)
        notes = []
        subset = min(KID_SUBSET, self.n)
        if subset < KID_SUBSET and "kid" in wanted:
            notes.append(f"KID on subsets of {subset} (n < {KID_SUBSET})")
        if "fid" in wanted:
            row["fid"] = fid(self.real_features, feats)
        if "kid" in wanted:
            row["kid"] = kid(self.real_features, feats, subset_size=subset, seed=self.seed)
        if set(wanted) & set(PRDC_COLUMNS):
            values = prdc(self.real_features, feats)
            row.update({k: values[k] for k in PRDC_COLUMNS if k in wanted})
        if self.ci:
            intervals = feature_intervals(self.real_features, feats, tuple(wanted), seed=self.seed,
                                          n_boot=self.ci, repeats=self.ci)
            for name, (low, high) in intervals.items():
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
        return notes

    def _modes(self, fake: np.ndarray, row: dict[str, Any], details: dict[str, Any]) -> None:
        if "ndb" in self.families:
            row.update(ndb_test(self.bins, fake).as_dict())
        if "modes" not in self.families:
            return
        mm = mode_metrics(fake, self.assigner, self.real, seed=self.seed)
        row.update({k: mm[k] for k in FAMILIES["modes"] if k in self.metrics})
        row.update(detect_flags(mm, self.thresholds))
        details.update({k: mm[k] for k in ("mode_shares", "reference_shares", "mode_counts", "mode_hq_counts",
                                           "reference_hq_fraction", "mode_label")})
        if self.ci:
            self._mode_intervals(fake, row)

    def _mode_intervals(self, fake: np.ndarray, row: dict[str, Any]) -> None:
        """Subsample intervals of the mode metrics: half of each set, ``ci`` times, seeded."""
        rng = np.random.default_rng(self.seed)
        half = max(2, self.n // 2)
        values = []
        for _ in range(self.ci):
            f = fake[rng.permutation(len(fake))[:half]]
            r = self.real[rng.permutation(len(self.real))[:half]]
            values.append(mode_metrics(f, self.assigner, r, seed=self.seed))
        for name in FAMILIES["modes"]:
            if name in self.metrics and name != "modes_total":
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _quantiles([v[name] for v in values], 0.95)

    def row(self, fake: np.ndarray, *, source: str, step: int | None = None) -> pd.Series:
        """The report row (a pandas Series) for generated samples ``fake``."""
        metrics, details = self.score_samples(fake)
        head = {"source": source, "step": step, "n": self.n, "seed": self.seed}
        series = pd.Series({**head, **_ordered(metrics)}, name=source, dtype=object)
        shown = PLOT_SAMPLES if fake.ndim == 2 else PLOT_IMAGES  # a scatter needs many points, a grid 64
        keep = np.random.default_rng(self.seed).permutation(len(fake))[:shown]
        series.attrs.update(details, samples=fake[np.sort(keep)])
        return series

    def __call__(self, generator_or_samples: Any, *, source: str | None = None) -> pd.Series:
        """Score a :class:`gandiag.Generator` or an (n, ...) sample array."""
        gen = as_generator(generator_or_samples)
        return self.row(self.sample(gen), source=source or gen.source, step=gen.step)

    def floor(self) -> pd.Series:
        """The real-vs-real row: the metrics of an independent reference sample, a perfect generator's."""
        return self.row(self._floor_sample, source=REAL_VS_REAL, step=None)


def _ordered(row: dict[str, Any]) -> dict[str, Any]:
    """Contract columns first (in CONTRACT.md order), then intervals and notes."""
    first = [c for c in REPORT_COLUMNS if c in row]
    return {**{c: row[c] for c in first}, **{c: v for c, v in row.items() if c not in first}}


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    return to_numpy(x, name="samples", dtype=np.float32)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GandiagInputError(f"--{name}: need an integer >= {minimum}, got {value!r}")
    return int(value)


def score(
    generator_or_samples: Any,
    reference: str | Reference,
    *,
    n: int | None = None,
    seed: int = 0,
    metrics: str | Sequence[str] | None = None,
    **options: Any,
) -> pd.Series:
    """Every selected metric of one generator (or sample array) against ``reference``: a pandas Series.

    Index: ``source``, ``step``, ``n``, ``seed``, the metric columns of CONTRACT.md section 5
    (NaN where a metric was not selected or does not apply), the flags and ``evidence``, any
    ``_ci_low``/``_ci_high`` columns (``ci=K``) and ``notes``. ``n`` defaults to 10,000 (for a
    sample array: all of its samples, at most 10,000). ``series.attrs`` holds the per-mode shares
    (``mode_shares``, ``reference_shares``, ``mode_counts``, ``mode_hq_counts``) and a few generated
    ``samples``. ``options`` go to :class:`Scorer`.
    """
    gen = as_generator(generator_or_samples)
    if n is None and hasattr(gen, "__len__"):
        n = min(len(gen), default_n(get_reference(reference)))
    return Scorer(reference, n=n, seed=seed, metrics=metrics, **options)(gen)
