"""Scoring: every metric of a generator against a reference, as one row (docs/contract.md sections 5, 8).

* :func:`score` - one generator or sample array -> a pandas Series;
* :class:`Scorer` - the same for many generators against one shared reference sample, plus the
  real-vs-real row (:meth:`Scorer.floor`);
* :func:`resolve_metrics`, :data:`FAMILIES`, :data:`METRIC_NAMES` - what can be selected by name.
"""

from ..schema import DEFAULT_N, REAL_VS_REAL, REPORT_COLUMNS
from .catalog import FAMILIES, METRIC_NAMES, resolve_metrics
from .result import ScoreResult
from .scorer import Scorer, score

__all__ = ["DEFAULT_N", "FAMILIES", "METRIC_NAMES", "REAL_VS_REAL", "REPORT_COLUMNS", "ScoreResult", "Scorer", "resolve_metrics", "score"]
