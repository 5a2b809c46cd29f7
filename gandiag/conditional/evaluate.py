"""Every conditional metric of one generator at once, from arrays: what the scoring runner calls.

:func:`evaluate_classes` takes a class-conditional generator's samples with their requested labels,
an assigner (anything with ``n_modes`` and ``assign_modes(x) -> (modes, high_quality)``: a
:class:`gandiag.Reference` with modes, whose modes are the classes) and a labelled reference
sample; it returns the row's columns (``label_accuracy``, ``label_mi`` and its interval and
p-value, ``intra_class_fid``), the confusion matrix, the per-class table
(:func:`gandiag.conditional.class_table`) and the flags (:mod:`gandiag.conditional.flags`).
:func:`evaluate_translation` does the same for a translation generator from x, G(x) and a target
sample (and F(G(x)), G(F(y)) when the inverse is known; the true images where the map is known).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GandiagInputError
from .classes import class_table, intra_class_fid
from .flags import ConditionalFlags, ConditionalThresholds, class_flags, translation_flags
from .labels import (chance_accuracy, confusion_matrix, independence_pvalue, label_mi_interval, mutual_information,
                     relabelled_accuracy)
from .translation import cycle_error, input_dependence, map_accuracy, output_diversity

__all__ = ["ConditionalResult", "evaluate_classes", "evaluate_translation"]


@dataclass
class ConditionalResult:
    """``values``: report columns; ``flags``; ``confusion`` (K x K, rows requested) and ``classes``
    (per-class table) for class-conditional generators, ``None`` for translation ones."""

    values: dict[str, Any]
    flags: ConditionalFlags
    confusion: np.ndarray | None = None
    classes: pd.DataFrame | None = field(default=None, repr=False)


def _assign(assigner: Any, x: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    modes, hq = assigner.assign_modes(x)
    modes, hq = np.asarray(modes, dtype=np.int64), np.asarray(hq, dtype=bool)
    if modes.shape != (len(x),) or hq.shape != (len(x),):
        raise GandiagInputError(f"{name}: assign_modes returned shapes {modes.shape} and {hq.shape} for {len(x)} samples")
    return modes, hq


def evaluate_classes(
    samples: Any,
    requested: Any,
    assigner: Any,
    reference_sample: Any,
    reference_labels: Any,
    *,
    n_classes: int,
    features: Any | None = None,
    reference_features: Any | None = None,
    seed: int = 0,
    n_permutations: int = 999,
    resamples: int = 0,
    thresholds: ConditionalThresholds | None = None,
) -> ConditionalResult:
    """The class-conditional columns, confusion matrix, per-class table and flags (module docstring).

    ``requested``: the class asked for each sample (K = ``n_classes``; the assigner's modes must
    be the classes). ``resamples > 0`` adds a ``resamples``-fold bootstrap interval of ``label_mi``.
    ``values`` also holds ``reference_accuracy``: the assigner's accuracy on the labelled reference,
    the floor ``label_accuracy`` reaches for a perfect generator.

    Examples
    --------
    >>> import gandiag, torch
    >>> ring = gandiag.reference("ring8")
    >>> x, y = ring.draw(800, torch.Generator().manual_seed(0))
    >>> xr, yr = ring.draw(800, torch.Generator().manual_seed(1))
    >>> r = evaluate_classes(x, y.numpy(), ring, xr, yr.numpy(), n_classes=8, n_permutations=99)
    >>> r.values["label_accuracy"], r.flags.evidence
    (1.0, '')
    """
    k = int(n_classes)
    n_modes = int(getattr(assigner, "n_modes", None) or 0)
    if n_modes != k:
        raise GandiagInputError(f"the generator has {k} classes but the reference has {n_modes or 'no'} modes; "
                                "class-conditional metrics need a reference whose modes are the classes "
                                "(ring8: 8, grid25: 25, digits: 10)")
    modes, hq = _assign(assigner, samples, "samples")
    r_modes, r_hq = _assign(assigner, reference_sample, "reference_sample")
    y = np.asarray(requested.detach().cpu() if hasattr(requested, "detach") else requested)
    yr = np.asarray(reference_labels.detach().cpu() if hasattr(reference_labels, "detach") else reference_labels)
    assigned = modes
    table = class_table(samples, y, modes, hq, reference_sample, yr, r_modes, r_hq, n_classes=k, n_modes=n_modes,
                        features=features, reference_features=reference_features, seed=seed)
    conf = confusion_matrix(y, assigned, k)
    acc = float(np.trace(conf) / conf.sum())
    mi = mutual_information(conf)
    pvalue = independence_pvalue(y, assigned, k, n_permutations=n_permutations, seed=seed)
    values: dict[str, Any] = {
        "label_accuracy": acc,
        "label_mi": mi,
        "label_mi_pvalue": pvalue,
        "intra_class_fid": intra_class_fid(table),
        "reference_accuracy": float(np.mean(r_modes == yr)),
    }
    if resamples:
        values["label_mi_ci_low"], values["label_mi_ci_high"] = label_mi_interval(y, assigned, k, n_boot=resamples,
                                                                                  seed=seed)
    hq_counts = np.bincount(modes[hq], minlength=n_modes)[:k]
    flags = class_flags(table, accuracy=acc, relabelled=relabelled_accuracy(conf), chance=chance_accuracy(conf), mi=mi,
                        pvalue=pvalue, hq_counts=hq_counts, n=len(y), reference_count=len(yr),
                        reference_hq_fraction=float(r_hq.mean()), thresholds=thresholds)
    return ConditionalResult(values, flags, conf, table)


def evaluate_translation(
    inputs: Any,
    outputs: Any,
    target_sample: Any,
    *,
    source_cycled: Any | None = None,
    target_inputs: Any | None = None,
    target_cycled: Any | None = None,
    expected: Any | None = None,
    tolerance: float | None = None,
    seed: int = 0,
    n_permutations: int = 199,
    thresholds: ConditionalThresholds | None = None,
) -> ConditionalResult:
    """The translation columns and ``condition_ignored`` for x = ``inputs``, G(x) = ``outputs``.

    ``source_cycled`` = F(G(x)) (and ``target_inputs`` = y, ``target_cycled`` = G(F(y))) give
    ``cycle_error``; ``expected`` (the true image of each input) with ``tolerance`` gives
    ``map_accuracy``. Columns that cannot be computed are NaN.
    """
    dep, p = input_dependence(inputs, outputs, n_permutations=n_permutations, seed=seed)
    values: dict[str, Any] = {"input_dependence": dep, "input_dependence_pvalue": p,
                              "output_diversity": output_diversity(target_sample, outputs),
                              "cycle_error": float("nan"), "map_accuracy": float("nan")}
    if source_cycled is not None:
        values["cycle_error"] = cycle_error(inputs, source_cycled, target_inputs, target_cycled)
    if expected is not None and tolerance is not None:
        values["map_accuracy"] = map_accuracy(expected, outputs, tolerance)
    return ConditionalResult(values, translation_flags(dep, p, thresholds))
