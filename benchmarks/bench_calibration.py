"""Interval calibration: how often a row's 95% interval holds the value it claims to bracket.

    .venv/bin/python benchmarks/bench_calibration.py [--seeds 200] [--n 500] [--resamples 20] [--metrics w1,fid]
                                                     [--out reports/calibration.md]

For every metric with an interval (``gandiag.metrics.registry``: ``interval`` other than
``none``), one :class:`gandiag.scoring.Scorer` per seed scores a generated sample against the
reference sample with ``resamples`` resamples, as ``gandiag score --resamples K`` does, on two
cases with a known answer per family (vectors from ``ring8``, so the features are the samples
themselves):

* ``same``: an independent ``ring8`` sample of the same n (a perfect generator);
* ``shifted`` (divergences, features): the same sample moved by v = (0.02, 0), one within-mode
  std: W1 = W2 = |v| = 0.02 and FID = |v|^2 = 0.0004 exactly (a translation leaves the
  covariance alone);
* ``wide`` (modes): every mode's std doubled: hq_fraction = 1 - exp(-9/8) = 0.675 (2-D, 3 std
  of the reference inside 6 std of the generator: chi-square with 2 dof), against
  1 - exp(-9/2) = 0.989 for ``same``.

For each (metric, case) over S seeds it reports two coverages:

* **full n**: the share of intervals holding E[value at n], the metric's mean full-n value over
  the S seeds (what the interval is for: the value this n would read on average; its own
  Monte-Carlo error, sd / sqrt(S), is small beside the interval);
* **truth**: the share holding the population value where it is known in closed form (above,
  and 0 for every divergence, FID and KID of ``same``, 8 modes and a spread of 1); a metric
  biased at finite n (transport distances, FID) cannot cover its truth at small n, which the
  table shows rather than hides.

Nominal coverage is 95%; a Monte-Carlo coverage over S seeds has a standard error of about
sqrt(0.95 x 0.05 / S) (1.5 points at S = 200). The registry marks a metric whose full-n coverage
stays under 90% as ``interval_trusted=False``, and the gate takes baseline margins only on trusted
ones.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import gandiag
from gandiag.metrics.registry import get_spec, metric_specs
from gandiag.scoring import Scorer

SHIFT = np.array([0.02, 0.0], dtype=np.float32)  # one within-mode std of ring8
HQ_SAME, HQ_WIDE = 1.0 - math.exp(-4.5), 1.0 - math.exp(-9.0 / 8.0)
TRUTH: dict[tuple[str, str], float] = {
    **{(m, "same"): 0.0 for m in ("js", "w1", "w2", "sliced_w", "fid", "kid", "mode_kl")},
    ("w1", "shifted"): 0.02, ("w2", "shifted"): 0.02, ("fid", "shifted"): 0.0004,
    ("hq_fraction", "same"): HQ_SAME, ("hq_fraction", "wide"): HQ_WIDE,
    ("modes_captured", "same"): 8.0, ("modes_captured", "wide"): 8.0,
    ("effective_modes", "same"): 8.0, ("effective_modes", "wide"): 8.0,
    ("mode_kl", "wide"): 0.0, ("intra_mode_spread", "same"): 1.0,
}
CASES = {"divergences": ("same", "shifted"), "features": ("same", "shifted"), "modes": ("same", "wide")}


def interval_metrics(only: list[str] | None = None) -> list[str]:
    """The default metrics that carry an interval (the registry's ``interval`` kind), or ``only``."""
    names = [s.name for s in metric_specs(default_only=True) if s.has_interval]
    return [m for m in names if only is None or m in only]


def generated(case: str, n: int, seed: int) -> np.ndarray:
    """The case's generated sample: independent of the reference sample of ``seed``."""
    x = gandiag.reference("ring8").sample(n, seed=10_000 + seed).numpy()
    if case == "shifted":
        return x + SHIFT
    if case == "wide":
        centres = gandiag.reference("ring8").centres.numpy()
        nearest = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        return centres[nearest] + 2.0 * (x - centres[nearest])
    return x


def simulate(metrics: list[str], case: str, *, seeds: int, n: int, resamples: int) -> dict[str, np.ndarray]:
    """``{metric: (seeds, 3) array of value, ci_low, ci_high}`` over ``seeds`` seeds of one case."""
    out = {m: np.empty((seeds, 3)) for m in metrics}
    for s in range(seeds):
        row = Scorer("ring8", n=n, seed=s, metrics=metrics, resamples=resamples).score(generated(case, n, s)).to_series()
        for m in metrics:
            out[m][s] = row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"]
    return out


def coverage(values: np.ndarray, truth: float | None = None) -> dict[str, float]:
    """Coverage of E[value at n] (mean over seeds) and of ``truth``, and the mean interval width."""
    v, lo, hi = values[:, 0], values[:, 1], values[:, 2]
    target = float(np.mean(v))
    held = lambda t: float(np.mean((lo <= t) & (t <= hi)))  # noqa: E731
    return {"mean": target, "sd": float(np.std(v, ddof=1)), "width": float(np.mean(hi - lo)),
            "full_n": held(target), "truth": held(truth) if truth is not None else math.nan}


def run(only: list[str] | None, *, seeds: int, n: int, resamples: int) -> list[dict[str, Any]]:
    rows = []
    for family, cases in CASES.items():
        names = [m for m in interval_metrics(only) if get_spec(m).family == family]
        if not names:
            continue
        for case in cases:
            start = time.perf_counter()
            sims = simulate(names, case, seeds=seeds, n=n, resamples=resamples)
            took = time.perf_counter() - start
            for m in names:
                rows.append({"metric": m, "kind": get_spec(m).interval, "case": case,
                             **coverage(sims[m], TRUTH.get((m, case))), "seconds": took / len(names)})
                print(_line(rows[-1]), flush=True)
    return rows


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.0f}%"


def _line(r: dict[str, Any]) -> str:
    return (f"| {r['metric']} | {r['kind']} | {r['case']} | {r['mean']:.4g} | {r['sd']:.3g} | {r['width']:.3g} | "
            f"{_pct(r['full_n'])} | {_pct(r['truth'])} |")


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| metric | interval | case | mean at n | sd over seeds | mean width | covers full-n value | covers truth |\n"
            "|---|---|---|---|---|---|---|---|")
    return "\n".join([head, *(_line(r) for r in rows)])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--resamples", type=int, default=20)
    p.add_argument("--metrics", default=None, help="comma-separated subset (default: every metric with an interval)")
    p.add_argument("--out", default=None, help="write the table to this Markdown file too")
    a = p.parse_args(argv)
    only = a.metrics.split(",") if a.metrics else None
    rows = run(only, seeds=a.seeds, n=a.n, resamples=a.resamples)
    text = table(rows)
    print(text)
    if a.out:
        from gandiag.atomic import atomic_write_text

        command = " ".join(["benchmarks/bench_calibration.py", *(argv if argv is not None else sys.argv[1:])])
        atomic_write_text(Path(a.out), f"<!-- {command} -->\n{text}\n")


if __name__ == "__main__":
    main()
