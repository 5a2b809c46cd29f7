"""NDB: the number of statistically different bins (Richardson & Weiss 2018, "On GANs and GMMs").

For a reference without modes (a user's ``.npy`` or image folder), k-means bins stand in for
modes:

1. K-means with K clusters (default 100; scikit-learn ``KMeans``, k-means++ start, seeded) on N_r
   reference samples (flattened to vectors); bin k holds n_r,k of them, so its reference share is
   q_k = n_r,k / N_r.
2. Each of the N_g generated samples goes to the nearest centroid (Euclidean): n_g,k, p_k = n_g,k / N_g.
3. Per bin, a two-sided two-proportion z-test: with the pooled share
   P = (n_r,k + n_g,k) / (N_r + N_g) and SE = sqrt(P (1 - P) (1/N_r + 1/N_g)),
   z_k = (p_k - q_k) / SE and p-value 2 (1 - Phi(|z_k|)) (``scipy.stats.norm``). Bin k is
   *statistically different* when its p-value is under alpha (default 0.05).
4. ``ndb`` = number of different bins, ``ndb_k`` = ndb / K. A perfect generator gets about
   alpha * K different bins by chance (the real-vs-real floor), not 0.

For the flags the bins also get a *high-quality* radius: r_k, the smallest distance to bin k's
centroid that holds at least ``hq_quantile`` (default 0.99) of the bin's reference members (their
``hq_quantile`` quantile, ``method="higher"``). A sample is high
quality when it lies within r_k of its nearest centroid k, so off-distribution samples (between or
beyond the clusters) lower ``hq_fraction`` much as samples off a mixture's modes do. The radii
are fitted on the bins' own members, so on those members the high-quality share is
``hq_quantile`` by construction, while a fresh reference sample scores less (about 0.8 with ten
members per bin): the reference's own hq_fraction, the floor of the ``low_quality`` flag, is
measured on held-out reference samples (:meth:`NDBBins.with_heldout`), not on the fitted ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from .._arrays import as_2d
from ..errors import GandiagInputError

__all__ = ["NDBBins", "NDBResult", "ndb", "ndb_test"]


def _nearest(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and Euclidean distance to the nearest centroid for each row (blocks bound memory)."""
    idx = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x))
    c2 = (centroids**2).sum(1)
    for start in range(0, len(x), 8192):
        block = x[start : start + 8192]
        d2 = (block**2).sum(1)[:, None] - 2.0 * block @ centroids.T + c2[None, :]
        j = d2.argmin(1)
        idx[start : start + len(block)] = j
        dist[start : start + len(block)] = np.sqrt(np.maximum(d2[np.arange(len(block)), j], 0.0))
    return idx, dist


@dataclass(frozen=True, eq=False)
class NDBBins:
    """K-means bins fitted on reference samples; usable wherever modes are (``assign_modes``, ``n_modes``).

    ``centroids`` (K, d); ``counts`` (K,) reference samples per bin; ``radius`` (K,) high-quality
    radius per bin; ``data`` (N_r, d) the reference samples fitted on (flattened);
    ``heldout_hq_fraction``: the high-quality share of held-out reference samples
    (:meth:`with_heldout`; ``None`` until measured), which :func:`gandiag.modes.mode_metrics`
    reports as ``reference_hq_fraction`` in place of the fitted sample's.
    """

    centroids: np.ndarray
    counts: np.ndarray
    radius: np.ndarray
    data: np.ndarray
    mode_label: str = "bin"
    heldout_hq_fraction: float | None = None

    @classmethod
    def fit(cls, reference_samples: Any, k: int = 100, *, seed: int = 0, hq_quantile: float = 0.99) -> "NDBBins":
        """K-means (``k`` clusters, ``random_state=seed``, one k-means++ start) on ``reference_samples``."""
        from sklearn.cluster import KMeans

        x = as_2d(reference_samples, name="reference samples")
        if int(k) != k or k < 1:
            raise GandiagInputError(f"NDB: number of bins k must be a positive integer, got {k!r}")
        if k > len(x):
            raise GandiagInputError(f"NDB: k = {k} bins need at least {k} reference samples, got {len(x)}")
        if not 0.0 < hq_quantile <= 1.0:
            raise GandiagInputError(f"NDB: hq_quantile must be in (0, 1], got {hq_quantile}")
        km = KMeans(n_clusters=int(k), n_init=1, random_state=int(seed)).fit(x)
        centroids = np.asarray(km.cluster_centers_, dtype=np.float64)
        labels, dist = _nearest(x, centroids)  # re-assigned exactly as generated samples will be
        counts = np.bincount(labels, minlength=int(k))
        radius = np.zeros(int(k))
        for j in np.flatnonzero(counts):
            radius[j] = np.quantile(dist[labels == j], hq_quantile, method="higher")
        return cls(centroids, counts, radius, x)

    def with_heldout(self, reference_samples: Any) -> "NDBBins":
        """These bins with ``heldout_hq_fraction`` measured on ``reference_samples``, reference
        samples the bins were *not* fitted on (the scorer passes its real-vs-real floor sample)."""
        _, hq = self.assign_modes(reference_samples)
        if hq.size == 0:
            raise GandiagInputError("NDB: held-out reference samples are empty")
        return replace(self, heldout_hq_fraction=float(hq.mean()))

    @property
    def n_modes(self) -> int:
        return int(len(self.centroids))

    @property
    def weights(self) -> np.ndarray:
        """Reference share of each bin, q_k = n_r,k / N_r."""
        return self.counts / self.counts.sum()

    def assign_modes(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(bin, high_quality)``: the nearest centroid and whether the sample is within its radius."""
        pts = as_2d(x, name="samples")
        if pts.shape[1] != self.centroids.shape[1]:
            raise GandiagInputError(
                f"NDB: samples have {pts.shape[1]} values each, the bins were fitted on {self.centroids.shape[1]}"
            )
        idx, dist = _nearest(pts, self.centroids)
        return idx, dist <= self.radius[idx]


@dataclass(frozen=True, eq=False)
class NDBResult:
    """Per-bin test results: shares, z statistics, p-values and the different-bin mask."""

    bins: NDBBins
    reference_shares: np.ndarray
    generated_shares: np.ndarray
    z: np.ndarray
    pvalues: np.ndarray
    different: np.ndarray
    alpha: float

    @property
    def ndb(self) -> int:
        return int(np.count_nonzero(self.different))

    @property
    def ndb_k(self) -> float:
        return self.ndb / self.bins.n_modes

    def as_dict(self) -> dict[str, int | float]:
        """The report columns: ``{"ndb": ..., "ndb_k": ...}``."""
        return {"ndb": self.ndb, "ndb_k": self.ndb_k}


def ndb_test(bins: NDBBins, samples: Any, *, alpha: float = 0.05) -> NDBResult:
    """Two-proportion z-test per bin between the bins' reference counts and ``samples``."""
    if not 0.0 < alpha < 1.0:
        raise GandiagInputError(f"NDB: alpha must be in (0, 1), got {alpha}")
    modes, _ = bins.assign_modes(samples)
    n_g, n_r = len(modes), int(bins.counts.sum())
    gen_counts = np.bincount(modes, minlength=bins.n_modes)
    p, q = gen_counts / n_g, bins.counts / n_r
    pooled = (gen_counts + bins.counts) / (n_g + n_r)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_g + 1.0 / n_r))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p - q) / se, 0.0)
    pvalues = 2.0 * stats.norm.sf(np.abs(z))
    return NDBResult(bins, q, p, z, pvalues, pvalues < alpha, float(alpha))


def ndb(real: Any, fake: Any, *, k: int = 100, alpha: float = 0.05, seed: int = 0) -> dict[str, int | float]:
    """NDB of ``fake`` against bins fitted on ``real`` (both (n, d) or images): ``{"ndb", "ndb_k"}``."""
    return ndb_test(NDBBins.fit(real, k, seed=seed), fake, alpha=alpha).as_dict()
