"""Precision, recall, density and coverage on features, streamed over blocks.

Manifolds are unions of k-nearest-neighbour balls: B(x_i, r_k(x_i)), r_k(x_i) the distance from
x_i to its k-th nearest neighbour in its own set (itself excluded). With real X (N) and fake Y (M):

* precision = (1/M) sum_j 1[ exists i: d(y_j, x_i) < r_k(x_i) ]        (Kynkaanniemi et al. 2019,
* recall    = (1/N) sum_i 1[ exists j: d(x_i, y_j) < r_k(y_j) ]         "Improved Precision and
                                                                         Recall Metric", NeurIPS)
* density   = 1/(k M) sum_j sum_i 1[ d(y_j, x_i) < r_k(x_i) ]           (Naeem et al. 2020,
* coverage  = (1/N) sum_i 1[ min_j d(x_i, y_j) < r_k(x_i) ]             "Reliable Fidelity and
                                                                         Diversity Metrics", ICML)

docs/contract.md section 5: k = 3 for precision/recall and k = 5 for density/coverage by default.

Conventions (``convention=``): ``"prdc"`` (default) uses the strict ``<`` of the ``prdc`` package
(Naeem et al.'s reference code); ``"torch-fidelity"`` uses ``<=`` as torch-fidelity's precision
and recall do (it matters when distances tie exactly, e.g. duplicated or lattice data).

Streaming: the N x N, M x M and N x M distance matrices are never held. Rows are processed in
blocks of B (a B x N block of squared distances stays near ``block_bytes``); a block gives the
k-th neighbour radii in the first two passes and, in the third, updates per-fake "inside some
real ball" flags and counts and per-real coverage and recall flags. Peak extra memory is a few
blocks, whatever N.

Low dimension (d <= 6, CPU, ``search="auto"``): a k-d tree proposes the candidate pairs and only
those are computed, same values (:mod:`gandiag.metrics.prdc_tree`); 2.1 s -> 0.31 s at 10,000
ring8 points, 8.0 s -> 0.42 s at 20,000 (``benchmarks/bench_prdc.py``).

Distances are those of scikit-learn's ``euclidean_distances``, which the ``prdc`` package calls:
v = ||x||^2 - 2 x.y + ||y||^2 in float64 (squared norms by einsum, as its ``row_norms``), clamped
at 0, a point's distance to itself exactly 0, rounded to float32 before the square root when both
inputs are float32. ``precision=``:

* ``"exact"`` (default): float32 matrix products (twice as fast as float64) screen every pair
  with a rigorous bound on their round-off, |v_32 - v| <= gamma_{d+8} (||x||^2 + ||y||^2) with
  gamma_m = m u / (1 - m u), u = 2^-24 (Higham 2002, sec. 3.1), used doubled and with the larger
  norm taken over the block's row (or column), plus a margin of 16 u for the final rounding and
  square root; only the pairs whose side of a radius the bound cannot settle (a few per row)
  are recomputed in float64. Decisions, hence values, are those of the float64 computation.
  Assumes IEEE float32 matrix products (the default; not TF32 or bfloat16). Below d = 32 it is
  simply ``"float64"``.
* ``"float64"``: every distance in float64 (float32 inputs upcast per block).
* ``"float32"``: every distance in float32: fastest, may flip pairs within round-off of a radius.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import GandiagInputError
from .fid import feature_pair
from .prdc_tree import TREE_MAX_D, TooManyCandidates, sorted_per_row, summarise, tree_prdc

__all__ = ["prdc", "CONVENTIONS", "PRECISIONS", "SEARCHES"]

CONVENTIONS = {"prdc": torch.lt, "torch-fidelity": torch.le}
PRECISIONS = ("exact", "float64", "float32")
SEARCHES = ("auto", "blocks", "tree")
_COLUMN_CHUNK = 4096  # columns per matrix product when inputs are upcast (bounds the copy)
_PAIR_CHUNK = 256  # pairs per float64 recomputation (a few MB: stays in cache)
_U32 = 2.0**-24
_MARGIN = 16 * _U32  # relative: settles the rounding to float32 and the square root (docstring)
_TINY = 1e-30  # absolute: squared distances below it are always recomputed


def _sq_norms(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Squared row norms; on the CPU as scikit-learn's ``row_norms`` (einsum on float64 rows)."""
    if x.device.type == "cpu" and dtype == torch.float64:
        xn = x.numpy()
        parts = [xn[c : c + _COLUMN_CHUNK].astype(np.float64) for c in range(0, len(x), _COLUMN_CHUNK)]
        return torch.from_numpy(np.concatenate([np.einsum("ij,ij->i", p, p) for p in parts]))
    parts = [x[c : c + _COLUMN_CHUNK].to(dtype) for c in range(0, len(x), _COLUMN_CHUNK)]
    return torch.cat([(p * p).sum(1) for p in parts])


class _Side:
    """One feature set: blocks of squared distances from other rows to all of its rows."""

    def __init__(self, y: torch.Tensor, precision: str, out: torch.dtype) -> None:
        self.y, self.out = y, out
        self.screen = precision == "exact" and y.shape[1] >= 32
        self.est = torch.float64 if precision == "float64" or (precision == "exact" and not self.screen) else torch.float32
        self.sq64 = _sq_norms(y, torch.float64)
        self.sq_est = self.sq64.to(self.est)
        m = y.shape[1] + 8
        self.gamma = 2.0 * m * _U32 / (1.0 - m * _U32) if self.screen else 0.0

    def block(self, xb: torch.Tensor, xb_sq: torch.Tensor) -> torch.Tensor:
        """(B, n) estimates of v = -2 x.y + |x|^2 + |y|^2 (unclamped), in ``self.est``."""
        xb = xb.to(self.est)
        out = torch.empty(len(xb), len(self.y), dtype=self.est, device=xb.device)
        chunk = len(self.y) if self.y.dtype == self.est else _COLUMN_CHUNK  # no upcast: one product
        for c in range(0, len(self.y), chunk):
            cols = slice(c, c + chunk)
            part, y_t = out[:, cols], self.y[cols].to(self.est).T
            if self.screen:  # order is free under the bound: fold -2 and |y|^2 into the product
                torch.addmm(self.sq_est[None, cols].expand(len(xb), -1), xb, y_t, alpha=-2.0, out=part)
                part.add_(xb_sq.to(self.est)[:, None])
            else:  # scikit-learn's order: (-2 x.y + |x|^2) + |y|^2
                torch.mm(xb, y_t, out=part)
                part.mul_(-2.0).add_(xb_sq.to(self.est)[:, None]).add_(self.sq_est[None, cols])
        return out

    def row_bound(self, xb_sq64: torch.Tensor) -> torch.Tensor:
        """(B, 1) float64 bound on |estimate - v| along each row: gamma (|x_i|^2 + max_j |y_j|^2)."""
        return (self.gamma * (xb_sq64 + self.sq64.max()))[:, None]

    def column_bound(self, xb_sq64: torch.Tensor) -> torch.Tensor:
        """(1, n) float64 bound on |estimate - v| down each column: gamma (max_i |x_i|^2 + |y_j|^2)."""
        return (self.gamma * (xb_sq64.max() + self.sq64))[None, :]

    def exact(self, x: torch.Tensor, x_sq64: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """float64 v for the pairs (x[i], y[j]), the formula and order of scikit-learn's.

        On the CPU the dot products go through numpy, one thread, in cache-sized chunks: many
        small multi-threaded torch ops would each wait on a thread barrier (slow on busy cores).
        """
        if x.device.type == "cpu":
            xn, yn, ii, jj = x.numpy(), self.y.numpy(), i.numpy(), j.numpy()
            dot = np.empty(len(ii))
            for p in range(0, len(ii), _PAIR_CHUNK):
                sl = slice(p, p + _PAIR_CHUNK)
                dot[sl] = np.einsum("ij,ij->i", xn[ii[sl]].astype(np.float64), yn[jj[sl]].astype(np.float64))
            dots = torch.from_numpy(dot)
        else:
            parts = [(x[i[p : p + _PAIR_CHUNK]].double() * self.y[j[p : p + _PAIR_CHUNK]].double()).sum(1)
                     for p in range(0, len(i), _PAIR_CHUNK)]  # fmt: skip
            dots = torch.cat(parts) if parts else torch.empty(0, dtype=torch.float64, device=x.device)
        return (dots * -2.0 + x_sq64[i]) + self.sq64[j]

    def dist(self, v: torch.Tensor) -> torch.Tensor:
        """Distances from squared distances: rounded to the output type, clamped, square root."""
        return v.to(self.out, copy=True).clamp_(min=0.0).sqrt_()


def _block_rows(n_rows: int, n_cols: int, block_bytes: int) -> int:
    return int(max(1, min(n_rows, block_bytes // (8 * max(n_cols, 1)))))


def _radii(side: _Side, ks: tuple[int, ...], block: int) -> dict[int, torch.Tensor]:
    """float64 squared distance from each row to its k-th nearest other row, for every k.

    Screening: every estimate in row i is within e_i of its exact value, so the (k+1)-th
    smallest exact value (the point itself is the first) lies in [t - e_i, t + e_i], t the
    (k+1)-th smallest estimate. Estimates under t - 2 e_i are certainly below it (c of them);
    only those within [t - 2 e_i, t + 2 e_i] are recomputed, and the answer is their
    (k+1-c)-th smallest.
    """
    x, kk = side.y, max(ks) + 1
    out = {k: torch.empty(len(x), dtype=torch.float64, device=x.device) for k in ks}
    for s in range(0, len(x), block):
        est = side.block(x[s : s + block], side.sq_est[s : s + block])
        rows = torch.arange(len(est), device=x.device)
        est[rows, rows + s] = 0.0
        top = torch.topk(est, kk, dim=1, largest=False, sorted=True).values
        nearest = top.double()
        if not side.screen:
            for k in ks:
                out[k][s : s + len(est)] = nearest[:, k]
            continue
        err2 = 2.0 * side.row_bound(side.sq64[s : s + block])
        for k in ks:
            low = (nearest[:, k : k + 1] - err2).to(torch.float32)
            high = (nearest[:, k : k + 1] + err2).to(torch.float32)
            below = (top[:, :k] < low).sum(1)  # every estimate under low is among the k smallest
            i, j = torch.nonzero((est >= low) & (est <= high), as_tuple=True)
            v = side.exact(x, side.sq64, i + s, j)
            v[j == i + s] = 0.0
            ranked = sorted_per_row(i, v, len(est))
            out[k][s : s + len(est)] = ranked.gather(1, (k - below)[:, None])[:, 0]
    return out


class _Pairs:
    """Exact squared distances between rows of one block ``xb`` and rows of ``side``, by index."""

    def __init__(self, side: _Side, xb: torch.Tensor, xb_sq64: torch.Tensor) -> None:
        self.side, self.xb, self.xb_sq64 = side, xb, xb_sq64

    def dist(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        return self.side.dist(self.side.exact(self.xb, self.xb_sq64, i, j))


def _decide(inside: Any, est: torch.Tensor, pairs: _Pairs, tests: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """For each test (v_k, r_k = dist(v_k)): bool (B, M), is dist(v) inside r_k (broadcast).

    Screening: with v_k a row (B, 1) or column (1, M) of exact squared radii and e the bound on
    the estimates along it, an estimate under v_k (1 - 16u) - 1e-30 - e is certainly inside
    and one above v_k (1 + 16u) + 1e-30 + e certainly outside; the rest is recomputed.
    """
    side = pairs.side
    if not side.screen:
        dist = side.dist(est)
        return [inside(dist, r) for _, r in tests]
    by_row, by_column = side.row_bound(pairs.xb_sq64), side.column_bound(pairs.xb_sq64)
    sure, unsure = [], torch.zeros(est.shape, dtype=torch.bool, device=est.device)
    for v_k, _ in tests:
        err = by_row if v_k.shape[1] == 1 else by_column
        inner = v_k - _MARGIN * v_k.abs() - _TINY
        low = torch.where(inner > _TINY, inner - err, -torch.inf).to(torch.float32)
        high = (v_k + _MARGIN * v_k.abs() + _TINY + err).to(torch.float32)
        sure_in = est < low
        sure.append(sure_in)
        unsure |= (est >= low) & (est <= high)
    i, j = torch.nonzero(unsure, as_tuple=True)
    dist = pairs.dist(i, j)
    for (_, r), decided in zip(tests, sure):
        decided[i, j] = inside(dist, r.expand(est.shape)[i, j])
    return sure


def prdc(
    real: Any,
    fake: Any,
    nearest_k: int | None = None,
    *,
    k_pr: int = 3,
    k_dc: int = 5,
    convention: str = "prdc",
    precision: str = "exact",
    block_bytes: int = 128 * 2**20,
    device: str | torch.device | None = None,
    search: str = "auto",
) -> dict[str, float]:
    """Precision, recall, density, coverage between feature sets (N, d) and (M, d), real first.

    ``k_pr`` (default 3) is the neighbourhood of precision/recall, ``k_dc`` (default 5) that of
    density/coverage; ``nearest_k`` sets both, as the ``prdc`` package's ``compute_prdc`` does.
    ``convention``: ``"prdc"`` (``<``) or ``"torch-fidelity"`` (``<=``). ``precision``:
    ``"exact"``, ``"float64"`` or ``"float32"`` (module docstring). ``block_bytes`` sizes one
    block of B x N entries at 8 bytes each (the working set is a few such blocks); ``device``
    runs the blocks there (e.g. ``"cuda"``). ``search``: ``"blocks"`` (dense blocks, any d),
    ``"tree"`` (k-d tree candidates, :mod:`gandiag.metrics.prdc_tree`; CPU, precision ``"exact"``
    or ``"float64"``; same values) or ``"auto"`` (tree when d <= 6 on the CPU and not
    ``precision="float32"``; blocks otherwise, and when the candidate pairs would exceed 5e7).
    Returns Python floats under the keys precision, recall, density, coverage.

    Parameters
    ----------
    real, fake : array_like
        Feature sets (N, d) and (M, d), numpy arrays or torch tensors; ``real`` needs more than
        max(k_pr, k_dc) rows, ``fake`` more than k_pr.
    nearest_k : int, optional
        Sets both ``k_pr`` and ``k_dc``.
    k_pr : int, default 3
        Neighbourhood size of precision and recall.
    k_dc : int, default 5
        Neighbourhood size of density and coverage.
    convention : {"prdc", "torch-fidelity"}, default "prdc"
        Strict ``<`` or ``<=`` against a radius.
    precision : {"exact", "float64", "float32"}, default "exact"
        How distances are computed (module docstring).
    block_bytes : int, default 128 MiB
        Size of one block of B x N entries at 8 bytes each.
    device : str or torch.device, optional
        Where the blocks run (e.g. ``"cuda"``); the inputs' device by default.
    search : {"auto", "blocks", "tree"}, default "auto"
        Dense blocks, k-d tree candidates, or the faster of the two for the data.

    Returns
    -------
    dict of str to float
        ``precision``, ``recall``, ``coverage`` in [0, 1]; ``density`` >= 0 (1 on average when
        the two sets come from one distribution).

    Raises
    ------
    GandiagInputError
        An unknown ``convention``, ``precision`` or ``search``; a k that is not a positive
        integer; too few rows for k; ``search="tree"`` off the CPU or with
        ``precision="float32"``; sets of different dimensions; NaN or infinite values.

    Examples
    --------
    A set against itself: every point lies in its own ball, so all four are 1 (with no ties).
    The tree and the blocks give the same values:

    >>> import numpy as np
    >>> from gandiag.metrics import prdc
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(64, 2))
    >>> fake = rng.normal(size=(64, 2)) + [1.0, 0.0]
    >>> prdc(real, real)
    {'precision': 1.0, 'recall': 1.0, 'density': 1.0, 'coverage': 1.0}
    >>> {name: round(value, 4) for name, value in prdc(real, fake).items()}
    {'precision': 0.9375, 'recall': 1.0, 'density': 0.8375, 'coverage': 0.9375}
    >>> prdc(real, fake, search="blocks") == prdc(real, fake, search="tree")
    True
    """
    if convention not in CONVENTIONS:
        raise GandiagInputError(f"prdc convention {convention!r} is not one of {', '.join(CONVENTIONS)}")
    if precision not in PRECISIONS:
        raise GandiagInputError(f"prdc precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if search not in SEARCHES:
        raise GandiagInputError(f"prdc search {search!r} is not one of {', '.join(SEARCHES)}")
    if nearest_k is not None:
        k_pr = k_dc = nearest_k
    for name, k in (("k_pr", k_pr), ("k_dc", k_dc)):
        if int(k) != k or k < 1:
            raise GandiagInputError(f"prdc {name} must be a positive integer, got {k!r}")
    k_pr, k_dc = int(k_pr), int(k_dc)
    r_np, f_np = feature_pair(real, fake)
    for name, x, k in (("real", r_np, max(k_pr, k_dc)), ("fake", f_np, k_pr)):
        if len(x) <= k:
            raise GandiagInputError(f"prdc: {name} has {len(x)} samples; k = {k} neighbours need at least {k + 1}")

    both_single = r_np.dtype == np.float32 and f_np.dtype == np.float32
    out_dtype = torch.float32 if both_single or precision == "float32" else torch.float64
    real_t, fake_t = (torch.from_numpy(a).to(device) if device is not None else torch.from_numpy(a) for a in (r_np, f_np))
    inside = CONVENTIONS[convention]

    on_cpu = real_t.device.type == "cpu"
    if search == "tree" and (not on_cpu or precision == "float32"):
        raise GandiagInputError('prdc search "tree" runs on the CPU with precision "exact" or "float64"')
    tree = search == "tree" or (search == "auto" and on_cpu and precision != "float32" and r_np.shape[1] <= TREE_MAX_D)

    with torch.no_grad():
        real_s, fake_s = _Side(real_t, precision, out_dtype), _Side(fake_t, precision, out_dtype)
        if tree:
            try:
                return tree_prdc(real_s, fake_s, k_pr, k_dc, inside)
            except TooManyCandidates:
                pass
        v_real = _radii(real_s, tuple(sorted({k_pr, k_dc})), _block_rows(len(real_t), len(real_t), block_bytes))
        v_fake = _radii(fake_s, (k_pr,), _block_rows(len(fake_t), len(fake_t), block_bytes))[k_pr]
        r_real = {k: real_s.dist(v) for k, v in v_real.items()}
        r_fake = fake_s.dist(v_fake)

        in_pr = torch.zeros(len(fake_t), dtype=torch.bool, device=fake_t.device)
        in_count = torch.zeros(len(fake_t), dtype=torch.int64, device=fake_t.device)  # += int32 per block
        covered = torch.empty(len(real_t), dtype=torch.bool, device=real_t.device)
        recalled = torch.empty(len(real_t), dtype=torch.bool, device=real_t.device)
        block = _block_rows(len(real_t), len(fake_t), block_bytes)
        for s in range(0, len(real_t), block):
            xb, xb_sq64 = real_t[s : s + block], real_s.sq64[s : s + block]
            est = fake_s.block(xb, real_s.sq_est[s : s + block])  # (B real, M fake)
            rows = slice(s, s + len(est))
            radii = [(v_real[k][rows, None], r_real[k][rows, None]) for k in dict.fromkeys((k_dc, k_pr))]
            hits = _decide(inside, est, _Pairs(fake_s, xb, xb_sq64), [*radii, (v_fake[None, :], r_fake[None, :])])
            hit_dc, hit_pr, hit_fake = hits[0], hits[-2], hits[-1]  # hit_pr is hit_dc when k_pr == k_dc
            in_pr |= hit_pr.any(0)
            in_count += hit_dc.view(torch.uint8).sum(0, dtype=torch.int32)  # fastest column count
            covered[rows] = hit_dc.any(1)
            recalled[rows] = hit_fake.any(1)

    return summarise(in_pr, recalled, in_count, covered, k_dc)

