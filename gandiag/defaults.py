"""One name and one default per setting, read by the CLI, the gate's TOML reader and the Python API.

Each :class:`Setting` is named as the Python keyword and the TOML key (``resamples``); its CLI
flag is the same name with dashes (``--resamples``). The command-line help, the TOML reader and
the Python signatures take their defaults and help text from :data:`SETTINGS` (model:
torch-fidelity's ``defaults.py``, mapped 1:1 onto its CLI flags). Deprecated spellings
(``--ci``, ``ci=``; ``--repeats``) still work and say once that they are deprecated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from .schema import DEFAULT_N

__all__ = ["DEFAULTS", "DEPRECATED", "SETTINGS", "Setting", "deprecated_alias"]


@dataclass(frozen=True)
class Setting:
    """A setting: its name (Python keyword, TOML key), default, and help text."""

    name: str
    default: Any
    help: str

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("n", None, f"samples per side (default {DEFAULT_N:,}; half the stored samples for digits and files)"),
    Setting("seed", 0, "seed for samples and estimators (default 0)"),
    Setting("metrics", None, "comma-separated metric or family names (divergences, features, modes, ndb); "
                              "default: all that apply offline"),
    Setting("resamples", 0, "add 95%% intervals (_ci_low/_ci_high columns) from K resamples: half-size subsamples, "
                            "FID by bootstrap (default 0: none)"),
    Setting("latent", None, "latent prior: normal N(0, I) (default) or uniform U[-1, 1]"),
    Setting("latent_dim", None, "override the latent dimension read from the source"),
    Setting("device", "cpu", "torch device to run generators on (default cpu)"),
    Setting("allow_torchscript", False, "load TorchScript archives; this RUNS CODE FROM THE FILE (it can read and "
                                        "write files): only for files you trust"),
    Setting("timeout", 300.0, "time limit in seconds for loading each source and for drawing its samples "
                              "(default 300; 0: no limit); a source that runs longer becomes an error naming it"),
    Setting("inception_weights", None, "Inception weights file for image references other than digits "
                                       "(default: $GANDIAG_INCEPTION_WEIGHTS)"),
)}
DEFAULTS: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
#: deprecated spelling -> setting name
DEPRECATED: dict[str, str] = {"ci": "resamples", "repeats": "resamples"}
_WARNED: set[str] = set()


def deprecated_alias(old: str, value: Any, current: Any) -> Any:
    """The value to use when the deprecated spelling ``old`` was given (``None``: not given).

    Warns once per process (a :class:`DeprecationWarning` that names the new spelling); giving both
    spellings with different values is an error.
    """
    if value is None:
        return current
    new = DEPRECATED[old]
    if current not in (None, DEFAULTS[new]) and current != value:
        from .errors import GandiagInputError

        raise GandiagInputError(f"{old}={value!r} and {new}={current!r}: give {new} only ({old} is its old name)")
    if old not in _WARNED:
        _WARNED.add(old)
        warnings.warn(f"'{old}' is deprecated; use '{new}' (same meaning)", DeprecationWarning, stacklevel=3)
    return value
