"""``gandiag.score``: every metric of one generator against a reference, as one report row.

A :class:`Scorer` fixes what every row of a report shares -- the reference, ``n``, the seed, the
metric selection, the reference sample and what is derived from it once (its features, its NDB
bins) -- and scores generators or sample arrays against it, one row each
(docs/contract.md sections 5 and 8):

* the reference sample is ``reference.sample(n, seed)``; the generator's sample is
  ``generator.sample(n, seed)``; a perfect generator is scored by :meth:`Scorer.floor`, which
  compares a second, independent reference sample (seed ``seed + FLOOR_SEED_OFFSET``; for a
  reference of stored samples, the other half of one seeded permutation, so no stored sample
  is in both) -- the real-vs-real row;
* divergences (:func:`gandiag.scoring.divergence_row.divergences`), feature statistics on the reference's
  extractor (samples themselves for vectors, the shipped digits classifier for ``digits`` and
  ``stacked-digits``, Inception from a given weights file for other images), mode metrics on
  the reference's modes or NDB bins (Richardson & Weiss 2018) and the flags of
  :func:`gandiag.modes.detect_flags`;
* with ``resamples > 0``, ``{metric}_ci_low``/``_ci_high`` from ``resamples`` subsamples of half of
  each set (FID: ``resamples`` bootstrap resamples), as :mod:`gandiag.metrics.intervals` documents.

Each interval is centred on the full-n value, with the resamples' spread carried to full n
(:mod:`gandiag.metrics.intervals`), so metrics biased by finite n (FID, transport distances,
``modes_captured``), which read higher or lower at half n, still bracket their full-n value;
``benchmarks/bench_calibration.py`` measures how often (reports/calibration.md).
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from .._arrays import to_numpy
from ..errors import GandiagInputError, SourceError
from ..features.choice import choose_extractor
from ..conditional_loading import TranslationGenerator, as_translation
from ..generators import Generator, as_generator
from ..metrics.registry import get_spec, metric_names
from ..metrics.wasserstein import EXACT_DIFFERENCES_MAX_DIM
from ..metrics.intervals import clip_intervals
from ..modes import FlagThresholds, NDBBins
from ..modes.flags import min_trusted_n
from ..references import FLOOR_SEED_OFFSET, Reference, reference_pair, stored_samples
from ..references import reference as get_reference
from ..defaults import DEFAULTS, deprecated_alias
from ..schema import DEFAULT_N, FLAG_NAMES, REAL_VS_REAL, UNTRUSTED_FLAGS
from ..threads import torch_threads
from .catalog import resolve_metrics
from .result import ScoreResult
from .runners import RUNNERS, TRANSPORT

__all__ = ["DEFAULT_N", "FLOOR_SEED_OFFSET", "REAL_VS_REAL", "Scorer", "score"]

NDB_MIN_PER_BIN = 10  # reference samples per k-means bin below which k is lowered (noted)
#: Samples of at most this many values (64 x 64) are drawn on one torch thread: the small nets that
#: make them run 10x slower on two threads (2-D MLP at n = 10,000: 0.14 s on one, 1.4 s on two).
SINGLE_THREAD_SAMPLE_VALUES = 4096
PLOT_SAMPLES = 2000  # generated vectors kept with each row for the report's scatter plots
PLOT_IMAGES = 64  # generated images kept with each row for the report's 8 x 8 grids
#: Samples per side for the classifier (js, c2st) and exact transport (w1, w2) in a score row, and
#: for Sinkhorn: a seeded subset of the n, so that a checkpoint scores in seconds (the metric
#: functions themselves default to 5,000; raise these with ``max_points``/``sinkhorn_points``).
SCORE_MAX_POINTS = 2000
SCORE_SINKHORN_POINTS = 1000


def default_n(ref: Reference) -> int:
    """10,000, or half the stored samples of a reference made of them (so the floor has its own half)."""
    stored = stored_samples(ref)
    return DEFAULT_N if stored is None else max(2, min(DEFAULT_N, stored // 2))


def _extractor_name(ref: Reference, given: str | None, weights: str | None) -> tuple[str | None, str]:
    """(extractor, why none applies): chosen by the sample shape (:func:`gandiag.features.choice.choose_extractor`)."""
    if given is not None:
        return given, ""
    choice = choose_extractor(ref.shape, reference_name=ref.name, weights=weights)
    return choice.name, choice.why_none


class Scorer:
    """Scores generators against one reference sample; see the module docstring.

    ``metrics``: names or families (:func:`gandiag.scoring.catalog.resolve_metrics`), default all
    that apply offline. ``thresholds``: the flags' thresholds. ``max_points``: samples per side for
    the classifier and exact transport (default 2,000), ``sinkhorn_points`` for Sinkhorn (default
    1,000): seeded subsets, reported in ``notes``. ``ndb_bins``: K for NDB. ``extractor``/``inception_weights``:
    the feature extractor (default by sample shape) and the Inception weights file. ``feature_cache``
    (``True`` or a :class:`gandiag.features.cache.FeatureCache`): where the reference side's
    features (reference sample and floor sample) are cached by content; default none. ``source``
    (a reference) and ``inverse`` (a network, callable or path): every generator scored is a
    translation generator G: X -> Y applied to samples of ``source``, with inverse F
    (:mod:`gandiag.scoring.conditional_runner`). ``conditional_thresholds``: the conditional flags'
    thresholds (:class:`gandiag.conditional.ConditionalThresholds`).
    """

    def __init__(
        self,
        reference: str | Reference,
        *,
        n: int | None = None,
        seed: int = DEFAULTS["seed"],
        metrics: str | Sequence[str] | None = DEFAULTS["metrics"],
        resamples: int = DEFAULTS["resamples"],
        thresholds: FlagThresholds | None = None,
        max_points: int = SCORE_MAX_POINTS,
        sinkhorn_points: int = SCORE_SINKHORN_POINTS,
        ndb_bins: int = 100,
        extractor: str | None = None,
        inception_weights: str | None = DEFAULTS["inception_weights"],
        ci: int | None = None,
        feature_cache: Any = None,
        source: str | Reference | None = None,
        inverse: Any = None,
        conditional_thresholds: Any = None,
    ) -> None:
        self.reference = get_reference(reference)
        self.source_reference = None if source is None else get_reference(source)
        self.inverse = inverse
        self.conditional_thresholds = conditional_thresholds  # None: gandiag.conditional.ConditionalThresholds()
        ref = self.reference
        self.n = default_n(ref) if n is None else _check_int("n", n, 16)
        self.seed = _check_int("seed", seed, 0)
        self.resamples = _check_int("resamples", deprecated_alias("ci", ci, resamples), 0)
        self.thresholds = thresholds or FlagThresholds()
        self.max_points = _check_int("max-points", max_points, 2)
        self.sinkhorn_points = _check_int("sinkhorn-points", sinkhorn_points, 2)
        self.is_vector = not ref.is_image
        self.dim = int(np.prod(ref.shape))
        self.extractor_name, self.features_note = _extractor_name(ref, extractor, inception_weights)
        self.metrics = resolve_metrics(metrics, is_vector=self.is_vector, dim=self.dim,
                                       features_available=self.extractor_name is not None)
        self.families = {get_spec(m).family for m in self.metrics}
        self.notes: list[str] = [self.features_note] if self.features_note and metrics is None else []
        self.real, self._floor_sample = self._reference_samples()
        #: Reference-only by-products that metrics keep between rows (KID's real-real subset sums).
        self.reference_cache: dict[Any, Any] = {}
        self._extractor = None
        if "features" in self.families:
            from ..features import extract_features, get_extractor

            opts = {"weights": inception_weights} if self.extractor_name == "inception" else {}
            self._extractor = get_extractor(self.extractor_name, **opts)
            self._cache = feature_cache if self.extractor_name != "identity" else None
            self.real_features = extract_features(self.real, self._extractor, cache=self._cache)
        self.bins = None
        if "ndb" in self.families or ("modes" in self.families and not ref.has_modes):
            k = int(ndb_bins)
            if self.n < NDB_MIN_PER_BIN * k:
                k = max(2, self.n // NDB_MIN_PER_BIN)
                self.notes.append(f"NDB with k = {k} bins (n = {self.n} < {NDB_MIN_PER_BIN} x {int(ndb_bins)})")
            # the floor sample, never fitted on, gives the reference's own hq_fraction (gandiag.modes.ndb)
            self.bins = NDBBins.fit(self.real, k, seed=self.seed).with_heldout(self._floor_sample)
        self.assigner = ref if ref.has_modes else self.bins
        if "modes" in self.families:
            stored = stored_samples(ref)
            self.notes += [flags_trust_note(self.assigner, self.n, self.thresholds,
                                            bins_cap=int(ndb_bins) if self.assigner is self.bins else None,
                                            max_n=None if stored is None else stored // 2)]

    # -- samples -------------------------------------------------------------------------
    def _reference_samples(self) -> tuple[np.ndarray, np.ndarray]:
        real, second = reference_pair(self.reference, self.n, self.seed)
        return _np(real), _np(second)

    def sample(self, generator: Generator) -> np.ndarray:
        """``n`` samples of ``generator`` with the scorer's seed, checked against the reference's shape."""
        try:
            with torch_threads(1 if self.dim <= SINGLE_THREAD_SAMPLE_VALUES else None):
                x = generator.sample(self.n, seed=self.seed)
        except (SourceError, GandiagInputError):
            raise
        except Exception as exc:  # a user's program that fails to run is that source's problem
            raise SourceError(generator.source, f"sampling failed: {type(exc).__name__}: {exc}") from exc
        return self.checked(x, generator)

    def checked(self, x: Any, generator: Generator) -> np.ndarray:
        """Samples ``x`` of ``generator`` as float32 numpy, checked against the reference's shape and finite."""
        arr = _np(x)
        if arr.shape[1:] != tuple(self.reference.shape):
            raise SourceError(generator.source, f"produces samples of shape {arr.shape[1:]} but reference "
                              f"{self.reference.name!r} expects {tuple(self.reference.shape)}")
        if not np.isfinite(arr).all():
            raise SourceError(generator.source, "produced NaN or infinite samples")
        return arr

    # -- scoring -------------------------------------------------------------------------
    def features(self, fake: np.ndarray) -> np.ndarray:
        """``fake`` through the scorer's feature extractor (the reference's features are ``real_features``)."""
        from ..features import extract_features

        return extract_features(fake, self._extractor, cache=self._cache if fake is self._floor_sample else None)

    def score_samples(self, fake: np.ndarray, *, condition: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(row of metric columns, details: per-mode shares and counts) for generated ``fake``.

        Each family's runner (:mod:`gandiag.scoring.runners`) fills the selected columns of its family.
        ``condition``: a conditional generator's requested labels or translation inputs
        (:mod:`gandiag.scoring.conditional_runner`); ``None`` for an unconditional one.
        """
        row: dict[str, Any] = {m: math.nan for m in metric_names() if get_spec(m).default or m in self.metrics}
        row.update({f: pd.NA for f in FLAG_NAMES}, evidence="")
        deferred: list[Callable[[dict[str, Any]], list[str]]] = []
        details: dict[str, Any] = {"condition": condition, "defer": deferred.append}
        notes = list(self.notes)
        # A second thread for work that releases the GIL (exact transport), when torch may use two.
        with ThreadPoolExecutor(max_workers=1) if torch.get_num_threads() > 1 else contextlib.nullcontext() as pool:
            details["pool"] = pool
            # Vectors: the pool's job (exact transport, Divergences) holds one core, so the rest runs on
            # one thread fewer (on 2 cores: one; the k-d tree queries follow torch's count) instead of
            # competing with it (about 5% of a ring8 row at n = 10,000; benchmarks/bench_audit.py).
            threads = torch.get_num_threads()
            beside = (pool is not None and fake.ndim == 2 and fake.shape[1] <= EXACT_DIFFERENCES_MAX_DIM
                      and any(m in TRANSPORT for m in self.metrics))
            with torch_threads(threads - 1) if beside else contextlib.nullcontext():
                for runner in RUNNERS:
                    wanted = runner.select(self, details)
                    if wanted:
                        notes += runner.run(self, fake, wanted, row, details)
            for finish in deferred:  # in submission order: the row does not depend on which finished first
                notes += finish(row)
        del details["pool"], details["defer"]
        clip_intervals(row)  # a centred interval never reaches past the metric's range
        row["notes"] = "; ".join(dict.fromkeys(n for n in notes if n))
        return row, details

    def result(self, fake: np.ndarray, *, source: str, step: int | None = None, condition: Any = None) -> ScoreResult:
        """The typed row (:class:`ScoreResult`) for generated samples ``fake`` (``condition``: see :meth:`score_samples`)."""
        values, details = self.score_samples(fake, condition=condition)
        shown = PLOT_SAMPLES if fake.ndim == 2 else PLOT_IMAGES  # a scatter needs many points, a grid 64
        labels = getattr(condition, "labels", None)  # class-conditional: the report's per-class plots need them
        order = np.random.default_rng(self.seed).permutation(len(fake))
        keep = order[:shown]
        if labels is not None and fake.ndim > 2:  # and up to 8 images of each requested class
            picked = [order[np.asarray(labels)[order] == k][:8] for k in range(int(condition.n_classes))]
            keep = np.union1d(keep, np.concatenate(picked)).astype(np.int64)
        keep = np.sort(keep)
        return ScoreResult(source=source, step=step, n=self.n, seed=self.seed, values=values,
                           flags=details.get("flags"), modes=details.get("modes"), samples=fake[keep],
                           conditional=details.get("conditional"),
                           sample_labels=None if labels is None else np.asarray(labels)[keep])

    def row(self, fake: np.ndarray, *, source: str, step: int | None = None) -> pd.Series:
        """The report row (a pandas Series) for generated samples ``fake``."""
        return self.result(fake, source=source, step=step).to_series()

    def score(self, generator_or_samples: Any, *, source: str | None = None) -> ScoreResult:
        """Score a :class:`gandiag.Generator` or an (n, ...) sample array: the typed row.

        A conditional generator (``n_classes``, or a translation generator) is sampled with balanced
        labels (or on source samples) and gets the conditional columns too.
        """
        from .conditional_runner import draw_conditional

        if self.source_reference is not None or self.inverse is not None:  # --source/--inverse: G is a translation
            gen: Generator = as_translation(generator_or_samples, self.source_reference, self.inverse)
        else:
            gen = as_generator(generator_or_samples)
        drawn = draw_conditional(self, gen)
        if drawn is not None:
            return self.result(drawn[0], source=source or gen.source, step=gen.step, condition=drawn[1])
        return self.result(self.sample(gen), source=source or gen.source, step=gen.step)

    def __call__(self, generator_or_samples: Any, *, source: str | None = None) -> pd.Series:
        """Score a :class:`gandiag.Generator` or an (n, ...) sample array: the contract's Series."""
        return self.score(generator_or_samples, source=source).to_series()

    def cautions(self) -> list[str]:
        """The notes saying that this scorer's n is too small for the flags to tell a dropped mode
        from chance (:data:`gandiag.schema.UNTRUSTED_FLAGS`); ``watch`` and ``Monitor`` print them once."""
        return [note for note in self.notes if note.startswith(UNTRUSTED_FLAGS)]

    def floor_result(self) -> ScoreResult:
        """The real-vs-real row, typed: an independent reference sample, a perfect generator's."""
        return self.result(self._floor_sample, source=REAL_VS_REAL, step=None)

    def floor(self) -> pd.Series:
        """The real-vs-real row: the metrics of an independent reference sample, a perfect generator's."""
        return self.floor_result().to_series()


def flags_trust_note(assigner: Any, n: int, thresholds: FlagThresholds, *, bins_cap: int | None = None,
                     max_n: int | None = None) -> str:
    """A warning for the row's ``notes`` when ``n`` is under :func:`gandiag.modes.min_trusted_n`, else ``""``.

    Exact shares for a mixture (its weights), shares counted on the same-size reference sample
    for NDB bins (with their held-out hq_fraction) and for references whose modes come from a
    classifier (taken as equal). ``bins_cap``: the number of NDB bins asked for, when the assigner
    is NDB bins; below ``NDB_MIN_PER_BIN`` x ``bins_cap`` samples the scorer fits fewer bins, so the
    n to advise is where the bins fitted *at that n* become trustworthy
    (:func:`_needed_with_growing_bins`), not the present bins' n. ``max_n``: the largest n the
    reference allows (half its stored samples); an n beyond it is said to be out of reach.
    """
    level = thresholds.guard
    if level is None:
        return ""
    m = int(assigner.n_modes)
    weights = getattr(assigner, "weights", None)
    counted = weights is None or getattr(assigner, "counts", None) is not None
    shares = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, dtype=np.float64)
    r = getattr(assigner, "heldout_hq_fraction", None) or 1.0
    needed = min_trusted_n(shares, hq_fraction=r, counted=counted, significance=level)
    if n >= needed:
        return ""
    if bins_cap is not None and m < bins_cap:
        needed = _needed_with_growing_bins(bins_cap, r, level)
    if counted:  # two significant digits, rounded up: the bins' shares vary with the seed
        step = 10 ** max(0, len(str(needed)) - 2)
        needed = -(-needed // step) * step
    label = getattr(assigner, "mode_label", "mode")
    reach = ""
    if max_n is not None and needed > max_n:
        reach = (f", more than this reference allows (at most --n {max_n}: give it more samples, or read "
                 "mode_dropping with care)")
    return (f"{UNTRUSTED_FLAGS} at n = {n}: a wholly missing typical {label} is within chance "
            f"(significance {level:g} over {m} {label}s); mode_dropping needs --n {needed} or more{reach}")


def _needed_with_growing_bins(cap: int, hq_fraction: float, level: float) -> int:
    """The n to advise when the scorer fitted fewer NDB bins than ``cap`` because n was small.

    Below ``NDB_MIN_PER_BIN`` x ``cap`` samples the scorer fits k = n // 10 bins: a typical bin then
    holds about 10 r reference samples (r the held-out hq_fraction), while an empty bin is only
    significant with ceil(log2(k / level)) of them (8 at k = 2, 12 at k = 25): more n brings more bins,
    not fuller ones, so the advice is the n at which ``cap`` bins pass :func:`min_trusted_n` (equal
    shares assumed): about 1,700-1,900 for 100 bins at r = 0.7-0.8.
    """
    need = min_trusted_n(np.full(cap, 1.0 / cap), hq_fraction=hq_fraction, counted=True, significance=level)
    return max(NDB_MIN_PER_BIN * cap, need)


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
    n: int | None = DEFAULTS["n"],
    seed: int = DEFAULTS["seed"],
    metrics: str | Sequence[str] | None = DEFAULTS["metrics"],
    latent_dim: int | None = DEFAULTS["latent_dim"],
    latent: str | None = DEFAULTS["latent"],
    **options: Any,
) -> pd.Series:
    """Every selected metric of one generator (or sample array) against ``reference``: a pandas Series.

    The generator's ``n`` samples (``generator.sample(n, seed)``) are compared with
    ``reference.sample(n, seed)`` by every metric of the selection (docs/contract.md section 5), and the
    flags of section 6 are judged on the mode metrics.

    Parameters
    ----------
    generator_or_samples : Generator, torch.nn.Module, callable or array_like
        A :class:`gandiag.Generator` (e.g. from :func:`gandiag.load_generator`), a network in
        memory (an ``nn.Module`` or a callable ``z -> x``: :func:`gandiag.generators.as_generator`),
        or generated samples, numpy or torch, shape (n, d) or (n, C, H, W).
    reference : str or Reference
        ``ring8``, ``grid25``, ``digits``, ``stacked-digits``, a path to real samples, or a
        :class:`gandiag.Reference`.
    n : int, optional
        Samples per side; default 10,000 (for a sample array: all of its samples, at most 10,000;
        for a reference of stored samples, at most half of them, so the floor has its own half).
    seed : int, default 0
        Seed of both samples and of every estimator: the same seed gives the same row.
    metrics : str or sequence of str, optional
        Metric or family names (``"w1,fid"``, ``["modes", "js"]``); default every metric that
        applies offline (:mod:`gandiag.metrics.registry`).
    latent_dim, latent : optional
        For a network in memory: its latent dimension (default: its int attribute ``latent_dim``)
        and prior (``"normal"``, default, or ``"uniform"``).
    **options
        ``source`` (a reference) makes the generator a translation generator G: X -> Y applied to
        samples of ``source``, ``inverse`` its inverse F: Y -> X (a network, callable or path);
        the rest is passed to :class:`Scorer`: ``resamples`` (95% intervals from K resamples), ``thresholds``,
        ``max_points``, ``sinkhorn_points``, ``ndb_bins``, ``extractor``, ``inception_weights``.

    Returns
    -------
    pandas.Series
        Index ``source``, ``step``, ``n``, ``seed``, the metric columns of docs/contract.md section 5
        (NaN where a metric was not selected or does not apply), the flags and ``evidence``, any
        ``_ci_low``/``_ci_high`` columns and ``notes``. ``series.attrs`` holds the per-mode shares
        (``mode_shares``, ``reference_shares``, ``mode_counts``, ``mode_hq_counts``) and a few
        generated ``samples``; :meth:`Scorer.score` gives the same row typed (:class:`ScoreResult`).
        A class-conditional generator (an int ``n_classes``) or a translation generator (``source=``)
        adds the conditional columns and flags (README "Conditional generators"), and for the
        former ``series.attrs["classes"]`` (one row per class) and ``series.attrs["confusion"]``.

    Raises
    ------
    GandiagInputError
        An unknown reference or metric, samples of the wrong shape, NaN samples, n < 16.

    Examples
    --------
    >>> import gandiag
    >>> perfect = gandiag.reference("ring8").sample(2000, seed=1)
    >>> row = gandiag.score(perfect, "ring8", metrics="modes")
    >>> int(row["modes_captured"]), bool(row["mode_dropping"]), bool(row["mode_collapse"])
    (8, False, False)
    """
    source, inverse = options.pop("source", None), options.pop("inverse", None)
    if source is not None or inverse is not None or isinstance(generator_or_samples, TranslationGenerator):
        gen = as_translation(generator_or_samples, source, inverse)
    else:
        gen = as_generator(generator_or_samples, latent_dim=latent_dim, latent=latent)
    if n is None and hasattr(gen, "__len__"):
        n = min(len(gen), default_n(get_reference(reference)))
    return Scorer(reference, n=n, seed=seed, metrics=metrics, **options)(gen)
