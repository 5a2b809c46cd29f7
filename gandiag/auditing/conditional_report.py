"""The class-conditional part of an audit report: ``classes.csv``, the confusion words and two plots.

For every class-conditional row of an audit (a generator G(z, y), or a ``.npz`` of samples with
their requested labels; :mod:`gandiag.scoring.conditional_runner`) the report keeps

* the per-class table (:func:`gandiag.conditional.class_table`) of each row, stacked with the row's
  ``source`` and ``step`` in front: ``classes.csv`` (:func:`classes_frame`);
* the confusion matrix C (C[k, j]: samples requested as class k that the reference assigns to class
  j; Mirza & Osindero 2014's G(z, y) obeys its label when C is diagonal), from which
  :func:`confused_classes` reads *class confusion*: a requested class k whose most frequent
  assigned class j != k takes at least :data:`CONFUSED_SHARE` of k's samples ("asked for 4, it
  draws 9": accuracy near 0 while the label is obeyed in its own way, which none of the flags
  ``condition_ignored``, ``class_collapse``, ``class_dropping`` names);
* ``confusion.png``: the confusion matrix of each shown row as a heat map of row shares
  C[k, j] / sum_j C[k, j] (requested class down, assigned class across);
* ``class_samples.png``: generated samples by requested class: for 2-D data a scatter coloured by the
  class asked for (a collapsed class is one dot, a confused one sits on another class's mode); for
  images one row of up to 8 images per class.

An audit with no class-conditional row has none of these: nothing is computed or drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from ..schema import REAL_VS_REAL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .report import Report

__all__ = ["CONFUSED_SHARE", "MAX_PANELS", "class_samples_figure", "classes_frame", "confused_classes",
           "confusion_figure", "confusion_words"]

#: Share of a requested class's samples that another class must take for the class to count as confused.
CONFUSED_SHARE = 0.5
#: Rows shown in each conditional plot.
MAX_PANELS = 4
PER_CLASS_IMAGES = 8
#: Confused classes named in words; the others are counted.
MAX_NAMED = 8


def classes_frame(results: Sequence[Any]) -> pd.DataFrame | None:
    """The per-class tables of the class-conditional ``results`` (:class:`gandiag.scoring.ScoreResult`, ``None``
    for an error row), one row per (row, class) with ``source`` and ``step`` first; ``None`` when there is none."""
    parts = []
    for r in results:
        table = None if r is None else r.classes
        if table is None:
            continue
        part = table.copy()
        part.insert(0, "step", pd.array([r.step] * len(part), dtype="Int64"))
        part.insert(0, "source", r.source)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else None


def confused_classes(confusion: np.ndarray, share: float = CONFUSED_SHARE) -> list[tuple[int, int, float]]:
    """``(requested k, assigned j, share)`` for every class k whose most frequent assigned class j != k takes at
    least ``share`` of the samples requested as k.

    Examples
    --------
    >>> confused_classes(np.array([[9, 1, 0], [0, 1, 9], [0, 0, 10]]))
    [(1, 2, 0.9)]
    """
    c = np.asarray(confusion, dtype=np.float64)
    out = []
    for k, row in enumerate(c):
        total = row.sum()
        if total <= 0:
            continue
        j = int(np.argmax(row))
        if j != k and row[j] / total >= share:
            out.append((k, j, round(float(row[j] / total), 4)))
    return out


def confusion_words(confusion: np.ndarray | None) -> str:
    """The class confusion of one row in words (``""`` when none): ``class confusion: asked for class 4 it draws
    class 5 (97%), ...``."""
    if confusion is None:
        return ""
    found = confused_classes(confusion)
    if not found:
        return ""
    words = [f"asked for class {k} it draws class {j} ({100 * s:.0f}%)" for k, j, s in found[:MAX_NAMED]]
    more = len(found) - MAX_NAMED
    tail = f" and {more} more ({len(found)} of {len(confusion)} classes confused)" if more > 0 else ""
    return "class confusion: " + ", ".join(words) + tail


def _shown(report: "Report") -> list[tuple[str, str]]:
    """(source, title) of the class-conditional rows to draw: those of the samples plot first, then the others."""
    from .plots import _shown_sources, _short

    have = report.confusion
    picked = [(s, t) for s, t in _shown_sources(report) if s in have]
    picked += [(s, _short(s)) for s in have if s != REAL_VS_REAL and s not in {p for p, _ in picked}]
    return picked[:MAX_PANELS]


def confusion_figure(report: "Report") -> "Figure | None":
    """Heat maps of the confusion matrices' row shares (requested class down, assigned across); ``None`` without
    class-conditional rows."""
    shown = _shown(report)
    if not shown:
        return None
    from .plots import _grid

    fig, axes = _grid(len(shown), 2, 4.2, 3.8)
    image = None
    for ax, (source, title) in zip(axes, shown):
        c = np.asarray(report.confusion[source], dtype=np.float64)
        rows = c / np.maximum(c.sum(1, keepdims=True), 1)
        k = len(c)
        image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    if rows[i, j] >= 0.005:
                        ax.text(j, i, f"{100 * rows[i, j]:.0f}", ha="center", va="center", fontsize=6.5,
                                color="white" if rows[i, j] > 0.6 else "black")
        ticks = range(k) if k <= 25 else range(0, k, max(1, k // 10))
        ax.set_xticks(list(ticks), [str(t) for t in ticks], fontsize=7)
        ax.set_yticks(list(ticks), [str(t) for t in ticks], fontsize=7)
        ax.set_xlabel("assigned class (by the reference)", fontsize=8)
        ax.set_ylabel("requested class", fontsize=8)
        words = confusion_words(c)
        ax.set_title(title + (f"\n{len(confused_classes(c))} classes confused" if words else ""), fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(shown)]), label="share of the requested class's samples", shrink=0.85)
    return fig


def class_samples_figure(report: "Report") -> "Figure | None":
    """Generated samples by requested class (scatter coloured by class in 2-D, one image row per class);
    ``None`` without class-conditional rows that kept their samples' labels, or for other data."""
    ref = report.reference
    shown = [(s, t) for s, t in _shown(report) if s in report.sample_labels and s in report.samples]
    if not shown or ref is None:
        return None
    two_d = not ref.is_image and ref.shape == (2,)
    if not ref.is_image and not two_d:
        return None
    from .plots import _grid, _limits, _mode_colors

    fig, axes = _grid(len(shown), 4 if two_d else 2, 3.4, 3.4 if two_d else 4.4)
    real = None if report.reference_sample is None else np.asarray(report.reference_sample, dtype=float)
    for ax, (source, title) in zip(axes, shown):
        x = np.asarray(report.samples[source], dtype=float)
        labels = np.asarray(report.sample_labels[source], dtype=np.int64)
        k = int(report.confusion[source].shape[0])
        if two_d:
            cmap = _mode_colors(k)
            ax.scatter(x[:, 0], x[:, 1], s=6, c=labels, cmap=cmap, vmin=-0.5, vmax=k - 0.5, alpha=0.5, lw=0)
            if ref.has_modes and k <= 25:
                centres = np.asarray(ref.centres, dtype=float)[:k]
                middle = centres.mean(0)
                for c, centre in enumerate(centres):  # the class number just outside its centre, away from the middle
                    away = centre - middle
                    at = centre + 0.12 * away + (0 if np.linalg.norm(away) else 0.1)
                    ax.annotate(str(c), at, fontsize=7, ha="center", va="center", color="0.25")
            if real is not None:
                x0, x1, y0, y1 = _limits(x, real)
                ax.set_xlim(x0, x1)
                ax.set_ylim(y0, y1)
            ax.set_aspect("equal", adjustable="box")
            ax.tick_params(labelsize=7)
            ax.set_title(f"{title}\ncolour = requested class (numbers: class centres)", fontsize=9)
        else:
            tiles = [x[labels == c][:PER_CLASS_IMAGES] for c in range(k)]
            blank = np.full((1, *x.shape[1:]), 1.0)  # white: no sample of that class
            rows = [np.concatenate([t, np.repeat(blank, PER_CLASS_IMAGES - len(t), 0)]) for t in tiles]
            grid = _rows_grid(np.stack(rows))
            h = x.shape[-2] + 1
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_yticks([c * h + h / 2 - 1 for c in range(k)], [str(c) for c in range(k)], fontsize=7)
            ax.set_xticks([])
            ax.set_ylabel("requested class", fontsize=8)
            ax.set_title(title, fontsize=9)
    return fig


def _rows_grid(x: np.ndarray, gap: int = 1) -> np.ndarray:
    """A (K, m, C, H, W) stack in [-1, 1] as one mosaic, one row per class, ``gap`` white pixels between tiles."""
    k, m, c, h, w = x.shape
    canvas = np.ones((k * h + (k - 1) * gap, m * w + (m - 1) * gap, c))
    for i in range(k):
        for j in range(m):
            canvas[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = \
                np.clip((x[i, j].transpose(1, 2, 0) + 1) / 2, 0, 1)
    return canvas[..., 0] if c == 1 else canvas[..., :3]
