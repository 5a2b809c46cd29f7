"""Exact precision/recall/density/coverage in low dimension through k-d trees.

In low dimension (2-D mixtures, d <= ``TREE_MAX_D`` = 6) almost every pair of points is far outside
every k-NN ball, and the dense B x N blocks of :mod:`gandiag.metrics.prdc` spend their time on
pairs that cannot matter. Here a k-d tree (``scipy.spatial.cKDTree``, Bentley 1975; Friedman,
Bentley & Finkel 1977) proposes *candidate* pairs, and every candidate's squared distance is then
computed with scikit-learn's formula v = (-2 x.y + ||x||^2) + ||y||^2 in float64, with the dot
product rounded as numpy's BLAS rounds it (:func:`formula`), so decisions and values are the
``prdc`` package's. The block path (torch's matrix product, which rounds differently) agrees
except on pairs whose squared distance ties a radius only to the last bit, which takes
cancellation: points some 1e5 times farther from the origin than from each other.

Why no pair is missed. The tree measures true distances; the formula differs from the true
squared distance by at most e = 4 (d + 4) u (max ||x||^2 + max ||y||^2), u = 2^-53 (a generous
form of Higham 2002, sec. 3.1, for a length-d dot product and two additions). So

* k-th neighbour radii: if t is the true distance to the (k+1)-th nearest point (the point itself
  is the first), the (k+1)-th smallest formula value is at most t^2 + e, and every point whose
  formula value can be that small has true squared distance under t^2 + 2e: the ball of that
  radius holds every candidate, and the (k+1)-th smallest formula value among them is the answer.
* ball membership: a pair decided "inside r" has formula value at most r^2 (1 + 1e-5) (the
  rounding of v to float32 and the square root move it by a few 2^-24), so true squared distance
  under r^2 (1 + 1e-5) + e: the tree's ball of that radius (times 1 + 1e-9 for the tree's own
  rounding) holds every such pair.

Candidates are counted first; past ``MAX_CANDIDATES`` pairs (heavily duplicated data, where the
balls hold most of the set) the caller falls back to the blocks.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = ["TREE_MAX_D", "MAX_CANDIDATES", "sorted_per_row", "summarise", "tree_prdc"]

TREE_MAX_D = 6  # at 10k Gaussian points: tree 0.76 s vs blocks 2.0 s at d = 6, equal at d = 8
MAX_CANDIDATES = 50_000_000  # pairs; past it the dense blocks are cheaper than index lists
_U64 = 2.0**-53
_DIST_SLACK = 1e-5  # relative, on squared radii: float32 rounding and square root (docstring)
_TREE_SLACK = 1e-9  # relative, on radii: the tree's own rounding
_TINY = 1e-300
_GATHER_CHUNK = 1 << 20  # pairs per gather of coordinates (8 MB per column)


class TooManyCandidates(Exception):
    """The balls hold too many pairs for index lists; use the dense blocks.

    Raised by :func:`tree_prdc` when the candidate pairs would exceed :data:`MAX_CANDIDATES`;
    :func:`gandiag.metrics.prdc` catches it and falls back to the blocks.
    """


def sorted_per_row(rows: torch.Tensor, values: torch.Tensor, n_rows: int) -> torch.Tensor:
    """(n_rows, max count) ``values`` of each row sorted ascending, padded with +inf.

    ``rows`` is sorted (row-major).

    Parameters
    ----------
    rows : torch.Tensor
        int64 row index of each value, sorted ascending, in [0, n_rows).
    values : torch.Tensor
        float64 values, one per entry of ``rows``.
    n_rows : int
        Number of rows of the result (rows without values are all +inf).

    Returns
    -------
    torch.Tensor
        float64 tensor (n_rows, largest count per row), each row's values ascending, then +inf.

    Examples
    --------
    >>> import torch
    >>> from gandiag.metrics.prdc_tree import sorted_per_row
    >>> rows = torch.tensor([0, 0, 1])
    >>> values = torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64)
    >>> sorted_per_row(rows, values, 3).tolist()
    [[1.0, 3.0], [2.0, inf], [inf, inf]]
    """
    counts = torch.bincount(rows, minlength=n_rows)
    pos = torch.arange(len(rows), device=rows.device) - (torch.cumsum(counts, 0) - counts)[rows]
    padded = torch.full((n_rows, int(counts.max())), float("inf"), dtype=torch.float64, device=rows.device)
    padded[rows, pos] = values
    return padded.sort(dim=1).values


def summarise(in_pr: torch.Tensor, recalled: torch.Tensor, in_count: torch.Tensor, covered: torch.Tensor,
              k_dc: int) -> dict[str, float]:
    """The four metrics from per-fake flags/counts (``in_pr``, ``in_count``) and per-real flags.

    Parameters
    ----------
    in_pr : torch.Tensor
        bool (M,): fake j lies in some real k_pr-ball.
    recalled : torch.Tensor
        bool (N,): real i lies in some fake k_pr-ball.
    in_count : torch.Tensor
        integer (M,): number of real k_dc-balls holding fake j.
    covered : torch.Tensor
        bool (N,): real i's k_dc-ball holds some fake point.
    k_dc : int
        Neighbourhood size of density.

    Returns
    -------
    dict of str to float
        ``precision``, ``recall``, ``density``, ``coverage`` (the formulas of
        :mod:`gandiag.metrics.prdc`).

    Examples
    --------
    >>> import torch
    >>> from gandiag.metrics.prdc_tree import summarise
    >>> out = summarise(torch.tensor([True, False]), torch.tensor([True, True, False, False]),
    ...                 torch.tensor([3, 1]), torch.tensor([True, False, False, False]), k_dc=2)
    >>> out
    {'precision': 0.5, 'recall': 0.5, 'density': 1.0, 'coverage': 0.25}
    """
    return {
        "precision": float(in_pr.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(in_count.double().sum()) / (k_dc * len(in_pr)),
        "coverage": float(covered.double().mean()),
    }


def _formula_error(side_a, side_b) -> float:
    """Bound e on |formula(v) - v| for any pair between the two sides (module docstring)."""
    d = side_a.y.shape[1]
    return 4.0 * (d + 4) * _U64 * float(side_a.sq64.max() + side_b.sq64.max())


def _pairs(tree: cKDTree, points: np.ndarray, reach: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(i, j) with ||points[i] - tree[j]|| <= reach[i] (the tree's rounding), sorted by i."""
    counts = tree.query_ball_point(points, reach, return_length=True, workers=torch.get_num_threads())
    if int(counts.sum()) > MAX_CANDIDATES:
        raise TooManyCandidates
    lists = tree.query_ball_point(points, reach, return_sorted=False, workers=torch.get_num_threads())
    j = np.concatenate([np.asarray(lst, dtype=np.int64) for lst in lists]) if len(lists) else np.empty(0, np.int64)
    i = np.repeat(np.arange(len(points)), counts)
    return torch.from_numpy(i), torch.from_numpy(j)


def formula(x, y, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """float64 v = (-2 x_i.y_j + ||x_i||^2) + ||y_j||^2 for index pairs (``x``/``y``: ``_Side``).

    The dot product is a chain of fused multiply-adds over the coordinates in order (``addcmul``),
    which is what numpy's BLAS (hence scikit-learn and the ``prdc`` package) computes for d <= 8:
    checked element by element, so that ties with a radius fall the same way as theirs.

    Parameters
    ----------
    x, y : gandiag.metrics.prdc._Side
        The two feature sets, with their float64 squared norms ``sq64``.
    i, j : torch.Tensor
        int64 index pairs: rows of ``x`` and rows of ``y``, of the same length.

    Returns
    -------
    torch.Tensor
        float64 squared distances v, one per pair (not clamped: may be a round-off below 0).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from gandiag.metrics.prdc import _Side
    >>> from gandiag.metrics.prdc_tree import formula
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(8, 2)), rng.normal(size=(6, 2))
    >>> side_a = _Side(torch.from_numpy(a), "exact", torch.float64)
    >>> side_b = _Side(torch.from_numpy(b), "exact", torch.float64)
    >>> i, j = torch.tensor([0, 1, 7]), torch.tensor([5, 0, 2])
    >>> v = formula(side_a, side_b, i, j).numpy()
    >>> bool(np.allclose(v, ((a[i.numpy()] - b[j.numpy()]) ** 2).sum(axis=1)))
    True
    """
    dots = torch.empty(len(i), dtype=torch.float64)
    for p in range(0, len(i), _GATHER_CHUNK):
        xi, yj = x.y[i[p : p + _GATHER_CHUNK]].double(), y.y[j[p : p + _GATHER_CHUNK]].double()
        acc = xi[:, 0] * yj[:, 0]
        for c in range(1, xi.shape[1]):
            acc = torch.addcmul(acc, xi[:, c], yj[:, c])
        dots[p : p + _GATHER_CHUNK] = acc
    return (dots * -2.0 + x.sq64[i]) + y.sq64[j]


def _reach(r_sq: np.ndarray, err: float, slack: float) -> np.ndarray:
    return np.sqrt(r_sq * (1.0 + slack) + 2.0 * err) * (1.0 + _TREE_SLACK) + _TINY


def tree_radii(side, tree: cKDTree, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """float64 formula squared distance from each point of ``side`` to its k-th nearest other one.

    Parameters
    ----------
    side : gandiag.metrics.prdc._Side
        The feature set, on the CPU.
    tree : scipy.spatial.cKDTree
        A k-d tree of the same points.
    ks : tuple of int
        The neighbour ranks wanted (each smaller than the number of points).

    Returns
    -------
    dict of int to torch.Tensor
        ``{k: float64 (n,)}``: squared distance (by :func:`formula`) of each point to its k-th
        nearest other point.

    Examples
    --------
    Against all squared distances sorted per row (the point itself, at 0, comes first):

    >>> import numpy as np
    >>> import torch
    >>> from scipy.spatial import cKDTree
    >>> from gandiag.metrics.prdc import _Side
    >>> from gandiag.metrics.prdc_tree import tree_radii
    >>> x = np.random.default_rng(0).normal(size=(64, 2))
    >>> radii = tree_radii(_Side(torch.from_numpy(x), "exact", torch.float64), cKDTree(x), (3, 5))
    >>> every = np.sort(((x[:, None] - x[None]) ** 2).sum(axis=-1), axis=1)
    >>> bool(np.allclose(radii[3].numpy(), every[:, 3]) and np.allclose(radii[5].numpy(), every[:, 5]))
    True
    """
    points = side.y.numpy()
    kk = max(ks) + 1
    true_dist, _ = tree.query(points, k=kk, workers=torch.get_num_threads())
    err = _formula_error(side, side)
    i, j = _pairs(tree, points, _reach(true_dist[:, -1] ** 2, err, 0.0))
    v = formula(side, side, i, j)
    v[i == j] = 0.0  # a point's distance to itself, as scikit-learn sets it
    ranked = sorted_per_row(i, v, len(points))
    return {k: ranked[:, k].contiguous() for k in ks}


def tree_prdc(real_s, fake_s, k_pr: int, k_dc: int, inside) -> dict[str, float]:
    """precision, recall, density, coverage with tree candidates (``real_s``/``fake_s``: ``_Side``).

    Raises :class:`TooManyCandidates` when the candidate lists would be too long.

    Parameters
    ----------
    real_s, fake_s : gandiag.metrics.prdc._Side
        The real and fake feature sets, on the CPU.
    k_pr, k_dc : int
        Neighbourhood sizes of precision/recall and of density/coverage.
    inside : callable
        ``torch.lt`` (the ``prdc`` convention) or ``torch.le`` (torch-fidelity's).

    Returns
    -------
    dict of str to float
        ``precision``, ``recall``, ``density``, ``coverage``: the values of the dense blocks of
        :func:`gandiag.metrics.prdc`.

    Raises
    ------
    TooManyCandidates
        More than :data:`MAX_CANDIDATES` candidate pairs.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from gandiag.metrics import prdc
    >>> from gandiag.metrics.prdc import _Side
    >>> from gandiag.metrics.prdc_tree import tree_prdc
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [1.0, 0.0]
    >>> real_s, fake_s = (_Side(torch.from_numpy(a), "exact", torch.float64) for a in (real, fake))
    >>> tree_prdc(real_s, fake_s, 3, 5, torch.lt) == prdc(real, fake, search="blocks")
    True
    """
    real_np, fake_np = real_s.y.numpy(), fake_s.y.numpy()
    real_tree, fake_tree = cKDTree(real_np), cKDTree(fake_np)
    v_real = tree_radii(real_s, real_tree, tuple(sorted({k_pr, k_dc})))
    v_fake = tree_radii(fake_s, fake_tree, (k_pr,))[k_pr]
    r_real = {k: real_s.dist(v) for k, v in v_real.items()}
    r_fake = fake_s.dist(v_fake)
    err = _formula_error(real_s, fake_s)
    n, m = len(real_np), len(fake_np)

    def dist(i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:  # real i, fake j: the block path's order
        return fake_s.dist(formula(real_s, fake_s, i, j))

    # Real balls (precision, density, coverage): fake candidates around each real point.
    widest = torch.maximum(v_real[k_pr], v_real[k_dc]).numpy()
    i, j = _pairs(fake_tree, real_np, _reach(widest, err, _DIST_SLACK))
    d_ij = dist(i, j)
    hit_pr = inside(d_ij, r_real[k_pr][i])
    hit_dc = inside(d_ij, r_real[k_dc][i])
    in_pr = torch.zeros(m, dtype=torch.bool)
    in_pr[j[hit_pr]] = True
    in_count = torch.bincount(j[hit_dc], minlength=m)
    covered = torch.zeros(n, dtype=torch.bool)
    covered[i[hit_dc]] = True

    # Fake balls (recall): real candidates around each fake point.
    jf, ir = _pairs(real_tree, fake_np, _reach(v_fake.numpy(), err, _DIST_SLACK))
    hit = inside(dist(ir, jf), r_fake[jf])
    recalled = torch.zeros(n, dtype=torch.bool)
    recalled[ir[hit]] = True
    return summarise(in_pr, recalled, in_count, covered, k_dc)
