"""Gate configuration: what ``gandiag gate`` checks, read from TOML and validated key by key.

Where it lives: the ``[tool.gandiag.gate]`` table of a ``pyproject.toml``, or the ``[gate]``
table of a standalone TOML file (any other name; a standalone file without ``[gate]`` may also
hold ``[tool.gandiag.gate]``). A file named ``pyproject.toml`` is only read at
``[tool.gandiag.gate]``. Keys of the gate table (``PREFIX`` below is ``gate`` or
``tool.gandiag.gate``):

* ``reference`` (string, required): ``ring8``, ``grid25``, ``digits``, ``stacked-digits`` or a path
  to real samples; a relative path that exists beside the configuration file is taken from the
  file's folder (otherwise as given, from the working directory);
* ``n`` (integer >= 16, default 10,000: the scorer's default), ``seed`` (integer >= 0, default 0);
* ``resamples`` (integer >= 0): resamples for the 95% intervals (half-size subsamples; FID by
  bootstrap). Default 20 when some metric has a ``margin``, else 0 (no intervals); a ``margin``
  needs at least 2;
* ``flags`` (list of strings, default empty): flags that must be false, from ``mode_dropping``,
  ``mode_collapse``, ``low_quality`` and, for conditional generators, ``condition_ignored``,
  ``class_collapse``, ``class_dropping``;
* ``[PREFIX.metrics.NAME]`` for a metric NAME of docs/contract.md section 5, with any of ``min``,
  ``max`` (numbers: the value must lie in [min, max]) and ``margin`` (number >= 0: the baseline
  rule of :mod:`gandiag.gate.checks`; only for metrics with a direction and an interval that the
  calibration benchmark found trustworthy, :data:`BASELINE_METRICS`: not ``js``);
* ``[PREFIX.thresholds]``: flag thresholds (the fields of :class:`gandiag.modes.FlagThresholds`,
  e.g. ``max_spread = 1.5``; ``significance = 0`` turns the guard against chance off);
  ``[PREFIX.conditional_thresholds]``: the conditional flags' (:class:`gandiag.conditional.ConditionalThresholds`);
* ``latent`` (``"normal"`` or ``"uniform"``) and ``latent_dim`` (integer >= 1): how to draw z
  for networks whose file does not say.

Anything else -- an unknown key, metric or flag name, a value of the wrong type, ``min > max``,
a gate with nothing to check -- raises :class:`GandiagInputError` naming the file and the full
key (``gate.toml: gate.metrics.w1.maxx: unknown key; use min, max, margin``).

Which way is worse, for the baseline rule, is each metric's registered direction
(:attr:`gandiag.metrics.registry.MetricSpec.worse`: higher, lower, or for ``intra_mode_spread``
the distance from 1, ``|v - 1|``, since too narrow and too wide modes are both worse); a margin
needs a direction and a trusted interval (:data:`BASELINE_METRICS`,
:attr:`gandiag.metrics.registry.MetricSpec.trusted_interval`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from ..defaults import DEFAULTS
from ..errors import GandiagInputError, did_you_mean
from ..metrics.registry import get_spec
from ..conditional import ConditionalThresholds
from ..modes.flags import FlagThresholds
from ..references import REFERENCE_NAMES
from ..schema import ALL_FLAG_NAMES, FLAG_NAMES
from ..scoring.catalog import METRIC_NAMES

__all__ = ["BASELINE_METRICS", "FLAG_NAMES", "GateConfig", "MetricRule", "WORSE", "load_config", "parse_config"]

#: metric -> which way is worse ("higher", "lower", "from1"), read from the registry.
WORSE: dict[str, str] = {m: get_spec(m).worse for m in METRIC_NAMES if get_spec(m).worse}
#: Metrics a baseline ``margin`` may be set on: a direction and an interval that the calibration
#: benchmark found trustworthy (:attr:`gandiag.metrics.registry.MetricSpec.trusted_interval`).
BASELINE_METRICS: tuple[str, ...] = tuple(m for m in METRIC_NAMES if m in WORSE and get_spec(m).trusted_interval)
DEFAULT_RESAMPLES = 20
RULE_KEYS = ("min", "max", "margin")
TOP_KEYS = ("reference", "n", "seed", "resamples", "flags", "metrics", "thresholds", "conditional_thresholds", "latent",
            "latent_dim")
LATENTS = ("normal", "uniform")


@dataclass(frozen=True)
class MetricRule:
    """Bounds on one metric: ``min <= value <= max``; ``margin``: the baseline rule's allowance."""

    metric: str
    min: float | None = None
    max: float | None = None
    margin: float | None = None


@dataclass(frozen=True)
class GateConfig:
    """A validated gate configuration (see the module docstring for each key)."""

    reference: str
    n: int | None = DEFAULTS["n"]
    seed: int = DEFAULTS["seed"]
    resamples: int = DEFAULTS["resamples"]
    flags: tuple[str, ...] = ()
    metrics: tuple[MetricRule, ...] = ()
    thresholds: FlagThresholds = FlagThresholds()
    conditional_thresholds: ConditionalThresholds = ConditionalThresholds()
    latent: str | None = DEFAULTS["latent"]
    latent_dim: int | None = DEFAULTS["latent_dim"]
    origin: str = "<mapping>"  # "FILE [TABLE]", for messages

    @property
    def has_baseline_rules(self) -> bool:
        return any(rule.margin is not None for rule in self.metrics)

    @property
    def scored_metrics(self) -> tuple[str, ...]:
        """The metric selection to score: every checked metric, plus ``modes_total`` when flags are
        required (the flags come with the mode metrics)."""
        names = [rule.metric for rule in self.metrics]
        if self.flags and "modes_total" not in names:
            names.append("modes_total")
        return tuple(names)


def _fail(where: str, key: str, problem: str) -> GandiagInputError:
    return GandiagInputError(f"{where}: {key}: {problem}")


def _number(where: str, key: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, key, f"need a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise _fail(where, key, f"need a number >= {minimum:g}, got {value!r}")
    return float(value)


def _integer(where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, key, f"need an integer >= {minimum}, got {value!r}")
    return int(value)


def _table(where: str, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, key, f"need a table, got {type(value).__name__} {value!r}")
    return value


def _unknown(where: str, key: str, allowed: tuple[str, ...]) -> GandiagInputError:
    return _fail(where, key, f"unknown key; use {', '.join(allowed)}")


def _metric_rule(where: str, prefix: str, name: str, value: Any) -> MetricRule:
    key = f"{prefix}.metrics.{name}"
    if name not in METRIC_NAMES:
        raise _fail(where, key, f"unknown metric {name!r}{did_you_mean(name, METRIC_NAMES)}; use one of "
                                f"{', '.join(METRIC_NAMES)}")
    if not isinstance(value, Mapping):
        raise _fail(where, key, f"need a table of bounds, e.g. {name} = {{ max = 0.05 }}, got {value!r}")
    table = value
    for sub in table:
        if sub not in RULE_KEYS:
            raise _unknown(where, f"{key}.{sub}", RULE_KEYS)
    if not table:
        raise _fail(where, key, f"empty; give at least one of {', '.join(RULE_KEYS)}")
    low = _number(where, f"{key}.min", table["min"]) if "min" in table else None
    high = _number(where, f"{key}.max", table["max"]) if "max" in table else None
    if low is not None and high is not None and low > high:
        raise _fail(where, key, f"min {low:g} > max {high:g}")
    margin = None
    if "margin" in table:
        margin = _number(where, f"{key}.margin", table["margin"], minimum=0.0)
        if name not in BASELINE_METRICS:
            spec = get_spec(name)
            why = ("has no resampling interval" if not spec.has_interval else
                   "has an interval that is not calibrated (reports/calibration.md)" if not spec.trusted_interval
                   else "has no better or worse direction")
            raise _fail(where, f"{key}.margin", f"{name} {why}, so a baseline rule cannot tell a regression from "
                        f"noise; margins apply to {', '.join(BASELINE_METRICS)}")
    return MetricRule(name, low, high, margin)


def _thresholds(where: str, prefix: str, value: Any, kind: type = FlagThresholds, name: str = "thresholds") -> Any:
    key = f"{prefix}.{name}"
    table = _table(where, key, value)
    known = tuple(f.name for f in fields(kind))
    values = {}
    for name, item in table.items():
        if name not in known:
            raise _unknown(where, f"{key}.{name}", known)
        values[name] = _number(where, f"{key}.{name}", item, minimum=0.0)
    try:
        return kind(**values)
    except GandiagInputError as exc:
        raise _fail(where, key, str(exc)) from None


def _reference(where: str, prefix: str, value: Any, base: Path | None) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"{prefix}.reference", f"need a reference name or path, got {value!r}")
    if value in REFERENCE_NAMES or base is None or Path(value).is_absolute() or not (base / value).exists():
        return value  # a name, or a path that does not exist beside the file: the scorer names it
    return str(base / value)


def parse_config(table: Mapping[str, Any], *, where: str = "<mapping>", prefix: str = "gate",
                 base: Path | None = None) -> GateConfig:
    """Validate the gate ``table`` (the contents of ``[gate]``) into a :class:`GateConfig`.

    ``where`` (the file) and ``prefix`` (the table's dotted name) make the messages name the key;
    ``base`` is the folder that a relative ``reference`` path is taken from (None: as given).
    """
    table = _table(where, prefix, table)
    for key in table:
        if key not in TOP_KEYS:
            raise _unknown(where, f"{prefix}.{key}", TOP_KEYS)
    if "reference" not in table:
        raise _fail(where, f"{prefix}.reference", "missing; name the reference, e.g. reference = \"ring8\"")
    flags = table.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise _fail(where, f"{prefix}.flags", f"need a list of flag names, got {flags!r}")
    for flag in flags:
        if flag not in ALL_FLAG_NAMES:
            raise _fail(where, f"{prefix}.flags", f"unknown flag {flag!r}; use {', '.join(ALL_FLAG_NAMES)}")
    metrics = _table(where, f"{prefix}.metrics", table.get("metrics", {}))
    rules = tuple(_metric_rule(where, prefix, name, value) for name, value in metrics.items())
    if not rules and not flags:
        raise _fail(where, prefix, "nothing to check; add [metrics.NAME] bounds (min, max, margin) or flags")
    has_margin = any(rule.margin is not None for rule in rules)
    resamples = _integer(where, f"{prefix}.resamples", table["resamples"], 0) if "resamples" in table else (
        DEFAULT_RESAMPLES if has_margin else 0)
    if has_margin and resamples < 2:
        raise _fail(where, f"{prefix}.resamples", f"baseline margins need intervals: resamples >= 2, got {resamples}")
    latent = table.get("latent")
    if latent is not None and latent not in LATENTS:
        raise _fail(where, f"{prefix}.latent", f"use {' or '.join(LATENTS)}, got {latent!r}")
    return GateConfig(
        reference=_reference(where, prefix, table["reference"], base),
        n=_integer(where, f"{prefix}.n", table["n"], 16) if "n" in table else None,
        seed=_integer(where, f"{prefix}.seed", table["seed"], 0) if "seed" in table else 0,
        resamples=resamples,
        flags=tuple(dict.fromkeys(flags)),
        metrics=rules,
        thresholds=_thresholds(where, prefix, table["thresholds"]) if "thresholds" in table else FlagThresholds(),
        conditional_thresholds=_thresholds(where, prefix, table["conditional_thresholds"], ConditionalThresholds,
                                           "conditional_thresholds") if "conditional_thresholds" in table
        else ConditionalThresholds(),
        latent=latent,
        latent_dim=_integer(where, f"{prefix}.latent_dim", table["latent_dim"], 1) if "latent_dim" in table else None,
        origin=f"{where} [{prefix}]",
    )


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise GandiagInputError("reading TOML on Python 3.10 needs tomli (pip install tomli)") from None
    return tomllib.loads(text)


def load_config(path: str | Path) -> GateConfig:
    """Read and validate the gate table of ``path`` (pyproject.toml or a standalone TOML file)."""
    path = Path(path)
    if not path.is_file():
        raise GandiagInputError(f"--config {path}: {'is a folder' if path.is_dir() else 'no such file'}; "
                                "give a pyproject.toml with [tool.gandiag.gate] or a TOML file with [gate]")
    try:
        data = _toml_loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise GandiagInputError(f"{path}: not a UTF-8 text file; a gate configuration is TOML") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise GandiagInputError(f"{path}: not valid TOML: {exc}") from None
    nested = data.get("tool", {}).get("gandiag", {}) if isinstance(data.get("tool"), dict) else {}
    candidates = [("tool.gandiag.gate", nested.get("gate") if isinstance(nested, dict) else None)]
    if path.name != "pyproject.toml":  # a standalone file: [gate] first
        candidates.insert(0, ("gate", data.get("gate")))
    for prefix, table in candidates:
        if table is not None:
            return parse_config(table, where=str(path), prefix=prefix, base=path.resolve().parent)
    expected = " or ".join(f"[{prefix}]" for prefix, _ in candidates)
    raise GandiagInputError(f"{path}: no {expected} table; the gate configuration goes there "
                            "(see README.md, 'CI quality gates')")
