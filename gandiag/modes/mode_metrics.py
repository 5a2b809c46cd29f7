"""Mode metrics: how the generated samples spread over the reference's modes (docs/contract.md section 5).

Each sample is assigned to a mode (the nearest centre for ``ring8``/``grid25``, the digits
classifier's class for ``digits``, an NDB bin for references without modes) and marked *high
quality* (within 3 std of the centre; classifier confidence >= 0.9; inside the bin's radius).
With ``n_k`` the generated samples assigned to mode ``k``, ``h_k`` the high-quality ones among
them, ``n = sum_k n_k`` and ``M`` the number of modes:

* ``modes_total`` = M;
* ``modes_captured`` = #{k : h_k >= 1} (the protocol of VEEGAN, Srivastava et al. 2017, and
  PacGAN, Lin et al. 2018: a mode is captured when at least one high-quality sample lies in it);
* ``hq_fraction`` = (sum_k h_k) / n;
* ``mode_shares`` p_k = n_k / n: every sample counts, each at its nearest mode, so the histogram
  is defined even when no sample is high quality (off-mode samples are what ``hq_fraction`` and the
  ``low_quality`` flag measure; counting them here too would make one defect raise two numbers);
* ``mode_kl`` = KL(p || q) = sum_{k : p_k > 0} p_k log(p_k / q_k) in nats, q the reference's mode
  shares (the "reverse KL" of PacGAN table 1). Empty *generated* bins contribute 0 (0 log 0 = 0):
  the sum runs over the generated support, so no epsilon is needed as long as q_k > 0 wherever
  p_k > 0. That holds for the mixtures (q_k = 1/M exactly, from ``reference.weights``) and for NDB
  bins (every k-means bin holds reference samples). Where q is estimated from a reference sample
  (``digits``) and some q_k would be 0, every reference count gets a pseudo-count of 1/2
  (Krichevsky-Trofimov) before normalising, so the KL stays finite;
* ``effective_modes`` = exp(H(p)) = exp(-sum_k p_k log p_k): M for a uniform histogram, 1 when every
  sample sits in one mode (Hill number of order 1);
* ``intra_mode_spread`` = median over modes k with at least two high-quality samples in both sets of
  s_k(generated) / s_k(reference), with s_k the root mean per-coordinate variance (ddof = 1) of the
  high-quality samples in mode k (for an isotropic Gaussian mode, its std). The reference's s_k is
  *estimated from a reference sample* measured the same way, not taken from the mixture's known
  std: high-quality samples are a truncated Gaussian (std about 0.95 sigma inside 3 sigma in 2-D),
  and measuring both sides through the same filter makes a perfect generator score about 1 on every
  reference (mixtures, digits, NDB bins) without per-reference corrections. By default the reference
  sample has the same n as the generated one, so both estimates carry the same noise.

The reference sample also gives ``reference_hq_fraction``, the floor for the ``low_quality`` flag,
except for NDB bins measured on held-out samples (``heldout_hq_fraction``, see
:meth:`gandiag.modes.NDBBins.with_heldout`): their radii are fitted on the bins' own members, so
the fitted sample's high-quality share (0.99 by construction) would overstate the reference's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import numpy as np

from .._arrays import to_numpy
from ..errors import GandiagInputError
from ..schema import MODE_COLUMNS

__all__ = [
    "MODE_COLUMNS",
    "ModeAssigner",
    "ModeDetails",
    "effective_modes",
    "mode_histogram",
    "mode_kl",
    "mode_metrics",
    "within_mode_std",
]


@dataclass(frozen=True)
class ModeDetails:
    """The per-mode data behind one row's mode columns: generated and reference shares of each mode,
    generated (and high-quality) counts, the reference's high-quality fraction, and what a mode is
    called in evidence text (``mode``, ``class``, ``bin``)."""

    shares: np.ndarray
    reference_shares: np.ndarray
    counts: np.ndarray
    hq_counts: np.ndarray
    reference_hq_fraction: float
    label: str = "mode"

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> "ModeDetails":
        """From the dict of :func:`mode_metrics`."""
        return cls(np.asarray(metrics["mode_shares"], dtype=float), np.asarray(metrics["reference_shares"], dtype=float),
                   np.asarray(metrics["mode_counts"]), np.asarray(metrics["mode_hq_counts"]),
                   float(metrics["reference_hq_fraction"]), str(metrics.get("mode_label", "mode")))


class ModeAssigner(Protocol):
    """Anything with modes: a :class:`gandiag.Reference` with modes, or :class:`gandiag.modes.NDBBins`."""

    n_modes: int | None

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]: ...


def mode_histogram(modes: Any, n_modes: int, *, name: str = "modes") -> np.ndarray:
    """Counts of each mode index 0..n_modes-1 (int64, length ``n_modes``)."""
    idx = np.asarray(modes)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_modes)):
        raise GandiagInputError(f"{name}: expected 1-D mode indices in [0, {n_modes}), got shape {idx.shape}")
    return np.bincount(idx.astype(np.int64), minlength=n_modes)


def _distribution(hist: Any, name: str) -> np.ndarray:
    h = np.asarray(hist, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or np.any(h < 0) or not np.isfinite(h).all() or h.sum() <= 0:
        raise GandiagInputError(f"{name}: expected a non-empty 1-D histogram of non-negative counts")
    return h / h.sum()


def mode_kl(generated: Any, reference: Any) -> float:
    """KL(p || q) in nats between two mode histograms (counts or shares; each is normalised).

    The sum runs over the generated support {k : p_k > 0}; a reference bin with q_k = 0 under
    generated mass gives ``inf`` (callers smooth estimated reference histograms first).
    """
    p = _distribution(generated, "generated mode histogram")
    q = _distribution(reference, "reference mode histogram")
    if p.shape != q.shape:
        raise GandiagInputError(f"mode histograms differ in length: {p.size} and {q.size}")
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def effective_modes(generated: Any) -> float:
    """exp of the Shannon entropy (nats) of a mode histogram: the number of equally used modes."""
    p = _distribution(generated, "generated mode histogram")
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def within_mode_std(x: np.ndarray, modes: np.ndarray, n_modes: int, *, min_count: int = 2) -> np.ndarray:
    """Per mode: sqrt(mean over coordinates of the ddof=1 variance) of its rows; NaN below ``min_count`` rows."""
    counts = np.bincount(modes, minlength=n_modes).astype(np.float64)
    sums = np.zeros((n_modes, x.shape[1]))
    np.add.at(sums, modes, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / counts[:, None]
        centred = np.zeros(n_modes)  # two passes: squares of deviations from each mode's mean
        np.add.at(centred, modes, ((x - means[modes]) ** 2).sum(1))
        std = np.sqrt(centred / (counts - 1.0) / x.shape[1])
    return np.where(counts >= max(2, min_count), std, np.nan)


def _reference_shares(assigner: ModeAssigner, ref_modes: np.ndarray, n_modes: int) -> tuple[np.ndarray, float]:
    """``(q, N_r)``: reference shares and the number of samples they were counted on (inf if exact)."""
    weights = getattr(assigner, "weights", None)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n_modes,):
            raise GandiagInputError(f"reference weights have shape {w.shape}, expected ({n_modes},)")
        counted = getattr(assigner, "counts", None)  # NDB bins: shares counted on the fitted sample
        return w / w.sum(), float(np.sum(counted)) if counted is not None else float("inf")
    counts = mode_histogram(ref_modes, n_modes, name="reference modes").astype(np.float64)
    total = float(counts.sum())
    if np.any(counts == 0):
        counts += 0.5  # Krichevsky-Trofimov pseudo-count: keeps KL finite (module docstring)
    return counts / counts.sum(), total


def _reference_hq_fraction(assigner: Any, r_hq: np.ndarray) -> float:
    """The held-out high-quality share where the assigner carries one (NDB bins), else the sample's."""
    heldout = getattr(assigner, "heldout_hq_fraction", None)
    return float(r_hq.mean()) if heldout is None else float(heldout)


def _spread_pvalues(gen_std: np.ndarray, ref_std: np.ndarray, h_g: np.ndarray, h_r: np.ndarray,
                    defined: np.ndarray) -> dict[str, float]:
    """One-sided p-values of "the generated modes are no wider" and "no narrower than the reference's"
    (a pooled F-test), as ``spread_wider_pvalue`` and ``spread_narrower_pvalue``.

    Over the modes where the spread is defined, with h the high-quality counts and s the
    within-mode stds: F = [sum (h_g - 1) s_g^2 / sum (h_g - 1)] / [sum (h_r - 1) s_r^2 / sum (h_r - 1)],
    and with F' ~ F(sum (h_g - 1), sum (h_r - 1)) the p-values P(F' >= F) and P(F' <= F)
    (``scipy.stats.f``; the variance-ratio test, e.g. Snedecor & Cochran, Statistical Methods,
    section 6.9). The degrees of freedom count samples, not samples x coordinates, which is
    conservative when coordinates are correlated (pixels). NaN when no mode is defined. The
    significance guard of ``low_quality`` (``max_spread``) and ``mode_collapse`` (``min_spread``)
    reads them (:mod:`gandiag.modes.flags`).
    """
    if not defined.any():
        return {"spread_wider_pvalue": float("nan"), "spread_narrower_pvalue": float("nan")}
    from scipy import stats

    df_g, df_r = (h_g[defined] - 1.0).sum(), (h_r[defined] - 1.0).sum()
    var_g = float(((h_g[defined] - 1.0) * gen_std[defined] ** 2).sum() / df_g)
    var_r = float(((h_r[defined] - 1.0) * ref_std[defined] ** 2).sum() / df_r)
    if var_r <= 0:
        return {"spread_wider_pvalue": 0.0 if var_g > 0 else 1.0, "spread_narrower_pvalue": 1.0}
    ratio = var_g / var_r
    return {"spread_wider_pvalue": float(stats.f.sf(ratio, df_g, df_r)),
            "spread_narrower_pvalue": float(stats.f.cdf(ratio, df_g, df_r))}


def _flat(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x, name=name)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise GandiagInputError(f"{name}: expected a non-empty array of shape (n, d) or (n, C, H, W), got {arr.shape}")
    return arr.reshape(arr.shape[0], -1)


def _default_reference_sample(assigner: Any, n: int, seed: int) -> Any:
    if hasattr(assigner, "sample"):
        return assigner.sample(n, seed=seed)
    data = getattr(assigner, "data", None)
    if data is None:
        raise GandiagInputError(f"{type(assigner).__name__}: pass reference_sample= (it cannot draw one itself)")
    return data


def _checked_assign(assigner: ModeAssigner, x: Any, n_modes: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    modes, hq = assigner.assign_modes(x)
    modes, hq = np.asarray(modes, dtype=np.int64), np.asarray(hq, dtype=bool)
    if modes.shape != (len(x),) or hq.shape != (len(x),):
        raise GandiagInputError(
            f"{name}: assign_modes returned shapes {modes.shape} and {hq.shape} for {len(x)} samples"
        )
    mode_histogram(modes, n_modes, name=f"{name} modes")  # range check
    return modes, hq


def mode_metrics(
    samples: Any,
    reference: ModeAssigner,
    reference_sample: Any | None = None,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Mode metrics of generated ``samples`` (n, d) or (n, C, H, W) against ``reference``'s modes.

    ``reference`` is a :class:`gandiag.Reference` with modes, or fitted :class:`gandiag.modes.NDBBins`
    (its bins then serve as modes). ``reference_sample`` (same shape per sample) gives the
    reference's within-mode std and ``reference_hq_fraction``; by default it is
    ``reference.sample(len(samples), seed=seed)`` (for NDB bins: the sample they were fitted on).

    Returns the six :data:`MODE_COLUMNS` (Python ints and floats; ``intra_mode_spread`` is NaN
    when no mode holds two high-quality samples in both sets) and, for the flags:
    ``reference_hq_fraction``, ``mode_shares`` and ``reference_shares`` (float arrays of length
    ``modes_total``), ``reference_count`` (the number of reference samples the shares were counted
    on; ``inf`` when they are exact, as a mixture's weights), ``mode_counts`` and
    ``mode_hq_counts`` (int arrays), ``mode_spread`` (per-mode std ratio, NaN where undefined),
    ``spread_wider_pvalue`` and ``spread_narrower_pvalue`` (the pooled F-test of
    :func:`_spread_pvalues`), ``n`` and ``mode_label`` ("mode" or "bin").
    """
    n_modes = getattr(reference, "n_modes", None)
    if n_modes is None or not hasattr(reference, "assign_modes"):
        name = getattr(reference, "name", type(reference).__name__)
        raise GandiagInputError(
            f"reference {name!r} has no modes; fit NDB bins on its samples (gandiag.modes.NDBBins.fit) and pass those"
        )
    gen = _flat(samples, "samples")
    expected = getattr(reference, "shape", None)
    if expected is not None and gen.shape[1] != int(np.prod(expected)):
        raise GandiagInputError(
            f"samples have shape {tuple(np.shape(samples)[1:])} each, reference "
            f"{getattr(reference, 'name', '')!r} expects {tuple(expected)}"
        )
    ref_raw = _default_reference_sample(reference, len(gen), seed) if reference_sample is None else reference_sample
    ref_x = _flat(ref_raw, "reference_sample")
    if ref_x.shape[1] != gen.shape[1]:
        raise GandiagInputError(
            f"samples and reference_sample differ in size per sample: {gen.shape[1]} and {ref_x.shape[1]} values"
        )
    g_modes, g_hq = _checked_assign(reference, samples, n_modes, "samples")
    r_modes, r_hq = _checked_assign(reference, ref_raw, n_modes, "reference_sample")

    counts = mode_histogram(g_modes, n_modes)
    hq_counts = mode_histogram(g_modes[g_hq], n_modes)
    ref_shares, ref_total = _reference_shares(reference, r_modes, n_modes)
    gen_std = within_mode_std(gen[g_hq], g_modes[g_hq], n_modes)
    ref_std = within_mode_std(ref_x[r_hq], r_modes[r_hq], n_modes)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(ref_std > 0, gen_std / ref_std, np.nan)
    defined = np.isfinite(spread)
    ref_hq_counts = mode_histogram(r_modes[r_hq], n_modes)
    return {
        "modes_total": int(n_modes),
        "modes_captured": int(np.count_nonzero(hq_counts)),
        "hq_fraction": float(g_hq.mean()),
        "mode_kl": mode_kl(counts, ref_shares),
        "effective_modes": effective_modes(counts),
        "intra_mode_spread": float(np.median(spread[defined])) if defined.any() else float("nan"),
        "reference_hq_fraction": _reference_hq_fraction(reference, r_hq),
        "mode_shares": counts / counts.sum(),
        "reference_shares": ref_shares,
        "reference_count": ref_total,
        "mode_counts": counts,
        "mode_hq_counts": hq_counts,
        "mode_spread": spread,
        **_spread_pvalues(gen_std, ref_std, hq_counts, ref_hq_counts, defined),
        "n": int(len(gen)),
        "mode_label": str(getattr(reference, "mode_label", "mode")),
    }
