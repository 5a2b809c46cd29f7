"""CI quality gates on checkpoints (docs/contract.md section 7, ``gandiag gate``).

A gate scores one checkpoint (and optionally a baseline checkpoint) and judges a list of checks
read from TOML: bounds on metrics, flags that must be false, and the baseline rule (a metric may
not get worse than the baseline's by more than a margin plus the noise the intervals show).

* :mod:`gandiag.gate.config` - the TOML format and its validation (:func:`load_config`);
* :mod:`gandiag.gate.checks` - scoring and judging (:func:`run_gate`, :func:`evaluate`);
* :mod:`gandiag.gate.output` - the text table, JUnit XML and the GitHub step summary;
* :mod:`gandiag.gate.pytest_plugin` - the ``gandiag_gate`` pytest fixture.

Names are imported on first use, so that importing the pytest plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Check", "GateConfig", "GateResult", "MetricRule", "evaluate", "junit_xml", "load_config",
           "markdown_summary", "parse_config", "run_gate"]

_LAZY = {
    "GateConfig": ".config", "MetricRule": ".config", "load_config": ".config", "parse_config": ".config",
    "Check": ".checks", "GateResult": ".checks", "evaluate": ".checks", "run_gate": ".checks",
    "junit_xml": ".output", "markdown_summary": ".output",
}


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gandiag.gate' has no attribute {name!r}")
