"""Class-conditional recipes ``{loss}-{reference}-conditional`` for ``ring8``, ``grid25`` and ``digits``.

The class is the reference's mode (a mixture component; a digit). Each recipe is its unconditional
twin with ``conditional = True``: the trainer (:mod:`reference_models.trainer`) then builds both
nets with a label embedding (concatenated to z in G; to x in the MLP D, an extra input plane in the
conv D: Mirza & Osindero 2014), draws real batches with their labels and the generator's labels
uniformly. A generator trained this way is scored by gandiag as a conditional generator (its
checkpoint's kwargs hold ``n_classes``): ``label_accuracy``, ``label_mi``, ``intra_class_fid``.
Within a class there is one mode, so the conditional 2-D recipes learn faster than the
unconditional ones; their step counts are the unconditional recipes'.
"""

from __future__ import annotations

from typing import Any, Callable

#: References with conditional recipes (a class per mode).
CONDITIONAL_REFERENCES = ("ring8", "grid25", "digits")
SUFFIX = "-conditional"


def conditional_recipes(base: Callable[[str, str], dict[str, Any]], losses: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{loss}-{reference}-conditional`` -> its settings: ``base(loss, reference)`` with ``conditional=True``."""
    out = {}
    for ref in CONDITIONAL_REFERENCES:
        for loss in losses:
            name = f"{loss}-{ref}{SUFFIX}"
            out[name] = {**base(loss, ref), "recipe": name, "conditional": True}
    return out
