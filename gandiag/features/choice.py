"""Which feature extractor fits the data: chosen by the shape of one sample.

FID, KID and precision/recall/density/coverage are only as meaningful as the features they are
computed on (Kynkaanniemi et al. 2023, "The role of ImageNet classes in Frechet Inception
Distance"), so gandiag picks the extractor from the data rather than from a name:

* vectors (d,): ``identity``, the samples themselves;
* 8x8 grey images (1, 8, 8), and the ``stacked-digits`` reference's (3, 8, 8): ``digits``, the
  shipped digits classifier's penultimate layer (64 units per channel), whatever else is given;
* any other image shape: ``inception`` when its weights file is given (``weights=`` or
  ``$GANDIAG_INCEPTION_WEIGHTS``); otherwise none applies, and :class:`ExtractorChoice` says why
  and how to fix it in one line.

A weights file that is given but missing is an error (the user asked for it), never a silent
fallback to no features.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

__all__ = ["DIGITS_SHAPES", "NO_EXTRACTOR", "ExtractorChoice", "choose_extractor"]

#: How the one-line reason starts when no extractor applies (commands look for it in a row's notes).
NO_EXTRACTOR = "no feature extractor fits"

#: Sample shapes the shipped digits features apply to (with the reference they apply to, or any).
DIGITS_SHAPES: dict[tuple[int, ...], str | None] = {(1, 8, 8): None, (3, 8, 8): "stacked-digits"}


@dataclass(frozen=True)
class ExtractorChoice:
    """The extractor for some data (``name``), or ``None`` with the one-line reason (``why_none``)."""

    name: str | None
    why_none: str = ""

    def require(self) -> str:
        """The extractor's name; a :class:`GandiagInputError` with :attr:`why_none` when none applies."""
        if self.name is None:
            from ..errors import GandiagInputError

            raise GandiagInputError(self.why_none)
        return self.name


def _shape_text(shape: Sequence[int]) -> str:
    c, h, w = shape
    return f"{h}x{w} {'grey' if c == 1 else f'{c}-channel'}"


def choose_extractor(
    shape: Sequence[int],
    *,
    reference_name: str | None = None,
    weights: str | os.PathLike | None = None,
) -> ExtractorChoice:
    """The feature extractor for samples of one-sample ``shape`` (module docstring).

    Parameters
    ----------
    shape : sequence of int
        One sample's shape: ``(d,)`` for vectors, ``(C, H, W)`` for images.
    reference_name : str, optional
        The reference's name (``stacked-digits`` takes the digits features on its 3 channels).
    weights : path, optional
        The Inception weights file (default ``$GANDIAG_INCEPTION_WEIGHTS``).

    Returns
    -------
    ExtractorChoice
        ``name`` in ``identity``, ``digits``, ``inception``, or ``None`` with ``why_none``.

    Raises
    ------
    GandiagInputError
        A weights file that is given (argument or environment) but missing.

    Examples
    --------
    >>> choose_extractor((2,)).name, choose_extractor((1, 8, 8)).name
    ('identity', 'digits')
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        return ExtractorChoice("identity")
    if shape in DIGITS_SHAPES and DIGITS_SHAPES[shape] in (None, reference_name):
        return ExtractorChoice("digits")
    from .inception import ENV_VAR

    if weights is None and not os.environ.get(ENV_VAR):
        return ExtractorChoice(None, (
            f"{NO_EXTRACTOR} {_shape_text(shape)} images (the shipped digits features take 8x8 grey "
            f"images only), and FID, KID, precision, recall, density and coverage need one: pass "
            f"--inception-weights PATH (torch-fidelity's weights-inception-2015-12-05-6726825d.pth) or set "
            f"{ENV_VAR} for Inception features"))
    from .inception import resolve_weights_path

    resolve_weights_path(weights)  # given but missing: its one-line error names the file and the fix
    return ExtractorChoice("inception")
