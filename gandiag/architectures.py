"""Architecture registry (docs/contract.md section 4).

Checkpoints name their generator architecture; the class is found through the entry-point
group ``gandiag.architectures`` (``reference_models`` registers its nets there, and users
register theirs in their own package metadata), or, within one process, through
:func:`register_architecture`.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

import torch

GROUP = "gandiag.architectures"
_LOCAL: dict[str, Callable[..., torch.nn.Module]] = {}


def register_architecture(name: str, factory: Callable[..., torch.nn.Module]) -> None:
    """Register ``factory(**kwargs) -> nn.Module`` under ``name`` for this process.

    Checkpoints name their generator's architecture and constructor kwargs; loading one calls
    ``factory(**kwargs)`` and loads the stored weights into it (docs/contract.md section 4). To make the
    name known to every process, register it in the ``gandiag.architectures`` entry-point group of
    your package instead.

    Parameters
    ----------
    name : str
        The name checkpoints store under ``architecture.name``.
    factory : callable
        ``factory(**kwargs) -> torch.nn.Module``, e.g. the module class.

    Examples
    --------
    >>> import torch, gandiag
    >>> gandiag.register_architecture("doc-linear", lambda width=2: torch.nn.Linear(width, 2))
    >>> "doc-linear" in gandiag.available_architectures()
    True
    """
    _LOCAL[name] = factory


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_architectures() -> list[str]:
    """Names of every registered architecture (entry points and in-process registrations), sorted.

    Returns
    -------
    list of str
        The names :func:`gandiag.load_generator` can resolve in this process.
    """
    return sorted(set(_entry_points()) | set(_LOCAL))


def resolve_architecture(name: str) -> Callable[..., torch.nn.Module] | None:
    """The factory registered as ``name``, or ``None`` when nothing is registered under it."""
    if name in _LOCAL:
        return _LOCAL[name]
    ep = _entry_points().get(name)
    return None if ep is None else ep.load()
