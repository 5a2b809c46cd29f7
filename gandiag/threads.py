"""How many torch intra-op threads a command or an API call runs on.

The choice, first that applies: an explicit ``threads=N`` (``--threads N`` on the command line),
the environment variable ``GANDIAG_THREADS``, then the caller's default (``None``: leave torch's
setting as it is). Small nets (the 2-D MLPs) train fastest on one thread per process: handing
a tiny matrix product to a second thread costs more than the product, and on a shared machine
every parallel region can wait a whole scheduler slice for the other thread.

Thread counts can change the last bits of a reduction, so a run is bit-reproducible for a fixed
thread count; :func:`torch_threads` always restores the previous count.

What "the count" is depends on torch's parallel backend. With the OpenMP backend (the CPU wheels,
``torch.__config__.parallel_info()``), ``torch.set_num_threads`` sets the calling thread's own
count and a process-wide default: a Python thread that has already run a parallel torch operation
keeps its own count whatever another thread sets, while a thread that has not yet done so takes
the default the last ``set_num_threads`` left (checked with torch 2.14.1: a worker thread's
``set_num_threads(1)`` left the busy main thread at 2 and gave a new thread 1). So two threads that
score at once in one process (a Dask worker with several threads) do not change each other's
counts, but the default that new threads inherit is whatever the last block to exit restored.

This module imports torch only when a thread count is actually set (``gandiag --help`` never
imports it).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from .errors import GandiagInputError

THREADS_ENV = "GANDIAG_THREADS"
THREADS_HELP = (f"torch intra-op threads (default: {THREADS_ENV} if set, else 1 for training small nets "
                "and torch's own count for scoring)")


def check_threads(value: Any, name: str = "--threads") -> int:
    """``value`` as a positive int, or :class:`GandiagInputError` naming ``name``."""
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        n = None
    if n is None or n < 1 or (isinstance(value, float) and not value.is_integer()):
        raise GandiagInputError(f"{name} {value!r}: must be a positive integer (a number of threads)")
    return n


def resolve_threads(threads: int | None = None, default: int | None = None) -> int | None:
    """The thread count to use: ``threads`` if given, else ``$GANDIAG_THREADS`` if set, else ``default``.

    ``None`` means: keep torch's current setting.

    Examples
    --------
    >>> resolve_threads(3, default=1)
    3
    >>> import os; os.environ.pop("GANDIAG_THREADS", None) and None
    >>> resolve_threads(None, default=1)
    1
    """
    if threads is not None:
        return check_threads(threads, "--threads")
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        return check_threads(env, THREADS_ENV)
    return default


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, then restore the previous setting.

    ``None`` leaves the setting alone; values below 1 count as 1. On leaving the block (also by an
    exception) the previous thread count is restored.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
