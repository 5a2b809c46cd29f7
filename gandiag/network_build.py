"""Building a registered architecture from a checkpoint's kwargs and weights, sizes checked first.

A gandiag checkpoint names its architecture and the kwargs to build it with; the weights come
with it. Kwargs are data from the file, so they are not trusted to ask for a sensible network:
:func:`build_network` builds it on the meta device first (shapes only, nothing allocated) while
:func:`registration_limit` counts the tensors and bytes its constructor registers, compares the
shapes with the stored weights, and only then builds it for real. ``width=10**9`` or
``depth=10**8`` is a one-line refusal, never an allocation or minutes in a constructor.
(:mod:`reference_models.trainer` uses :func:`meta_network` to check a recipe before training.)
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)

from ._arrays import format_bytes, memory_budget, one_line
from .errors import SourceError

__all__ = ["NetworkTooLarge", "build_network", "meta_network", "registration_limit", "shape_mismatches"]


class NetworkTooLarge(Exception):
    """Raised from inside an architecture's constructor by :func:`registration_limit`."""


@contextlib.contextmanager
def registration_limit(max_bytes: int, max_tensors: int) -> Iterator[dict[str, int]]:
    """Abort any module constructor run in this thread (raise :class:`NetworkTooLarge`) as soon as
    the parameters and buffers it registers exceed ``max_tensors`` tensors or ``max_bytes`` bytes.

    Used with ``torch.device("meta")``, nothing is allocated while counting; the tensor count
    also stops constructors that would build layers for minutes (``depth=10**8``).
    """
    owner = threading.get_ident()
    seen = {"tensors": 0, "bytes": 0}

    def count(module: torch.nn.Module, name: str, tensor: torch.Tensor | None) -> None:
        if tensor is None or threading.get_ident() != owner:
            return None
        seen["tensors"] += 1
        seen["bytes"] += tensor.numel() * tensor.element_size()
        if seen["tensors"] > max_tensors:
            raise NetworkTooLarge(f"more than {max_tensors} parameter and buffer tensors")
        if seen["bytes"] > max_bytes:
            raise NetworkTooLarge(f"more than {format_bytes(max_bytes)} of parameters and buffers")
        return None

    handles = [register_module_parameter_registration_hook(count), register_module_buffer_registration_hook(count)]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def meta_network(factory: Callable[..., torch.nn.Module], kwargs: dict[str, Any], *, max_bytes: int,
                 max_tensors: int) -> torch.nn.Module:
    """``factory(**kwargs)`` built on the meta device (shapes only, no memory) within the limits."""
    with registration_limit(max_bytes, max_tensors), torch.device("meta"):
        return factory(**kwargs)


def shape_mismatches(net: torch.nn.Module, state: dict[str, Any]) -> list[str]:
    """How the state dict of ``net`` (built on meta) and the stored ``state`` differ, one phrase each."""
    want = {k: tuple(v.shape) for k, v in net.state_dict().items() if isinstance(v, torch.Tensor)}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    problems = [f"{k} is {have[k]} in the file but {want[k]} in the network"
                for k in want if k in have and have[k] != want[k]]
    problems += [f"{k} is missing from the file" for k in want if k not in state]
    problems += [f"{k} is not in the network" for k in state if k not in want and isinstance(state[k], torch.Tensor)]
    return problems


def build_network(path: Path, name: str, factory: Callable[..., torch.nn.Module], kwargs: dict[str, Any],
                   state: dict[str, Any]) -> torch.nn.Module:
    """The architecture ``name`` built from ``kwargs`` with the weights ``state``, sizes checked first.

    The network is first built on the meta device, counted as it registers tensors (at most twice
    the stored tensors plus 64, and the memory budget), and its parameter shapes compared with
    the stored ones; only a network that matches is built for real and given the weights. So
    kwargs that ask for an absurd size (width=10**9, depth=10**8) are refused before allocating.
    """
    limits = dict(max_bytes=memory_budget(), max_tensors=2 * len(state) + 64)
    stored = sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))

    def too_large(exc: NetworkTooLarge) -> SourceError:
        return SourceError(path, f"its architecture kwargs {one_line(repr(kwargs), 160)} ask for a network with {exc}, "
                           f"while the file holds {len(state)} tensors ({format_bytes(stored)}); refused before "
                           "allocating", hint="the checkpoint's kwargs do not match its weights")

    def unfit(problem: str) -> SourceError:
        return SourceError(path, f"its weights do not fit architecture {name!r} with kwargs "
                           f"{one_line(repr(kwargs), 160)} ({problem})",
                           hint="the checkpoint and the registered architecture disagree")

    try:
        meta = meta_network(factory, kwargs, **limits)
    except NetworkTooLarge as exc:
        raise too_large(exc) from None
    except Exception:  # an architecture that cannot be built on meta: the guarded real build decides
        meta = None
    if meta is not None:
        try:
            problems = shape_mismatches(meta, state)
        except Exception:  # a state_dict hook that needs real tensors
            problems = []
        if problems:
            more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            raise unfit("; ".join(problems[:3]) + more)
    try:
        with registration_limit(**limits):
            net = factory(**kwargs)
        net.load_state_dict(state)
    except NetworkTooLarge as exc:
        raise too_large(exc) from None
    except Exception as exc:
        raise unfit(f"{type(exc).__name__}: {one_line(exc, 200)}") from exc
    return net
