"""Divergence metrics re-exported by gandiag.metrics (docs/contract.md sections 5 and 8).

* :func:`js` - classifier estimate of the Jensen-Shannon divergence (nats, a lower bound);
  :func:`c2st` - the same classifier's ``js``, ``c2st_accuracy`` and ``c2st_pvalue``;
* :func:`js_density` - kernel-density plug-in JS for vectors with d <= 3;
* :func:`w1`, :func:`w2` - exact optimal transport (POT's network simplex), data units;
  :func:`transport` - the same with the sizes used and the solver status;
* :func:`sinkhorn` - debiased Sinkhorn divergence (log domain, reg relative to the median cost);
* :func:`sliced_w` - sliced Wasserstein, streamed over blocks of projections;
  :func:`random_projections` - the seeded directions it uses.
"""

from .js import c2st, js
from .js_density import js_density
from .entropic import sinkhorn
from .sliced import random_projections, sliced_w
from .wasserstein import (
    SubsampledWarning,
    TransportError,
    TransportResult,
    TransportWarning,
    transport,
    w1,
    w2,
)

__all__ = [
    "js",
    "c2st",
    "js_density",
    "w1",
    "w2",
    "transport",
    "TransportResult",
    "TransportError",
    "TransportWarning",
    "SubsampledWarning",
    "sinkhorn",
    "sliced_w",
    "random_projections",
]
