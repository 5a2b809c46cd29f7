"""Torch intra-op threads for small tensor work."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, then restore the previous setting.

    Many small operations (a small MLP's training steps, Sinkhorn iterations on a few thousand
    points) run faster on one thread: handing work to a second thread costs more than the work,
    and on a busy machine each parallel region can wait a whole scheduler slice for it.

    Parameters
    ----------
    n : int
        Number of intra-op threads inside the ``with`` block; values below 1 count as 1.

    Yields
    ------
    None
        On leaving the block (also by an exception) the previous thread count is restored.

    Examples
    --------
    >>> import torch
    >>> from gandiag.metrics._threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
