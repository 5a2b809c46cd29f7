"""The ``conditional`` family runner: a conditional generator's columns, flags, confusion matrix and classes.

A :class:`gandiag.scoring.Scorer` asks :func:`draw_conditional` how to sample a generator: a
class-conditional one (``n_classes``) is sampled with balanced requested labels
(:func:`gandiag.conditional_loading.sample_labelled`), a translation one
(:class:`gandiag.conditional_loading.TranslationGenerator`) on source samples; the returned
*condition* (the labels; or the inputs, F(G(x)), G(F(y)) and the true images) travels to
:class:`Conditional`, which fills the columns of :data:`gandiag.schema.CONDITIONAL_COLUMNS` that
apply, the three flags (``evidence`` gains their clauses) and, in ``details["conditional"]``, the
:class:`gandiag.conditional.ConditionalResult` (the confusion matrix and the per-class table).

The reference sample of the row is the class-labelled one: its labels are read with
:func:`gandiag.conditional_loading.labelled_reference_pair` (same seeds), so the per-class
reference sets are the scorer's own reference sample split by true class. Unconditional
generators are not touched: their rows have no conditional columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conditional import ConditionalThresholds, evaluate_classes, evaluate_translation
from ..conditional_loading import TranslationGenerator, labelled_reference_pair, n_classes_of, sample_labelled
from ..errors import GandiagInputError, SourceError
from ..metrics.registry import get_spec, metric_names
from ..schema import CONDITIONAL_COLUMNS, REAL_VS_REAL, interval_columns
from .runners import FamilyRunner

if TYPE_CHECKING:
    from .result import ScoreResult
    from .scorer import Scorer

__all__ = ["ClassCondition", "Conditional", "TranslationCondition", "conditional_floor_result", "draw_conditional"]


@dataclass(frozen=True)
class ClassCondition:
    """The requested class of each generated sample."""

    labels: np.ndarray
    n_classes: int
    kind: str = "classes"


@dataclass(frozen=True)
class TranslationCondition:
    """The inputs x of G(x), and where known F(G(x)), the target inputs y with G(F(y)), the true images."""

    inputs: np.ndarray
    source_cycled: np.ndarray | None = None
    target_inputs: np.ndarray | None = None
    target_cycled: np.ndarray | None = None
    expected: np.ndarray | None = None
    tolerance: float | None = None
    kind: str = "translation"


def _np(x: Any) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)


def draw_conditional(scorer: "Scorer", gen: Any) -> tuple[np.ndarray, ClassCondition | TranslationCondition] | None:
    """``(samples, condition)`` for a conditional generator, ``None`` for an unconditional one."""
    if isinstance(gen, TranslationGenerator):
        x, y = gen.sample_translated(scorer.n, scorer.seed)
        fake = scorer.checked(_np(y), gen)
        cond: dict[str, Any] = {"inputs": _np(x)}
        if gen.inverse is not None:
            cond.update(source_cycled=_np(gen.inverse_translate(y)), target_inputs=scorer.real,
                        target_cycled=_np(gen.translate(gen.inverse_translate(scorer.real))))
        if gen.true_map is not None and gen.tolerance is not None:
            cond.update(expected=_np(gen.true_map(x)), tolerance=float(gen.tolerance))
        return fake, TranslationCondition(**cond)
    if getattr(gen, "needs_classes", False):  # a two-input program without n_classes: the reference's
        if not scorer.reference.n_modes:
            raise SourceError(gen.source, f"a class-conditional program without n_classes, and reference "
                              f"{scorer.reference.name!r} has no classes to take the count from",
                              hint='save it with torch.export.save(..., extra_files={"n_classes": "K"})')
        gen.n_classes = int(scorer.reference.n_modes)
        gen.needs_classes = False
    k = n_classes_of(gen)
    if k is None:
        return None
    try:
        x, labels = sample_labelled(gen, scorer.n, scorer.seed)
    except (SourceError, GandiagInputError):
        raise
    except Exception as exc:  # a user's program that fails to run is that source's problem
        raise SourceError(gen.source, f"sampling with labels failed: {type(exc).__name__}: {exc}") from exc
    return scorer.checked(_np(x), gen), ClassCondition(np.asarray(labels, dtype=np.int64), k)


def _reference_labels(scorer: "Scorer") -> tuple[np.ndarray, np.ndarray]:
    cached = getattr(scorer, "_conditional_labels", None)
    if cached is None:
        cached = labelled_reference_pair(scorer.reference, scorer.n, scorer.seed)
        scorer._conditional_labels = cached
    return cached


def _features(scorer: "Scorer", fake: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    if scorer.extractor_name is None:
        return None, None
    if getattr(scorer, "_extractor", None) is None:
        from ..features import get_extractor

        scorer._extractor = get_extractor(scorer.extractor_name)
    if getattr(scorer, "real_features", None) is None:
        scorer.real_features = scorer._extractor(scorer.real)
    return scorer._extractor(fake), scorer.real_features


class Conditional(FamilyRunner):
    """Label accuracy and MI, intra-class FID, per-class table, translation metrics, conditional flags."""

    family = "conditional"
    columns = CONDITIONAL_COLUMNS

    def select(self, scorer: "Scorer", details: dict[str, Any]) -> list[str]:
        """The selected conditional metrics that apply; every one that applies when none is named."""
        named = [m for m in scorer.metrics if get_spec(m).family == self.family]
        cond = details.get("condition")
        if cond is None:
            return named
        applies = [m for m in metric_names(family=self.family) if get_spec(m).condition == cond.kind]
        return [m for m in applies if m in named] if named else applies

    def run(self, scorer, fake, wanted, row, details):
        cond = details.get("condition")
        if cond is None:
            return [f"{', '.join(wanted)}: not computed, the generator is not conditional"]
        thresholds = getattr(scorer, "conditional_thresholds", None) or ConditionalThresholds()
        if isinstance(cond, ClassCondition):
            if scorer.reference.n_modes != cond.n_classes:
                return [f"conditional metrics not computed: the generator has {cond.n_classes} classes, reference "
                        f"{scorer.reference.name!r} has {scorer.reference.n_modes or 'no'} modes"]
            feats, rfeats = _features(scorer, fake) if "intra_class_fid" in wanted else (None, None)
            result = evaluate_classes(fake, cond.labels, scorer.reference, scorer.real, _reference_labels(scorer)[0],
                                      n_classes=cond.n_classes, features=feats, reference_features=rfeats,
                                      seed=scorer.seed, resamples=scorer.resamples, thresholds=thresholds)
        else:
            result = evaluate_translation(cond.inputs, fake, scorer.real, source_cycled=cond.source_cycled,
                                          target_inputs=cond.target_inputs, target_cycled=cond.target_cycled,
                                          expected=cond.expected, tolerance=cond.tolerance, seed=scorer.seed,
                                          thresholds=thresholds)
        for name in wanted:
            row[name] = result.values.get(name, float("nan"))
            for column in interval_columns(name):
                if column in result.values:
                    row[column] = result.values[column]
        row.update(result.flags.as_columns())
        row["evidence"] = "; ".join(e for e in (row.get("evidence", ""), result.flags.evidence) if e)
        details["conditional"] = result
        return []


def conditional_floor_result(scorer: "Scorer", n_classes: int | None = None) -> "ScoreResult":
    """The real-vs-real row with the class-conditional columns: the scorer's second reference sample,
    each sample "requested" as its true class (a perfect class-conditional generator)."""
    second_labels = _reference_labels(scorer)[1]
    k = int(n_classes or scorer.reference.n_modes or 0)
    labels = np.asarray(second_labels, dtype=np.int64)
    return scorer.result(scorer._floor_sample, source=REAL_VS_REAL, step=None, condition=ClassCondition(labels, k))
