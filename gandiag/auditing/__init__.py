"""Audit: score many generator sources, detect mode dropping/collapse, and write the report.

* :func:`audit` - sources (checkpoints, programs, sample files, run folders) -> :class:`Report`;
* :class:`Report` - ``.frame`` (docs/contract.md section 5 columns), ``.findings`` (per run),
  ``.to_markdown()``, ``.to_html()``, ``.save(dir)``.
"""

from .runner import audit
from .report import Report

__all__ = ["Report", "audit"]
