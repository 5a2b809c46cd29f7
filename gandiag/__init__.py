"""gandiag: tells whether a trained GAN generator is any good, and why not.

Public API (CONTRACT.md section 8):

* :func:`reference` - reference distributions (``ring8``, ``grid25``, ``digits``,
  ``stacked-digits``, or a path to real samples);
* :func:`load_generator` - any generator source (checkpoint, ``torch.export`` program,
  TorchScript archive, sample file, folder of checkpoints);
* :func:`score` - every metric of one generator against a reference, as a pandas Series;
* :func:`audit` - many sources (and whole runs) scored, flagged and reported (:class:`Report`);
* :mod:`gandiag.metrics` - every metric as a plain function on two sample arrays.
"""

from .errors import GandiagInputError, SourceError
from .generators import Generator, LatentSpec
from .loading import Run, load_generator
from .references import REFERENCE_NAMES, Reference, reference
from .registry import available_architectures, register_architecture

__version__ = "0.1.0"

__all__ = [
    "GandiagInputError",
    "Generator",
    "LatentSpec",
    "REFERENCE_NAMES",
    "Reference",
    "Report",
    "Run",
    "SourceError",
    "audit",
    "available_architectures",
    "load_generator",
    "reference",
    "register_architecture",
    "score",
]


_LAZY = {"score": ".scoring", "audit": ".auditing", "Report": ".auditing"}


def __getattr__(name: str):  # PEP 562: scoring and audit pull in POT, scipy, pandas, matplotlib
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gandiag' has no attribute {name!r}")
