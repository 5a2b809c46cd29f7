"""Torch intra-op threads for small tensor work (:func:`gandiag.threads.torch_threads`).

Many small operations (Sinkhorn iterations on a few thousand points, a small MLP's steps) run
faster on one thread: handing work to a second thread costs more than the work, and on a busy
machine each parallel region can wait a whole scheduler slice for it. The metrics limit their
own threads with it and restore the caller's setting afterwards.
"""

from __future__ import annotations

from ..threads import torch_threads

__all__ = ["torch_threads"]
