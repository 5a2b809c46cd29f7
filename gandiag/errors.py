"""Exceptions raised by gandiag.

Every problem with something the user handed us (a file, a name, an option) raises
:class:`GandiagInputError`; its message is one line that names the input and says what
to do. The command line turns it into exit status 2.
"""

from __future__ import annotations

import difflib
from typing import Iterable

ACCEPTED_SOURCES = (
    "accepted: a gandiag checkpoint (.pt), a torch.export program (.pt2), a TorchScript "
    "archive (.pt) with an int attribute latent_dim (only with --allow-torchscript), samples (.npy/.npz of shape (n, d) or "
    "(n, C, H, W)), a folder of checkpoints, or a folder of images"
)


class GandiagInputError(ValueError):
    """Bad user input: a file, name or option that gandiag cannot use.

    The message names the offending input and says what is accepted instead.
    """


class SourceError(GandiagInputError):
    """A generator source (file or folder) that cannot be loaded."""

    def __init__(self, path: object, problem: str, *, hint: str = ACCEPTED_SOURCES) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}; {hint}" if hint else f"{self.path}: {problem}")


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``" (did you mean fid?)"`` naming up to three of ``choices`` close to ``name`` (difflib's ratio
    of at least 0.6), or ``""``: the hint that error messages put after an unknown name.

    >>> did_you_mean("hq_fracton", ["hq_fraction", "fid"])
    ' (did you mean hq_fraction?)'
    >>> did_you_mean("zzz", ["fid"])
    ''
    """
    close = difflib.get_close_matches(str(name), list(choices), n=3)
    return f" (did you mean {' or '.join(close)}?)" if close else ""
