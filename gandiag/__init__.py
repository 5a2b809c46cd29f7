"""gandiag: tells whether a trained GAN generator is any good, and why not.

Public API (docs/contract.md section 8):

* :func:`reference` - reference distributions (``ring8``, ``grid25``, ``digits``,
  ``stacked-digits``, or a path to real samples);
* :func:`load_generator` - any generator source (checkpoint, ``torch.export`` program,
  TorchScript archive, sample file, folder of checkpoints);
* :func:`score` - every metric of one generator against a reference, as a pandas Series;
* :func:`audit` - many sources (and whole runs) scored, flagged and reported (:class:`Report`);
* :class:`Monitor` - scores a generator inside a training loop every N steps, with alerts;
* :mod:`gandiag.metrics` - every metric as a plain function on two sample arrays.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .errors import GandiagInputError, SourceError

if TYPE_CHECKING:  # the real imports happen on first use (module __getattr__ below)
    from .auditing import Monitor, Report, audit
    from .generators import Generator, LatentSpec
    from .loading import Run, load_generator
    from .references import REFERENCE_NAMES, Reference, reference
    from .architectures import available_architectures, register_architecture
    from .scoring import score

__version__ = "0.1.0"

__all__ = [
    "GandiagInputError",
    "Generator",
    "LatentSpec",
    "Monitor",
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


#: Public names and the module that defines them. They are imported on first use (PEP 562), so
#: ``import gandiag`` (and gandiag's pytest plugin, loaded in every pytest session of a user who
#: installed it) costs no torch, POT, pandas or matplotlib import until something is used.
_LAZY = {
    "Generator": ".generators", "LatentSpec": ".generators",
    "Run": ".loading", "load_generator": ".loading",
    "REFERENCE_NAMES": ".references", "Reference": ".references", "reference": ".references",
    "available_architectures": ".architectures", "register_architecture": ".architectures",
    "score": ".scoring", "audit": ".auditing", "Report": ".auditing", "Monitor": ".auditing",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals(), __all__)
