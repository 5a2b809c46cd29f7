"""Jensen-Shannon against Wasserstein on the same work (``gandiag compare``, issue 3).

* :func:`lines_sweep` - the WGAN paper's Example 1 (parallel lines): JS saturates at log 2
  while W1 = |theta| keeps measuring;
* :func:`compare_sources` - every divergence for each checkpoint of one or more runs, with the
  real-vs-real floor; :func:`rank_correlations` - Spearman correlation of each divergence with
  the training step and with each other;
* :func:`divergences` - all divergences between two sample sets as one row, with intervals;
* ``python -m reference_models.divergence_report --out reports/`` regenerates ``reports/divergences.md``
  (it trains, so it lives beside the trainers).
"""

from .lines import DEFAULT_THETAS, lines_samples, lines_sweep, lines_truth
from ..schema import REAL_VS_REAL
from ..scoring.divergence_row import ROW_COLUMNS, divergence_floor, divergences
from ..tables import markdown_table
from .output import write_lines, write_run
from .runs import compare_sources, rank_correlations

__all__ = [
    "DEFAULT_THETAS",
    "REAL_VS_REAL",
    "ROW_COLUMNS",
    "compare_sources",
    "divergence_floor",
    "divergences",
    "lines_samples",
    "lines_sweep",
    "lines_truth",
    "markdown_table",
    "rank_correlations",
    "write_lines",
    "write_run",
]
