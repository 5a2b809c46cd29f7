"""Audit: score many generator sources, detect mode dropping/collapse, and write the report.

* :func:`audit` - sources (checkpoints, programs, sample files, run folders) -> :class:`Report`;
* :class:`Report` - ``.frame`` (docs/contract.md section 5 columns), ``.findings`` (per run),
  ``.to_markdown()``, ``.to_html()``, ``.save(dir)``;
* :func:`watch` - follow a run folder while it is written (``gandiag watch``);
* :class:`Monitor` - score a module inside a training loop every N steps;
* :func:`best_checkpoints` - the best checkpoint, the ones not significantly worse, the recommendation.

Every audit with an output folder keeps its rows in a result store (:mod:`gandiag.auditing.store`).
"""

from .best import BestChoice, best_checkpoints
from .monitor import Monitor
from .report import Report
from .runner import audit
from .watch import watch

__all__ = ["BestChoice", "Monitor", "Report", "audit", "best_checkpoints", "watch"]
