"""Per-class diagnostics of a class-conditional generator: one row per class (``classes.csv``).

Inputs are arrays: the generated samples x_i with their requested classes y_i, the class a_i and
*high-quality* mark h_i the assigner gave them (the reference's mode assignment in 2-D, where a
class is a mode; the shipped digits classifier for ``digits``), and the same for a labelled
reference sample (x'_j, y'_j, a'_j, h'_j). For class c, G_c = {i : y_i = c} and R_c = {j : y'_j = c}:

* ``n``: |G_c|; ``accuracy``: share of G_c assigned to c; ``hq_fraction``: share of G_c marked high
  quality; ``output_share``: share of *all* outputs assigned to c (whatever was requested), and
  ``reference_share``, the share of the reference assigned to c;
* ``modes_captured``: modes holding at least one high-quality sample of G_c (VEEGAN's protocol,
  within the class); ``intra_mode_spread``: median over modes m (at least two high-quality samples
  of G_c and of R_c in m) of s_m(G_c) / s_m(R_c), s the root mean per-coordinate variance, ddof = 1
  (:func:`gandiag.modes.within_mode_std`): about 1 for a generator with the class's variety, 0 for
  a class collapsed to one point;
* with features (the reference's extractor: the samples themselves for vectors, the digits
  classifier's for digits): ``fid``, ``kid`` and ``precision``/``recall``/``density``/``coverage``
  of G_c against R_c (Heusel et al. 2017; Binkowski et al. 2018; Naeem et al. 2020); KID per class
  averages :data:`KID_SUBSETS` (10) subsets of min(1000, n_c), not the row's 100, to keep K classes cheap.

``intra_class_fid`` = (1/K) sum_c FID(R_c, G_c), the mean over classes (Miyato & Koyama 2018,
"cGANs with projection discriminator", section 4.1). Per-class sets are n/K samples, so the
per-class FIDs carry the finite-sample bias of that size; the real-vs-real floor row shows it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._arrays import to_numpy
from ..errors import GandiagInputError
from ..metrics import fid, kid, prdc
from ..modes import within_mode_std

__all__ = ["CLASS_COLUMNS", "class_table", "intra_class_fid"]

#: The columns of the per-class table, in order.
CLASS_COLUMNS: tuple[str, ...] = ("class", "n", "accuracy", "hq_fraction", "output_share", "reference_share",
                                  "modes_captured", "intra_mode_spread", "fid", "kid", "precision", "recall",
                                  "density", "coverage")
KID_SUBSET = 1000
#: Subsets per class for KID (the row's KID averages 100): K classes at 10 each cost what one KID does.
KID_SUBSETS = 10
MIN_FEATURE_ROWS = 6  # PRDC with k = 5 needs more than 5 reference rows


def _flat(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x, name=name)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise GandiagInputError(f"{name}: expected a non-empty array of shape (n, d) or (n, C, H, W), got {arr.shape}")
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def _ints(x: Any, n: int, name: str, upper: int) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise GandiagInputError(f"{name}: expected {n} integer class or mode indices, got {arr.dtype} of shape {arr.shape}")
    if n and (arr.min() < 0 or arr.max() >= upper):
        raise GandiagInputError(f"{name}: indices must be in [0, {upper}), got {arr.min()} to {arr.max()}")
    return arr.astype(np.int64)


def _spread(x: np.ndarray, modes: np.ndarray, hq: np.ndarray, xr: np.ndarray, rmodes: np.ndarray, rhq: np.ndarray,
            n_modes: int) -> float:
    gen = within_mode_std(x[hq], modes[hq], n_modes)
    ref = within_mode_std(xr[rhq], rmodes[rhq], n_modes)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, gen / ref, np.nan)
    ratio = ratio[np.isfinite(ratio)]
    return float(np.median(ratio)) if ratio.size else float("nan")


def _feature_values(real: np.ndarray, fake: np.ndarray, seed: int) -> dict[str, float]:
    nan = dict.fromkeys(("fid", "kid", "precision", "recall", "density", "coverage"), float("nan"))
    if len(real) < MIN_FEATURE_ROWS or len(fake) < MIN_FEATURE_ROWS:
        return nan
    subset = min(KID_SUBSET, len(real), len(fake))
    return {"fid": fid(real, fake), "kid": kid(real, fake, subsets=KID_SUBSETS, subset_size=subset, seed=seed),
            **prdc(real, fake)}


def class_table(
    samples: Any,
    requested: Any,
    modes: Any,
    hq: Any,
    reference_sample: Any,
    reference_labels: Any,
    reference_modes: Any,
    reference_hq: Any,
    *,
    n_classes: int,
    n_modes: int | None = None,
    features: Any | None = None,
    reference_features: Any | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per class 0..K-1 with the columns of :data:`CLASS_COLUMNS` (module docstring).

    ``modes``/``hq`` are the assigner's output for ``samples`` (``modes`` doubles as the assigned
    class: in gandiag's references a class is a mode); ``reference_*`` the same for a labelled
    reference sample, ``reference_labels`` its true classes. ``features``/``reference_features``
    (rows aligned with the samples) add FID, KID and PRDC per class; without them those are NaN.

    Examples
    --------
    >>> import gandiag
    >>> ring = gandiag.reference("ring8")
    >>> import torch
    >>> x, y = ring.draw(800, torch.Generator().manual_seed(0))
    >>> xr, yr = ring.draw(800, torch.Generator().manual_seed(1))
    >>> m, h = ring.assign_modes(x); mr, hr = ring.assign_modes(xr)
    >>> t = class_table(x, y.numpy(), m, h, xr, yr.numpy(), mr, hr, n_classes=8)
    >>> bool((t["accuracy"] == 1).all()), bool(t["intra_mode_spread"].between(0.7, 1.3).all())
    (True, True)
    """
    k = int(n_classes)
    m_total = int(n_modes or k)
    x, xr = _flat(samples, "samples"), _flat(reference_sample, "reference_sample")
    if x.shape[1] != xr.shape[1]:
        raise GandiagInputError(f"samples and reference_sample differ in size per sample: {x.shape[1]} and {xr.shape[1]}")
    y = _ints(requested, len(x), "requested labels", k)
    g_modes = _ints(modes, len(x), "modes", m_total)
    g_hq = np.asarray(hq, dtype=bool).reshape(-1)
    yr = _ints(reference_labels, len(xr), "reference labels", k)
    r_modes = _ints(reference_modes, len(xr), "reference modes", m_total)
    r_hq = np.asarray(reference_hq, dtype=bool).reshape(-1)
    if g_hq.shape != (len(x),) or r_hq.shape != (len(xr),):
        raise GandiagInputError("hq and reference_hq must hold one mark per sample")
    feats = rfeats = None
    if features is not None and reference_features is not None:
        feats, rfeats = _flat(features, "features"), _flat(reference_features, "reference_features")
        if len(feats) != len(x) or len(rfeats) != len(xr):
            raise GandiagInputError("features and reference_features must have one row per sample")
    out_counts = np.bincount(g_modes, minlength=m_total)[:k]
    ref_counts = np.bincount(r_modes, minlength=m_total)[:k]
    rows = []
    for c in range(k):
        g, r = y == c, yr == c
        row: dict[str, Any] = {"class": c, "n": int(g.sum())}
        row["accuracy"] = float(np.mean(g_modes[g] == c)) if g.any() else float("nan")
        row["hq_fraction"] = float(np.mean(g_hq[g])) if g.any() else float("nan")
        row["output_share"] = float(out_counts[c] / len(x))
        row["reference_share"] = float(ref_counts[c] / len(xr))
        row["modes_captured"] = int(np.unique(g_modes[g & g_hq]).size)
        row["intra_mode_spread"] = _spread(x[g], g_modes[g], g_hq[g], xr[r], r_modes[r], r_hq[r], m_total)
        if feats is not None:
            row.update(_feature_values(rfeats[r], feats[g], seed))
        else:
            row.update(dict.fromkeys(CLASS_COLUMNS[8:], float("nan")))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLASS_COLUMNS))


def intra_class_fid(table: pd.DataFrame) -> float:
    """Mean over classes of the per-class FID (Miyato & Koyama 2018); NaN if any class has none."""
    values = np.asarray(table["fid"], dtype=np.float64)
    return float(values.mean()) if values.size and np.isfinite(values).all() else float("nan")
