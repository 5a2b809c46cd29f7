"""pytest plugin: the ``gandiag_gate`` fixture asserts a checkpoint's quality in a test suite.

Registered through the ``pytest11`` entry point (``gandiag = "gandiag.gate.pytest_plugin"``), so
installing gandiag makes the fixture available to every test suite in that environment::

    def test_checkpoint_is_good_enough(gandiag_gate):
        gandiag_gate("runs/x/step-0002000.pt", config="gate.toml", baseline="models/released.pt")

``gandiag_gate(source, config=None, baseline=None, *, device="cpu")`` runs the same gate as
``gandiag gate SOURCE --config FILE [--baseline SOURCE]``:

* ``config``: a TOML file (``pyproject.toml`` with ``[tool.gandiag.gate]`` or a file with
  ``[gate]``), a mapping with the contents of the gate table, or a :class:`GateConfig`; None
  means the ``pyproject.toml`` in pytest's root directory. Relative paths are taken from the
  current working directory, as ``open`` does.
* every check passes: returns the :class:`gandiag.gate.checks.GateResult` (its ``checks`` and the
  scored ``row``);
* some check fails: raises ``AssertionError`` whose message lists each failed check with its
  numbers (:meth:`GateResult.failure_report`), e.g.
  ``min:modes_captured: modes_captured = 3 < min 8``;
* a source that cannot be loaded or scored, or a bad configuration, raises
  :class:`gandiag.GandiagInputError`: a test error, not a failed assertion.

Only pytest is imported when the plugin loads; gandiag's scoring stack (torch, POT, scipy) is
imported when the fixture is first called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


def _config(config: Any, rootpath: Path) -> Any:
    """A :class:`GateConfig` from a path, a mapping or a GateConfig (None: rootdir's pyproject.toml)."""
    from collections.abc import Mapping

    from .config import GateConfig, load_config, parse_config

    if isinstance(config, GateConfig):
        return config
    if isinstance(config, Mapping):
        return parse_config(config)
    return load_config(rootpath / "pyproject.toml" if config is None else Path(config))


@pytest.fixture
def gandiag_gate(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``gandiag_gate(source, config=None, baseline=None)``: gate a checkpoint; see the module docstring."""
    rootpath = Path(request.config.rootpath)

    def gate(source: Any, config: Any = None, baseline: Any = None, *, device: str = "cpu",
             allow_torchscript: bool = False) -> Any:
        __tracebackhide__ = True
        from .checks import run_gate

        result = run_gate(source, _config(config, rootpath), baseline, device=device,
                          allow_torchscript=allow_torchscript)
        if not result.passed:
            raise AssertionError(result.failure_report())
        return result

    return gate
