"""Conditional generators: does the output obey the condition? (plain functions on arrays)

* :mod:`.labels` - ``label_accuracy``, ``label_mi`` (nats, bootstrap interval), the permutation test
  of independence, the confusion matrix;
* :mod:`.classes` - the per-class table (``classes.csv``) and ``intra_class_fid``;
* :mod:`.translation` - ``input_dependence`` (distance correlation, permutation p-value),
  ``output_diversity``, ``cycle_error``, ``map_accuracy`` for translation generators G: X -> Y;
* :mod:`.flags` - ``condition_ignored``, ``class_collapse``, ``class_dropping``;
* :mod:`.evaluate` - all of them for one generator, as the scoring runner uses them.
"""

from .classes import CLASS_COLUMNS, class_table, intra_class_fid
from .evaluate import ConditionalResult, evaluate_classes, evaluate_translation
from .flags import CONDITIONAL_FLAGS, ConditionalFlags, ConditionalThresholds, class_flags, translation_flags
from .labels import (chance_accuracy, confusion_matrix, independence_pvalue, label_accuracy, label_mi,
                     label_mi_interval, mutual_information, relabelled_accuracy)
from .translation import cycle_error, distance_correlation, input_dependence, map_accuracy, output_diversity

__all__ = [
    "CLASS_COLUMNS", "CONDITIONAL_FLAGS", "ConditionalFlags", "ConditionalResult", "ConditionalThresholds",
    "chance_accuracy", "class_flags", "class_table", "confusion_matrix", "cycle_error", "distance_correlation",
    "evaluate_classes", "evaluate_translation", "independence_pvalue", "input_dependence", "intra_class_fid",
    "label_accuracy", "label_mi", "label_mi_interval", "map_accuracy", "mutual_information", "output_diversity",
    "relabelled_accuracy", "translation_flags",
]
