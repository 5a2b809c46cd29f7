"""The family runners: each computes the columns of one metric family for a score row.

A runner declares the columns it produces (:attr:`FamilyRunner.columns`) and fills them in
``run``. Grouped computations stay grouped: one classifier gives ``js``, ``c2st_accuracy`` and
``c2st_pvalue``; one PRDC pass the four nearest-neighbour columns; one :func:`gandiag.modes.mode_metrics`
call the six mode columns and the flags. At import, :func:`check_producers` makes sure that every
metric registered in :mod:`gandiag.metrics.registry` has exactly one runner and that no runner
produces an unregistered column.

Adding a metric: write its function in :mod:`gandiag.metrics`, register its spec, and add its name
to the ``columns`` of its family's runner below (and the line that computes it in ``run``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import fid, kid, prdc
from ..metrics._feature_api import feature_intervals
from ..metrics.c2st_knn import MAX_DIM as KNN_MAX_DIM
from ..metrics.intervals import resample_interval
from ..metrics.registry import FAMILY_NAMES, get_spec, metric_names
from ..metrics.wasserstein import EXACT_DIFFERENCES_MAX_DIM
from ..modes import ModeDetails, evaluate_flags, mode_metrics, ndb_test
from ..schema import DIVERGENCE_COLUMNS, FEATURE_COLUMNS, MODE_COLUMNS, NDB_COLUMNS, interval_columns
from .divergence_row import divergences, transport_row

if TYPE_CHECKING:
    from .scorer import Scorer

__all__ = ["RUNNERS", "FamilyRunner", "check_producers", "runner_of"]

KID_SUBSET = 1000
PRDC = FEATURE_COLUMNS[2:]  # precision, recall, density, coverage


class FamilyRunner:
    """Computes the ``columns`` of ``family`` for one generated sample; see the module docstring."""

    family: str = ""
    columns: tuple[str, ...] = ()

    def run(self, scorer: "Scorer", fake: np.ndarray, wanted: list[str], row: dict[str, Any],
            details: dict[str, Any]) -> list[str]:
        """Fill ``row[c]`` for ``c`` in ``wanted`` (and their intervals when ``scorer.resamples``); return notes.

        Typed by-products go into ``details`` (the modes runner: ``flags``, a FlagResult, and
        ``modes``, a ModeDetails).
        """
        raise NotImplementedError

    def select(self, scorer: "Scorer", details: dict[str, Any]) -> list[str]:
        """The metrics of this family to compute for one row: the scorer's selection (``details["condition"]``
        tells the conditional runner what kind of generator the row is for)."""
        return [m for m in scorer.metrics if get_spec(m).family == self.family]


#: Samples per side for the classifier on vectors with d <= 8 (the k-NN classifier of
#: :mod:`gandiag.metrics.c2st_knn`, ~0.2 s at 10,000 on one core): more points let it see wider
#: modes (grid25 with std x 2: JS 0.13 at 10,000 per side, 0.08 at 2,000; the truth is 0.173).
KNN_CLASSIFIER_POINTS = 10_000


def _classifier_points(scorer: "Scorer") -> int:
    """``scorer.max_points``, raised to :data:`KNN_CLASSIFIER_POINTS` for low-dimensional vectors."""
    shape = tuple(scorer.real.shape)
    if len(shape) == 2 and shape[1] <= KNN_MAX_DIM:
        return max(int(scorer.max_points), KNN_CLASSIFIER_POINTS)
    return int(scorer.max_points)


#: Exact transport columns, computed after (or, with a second thread allowed, beside) the other families.
TRANSPORT = ("w1", "w2")


class Divergences(FamilyRunner):
    """One classifier (js, c2st_*), exact transport (w1, w2), sliced W, Sinkhorn, optional KDE JS.

    Exact transport is the row's largest single cost (two network simplex solves on 2,000 points
    per side). It is handed to ``details["defer"]``: with a second thread allowed
    (``details["pool"]``: torch may use 2 or more threads) it runs there while every other family is
    computed -- POT's solver and scipy's cost matrix release the GIL -- otherwise it runs inline at
    the end. Either way its values and notes land in the same places, so a row is the same
    whatever the thread count. Vectors of more than 64 dimensions build their cost matrices with
    torch, whose thread count may change the last bits, so they never go to the second thread.
    """

    family = "divergences"
    columns = (*DIVERGENCE_COLUMNS, "js_density")

    def run(self, scorer, fake, wanted, row, details):
        compute = functools.partial(divergences, scorer.real, fake, seed=scorer.seed, repeats=scorer.resamples,
                                    max_points=scorer.max_points, sinkhorn_points=scorer.sinkhorn_points,
                                    classifier_points=_classifier_points(scorer))
        exact = [m for m in wanted if m in TRANSPORT]
        rest = [m for m in wanted if m not in TRANSPORT]
        if exact:
            pool = details.get("pool") if fake.ndim == 2 and fake.shape[1] <= EXACT_DIFFERENCES_MAX_DIM else None
            job = functools.partial(transport_row, scorer.real, fake, exact, seed=scorer.seed, repeats=scorer.resamples,
                                    max_points=scorer.max_points)
            future = pool.submit(job) if pool is not None else None
            details["defer"](lambda row: self._merge(future.result() if future is not None else job(), exact, row))
        return self._merge(compute(metrics=rest), rest, row) if rest else []

    @staticmethod
    def _merge(div: dict[str, Any], wanted: list[str], row: dict[str, Any]) -> list[str]:
        row.update({k: v for k, v in div.items() if k.split("_ci_")[0] in wanted})
        return [div["notes"]] if div.get("notes") else []


class Features(FamilyRunner):
    """FID, KID and one PRDC pass on the reference's feature extractor."""

    family = "features"
    columns = FEATURE_COLUMNS

    def run(self, scorer, fake, wanted, row, details):
        feats = scorer.features(fake)
        real = scorer.real_features
        notes = []
        subset = min(KID_SUBSET, scorer.n)
        if subset < KID_SUBSET and "kid" in wanted:
            notes.append(f"KID on subsets of {subset} (n < {KID_SUBSET})")
        if "fid" in wanted:
            row["fid"] = fid(real, feats)
        if "kid" in wanted:
            row["kid"] = kid(real, feats, subset_size=subset, seed=scorer.seed, real_cache=scorer.reference_cache)
        if set(wanted) & set(PRDC):
            values = prdc(real, feats)
            row.update({k: values[k] for k in PRDC if k in wanted})
        if scorer.resamples:
            intervals = feature_intervals(real, feats, tuple(wanted), seed=scorer.seed, n_boot=scorer.resamples,
                                          repeats=scorer.resamples)
            for name, (low, high) in intervals.items():
                row.update(zip(interval_columns(name), (low, high)))
        return notes


class Modes(FamilyRunner):
    """The six mode columns (true modes or NDB bins), the flags, and subsample intervals."""

    family = "modes"
    columns = MODE_COLUMNS

    def run(self, scorer, fake, wanted, row, details):
        mm = mode_metrics(fake, scorer.assigner, scorer.real, seed=scorer.seed)
        row.update({k: mm[k] for k in self.columns if k in wanted})
        details["flags"] = evaluate_flags(mm, scorer.thresholds)
        details["modes"] = ModeDetails.from_metrics(mm)
        row.update(details["flags"].as_columns())
        if scorer.resamples:
            self._intervals(scorer, fake, wanted, row, mm)
        return []

    def _intervals(self, scorer, fake, wanted, row, full):
        """Subsample intervals: half of each set, ``resamples`` times, seeded, centred on the full-n values."""
        rng = np.random.default_rng(scorer.seed)
        half = max(2, scorer.n // 2)
        values = []
        for _ in range(scorer.resamples):
            f = fake[rng.permutation(len(fake))[:half]]
            r = scorer.real[rng.permutation(len(scorer.real))[:half]]
            values.append(mode_metrics(f, scorer.assigner, r, seed=scorer.seed))
        for name in self.columns:
            if name in wanted and get_spec(name).has_interval:
                row.update(zip(interval_columns(name), resample_interval(
                    [v[name] for v in values], full[name], level=0.95, fraction=half / len(fake))))


class NDB(FamilyRunner):
    """Number of statistically different bins on the scorer's k-means bins (Richardson & Weiss 2018)."""

    family = "ndb"
    columns = NDB_COLUMNS

    def run(self, scorer, fake, wanted, row, details):
        row.update({k: v for k, v in ndb_test(scorer.bins, fake).as_dict().items() if k in wanted})
        return []


from .conditional_runner import Conditional  # noqa: E402  (subclasses FamilyRunner, defined above)

RUNNERS: tuple[FamilyRunner, ...] = (Divergences(), Features(), Modes(), NDB(), Conditional())


def runner_of(family: str) -> FamilyRunner:
    """The runner of ``family``."""
    return next(r for r in RUNNERS if r.family == family)


def check_producers(runners: tuple[FamilyRunner, ...] = RUNNERS) -> None:
    """Every registered metric has exactly one runner, of its own family; no runner makes an unregistered column."""
    registered = set(metric_names())
    produced: dict[str, list[str]] = {}
    for runner in runners:
        if runner.family not in FAMILY_NAMES:
            raise ImportError(f"runner {type(runner).__name__}: unknown family {runner.family!r}")
        for column in runner.columns:
            produced.setdefault(column, []).append(type(runner).__name__)
            if column not in registered:
                raise ImportError(f"runner {type(runner).__name__} produces {column!r}, which is not registered")
            if get_spec(column).family != runner.family:
                raise ImportError(f"{column!r} is registered in family {get_spec(column).family!r} "
                                  f"but produced by the {runner.family!r} runner")
    for name in registered:
        if len(produced.get(name, [])) != 1:
            raise ImportError(f"metric {name!r} has {len(produced.get(name, []))} producers "
                              f"({', '.join(produced.get(name, [])) or 'none'}); it needs exactly one")


check_producers()
