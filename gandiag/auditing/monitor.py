"""An in-loop monitor for people who train in their own loop and never write checkpoint files.

>>> import torch, gandiag
>>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
>>> mon = gandiag.Monitor("ring8", n=300, every=100, metrics="modes", plots=False, echo=None)
>>> for step in range(0, 201, 50):
...     row = mon.step(net, step, latent_dim=2)  # scores at steps 0, 100, 200 only
>>> [int(s) for s in mon.report().frame["step"].dropna()]
[0, 100, 200]
>>> alerts = {a.name: a.step for a in mon.alerts}  # an untrained net: confirmed at the 2nd scored step
>>> alerts["mode_dropping"], alerts["low_quality"]
(100, 100)

:meth:`Monitor.step` scores the generator on the configured steps (``step % every == 0``) with
one :class:`gandiag.scoring.Scorer` built once (the reference sample, its features and the NDB
bins are shared by every step), returns the report row (``None`` on other steps), keeps the
findings (:mod:`gandiag.auditing.live`: alerts when a flag's onset is confirmed), and, with
``out``, rewrites the same report files as ``gandiag audit`` after each scored step.

Monitoring does not change training: while scoring, the module is put in eval mode and every
submodule's train/eval flag is restored afterwards; the global random states that training
draws from (torch's CPU and CUDA generators, numpy's and Python's ``random``) are saved and
restored; sampling runs without autograd on its own seeded generator. A test trains the same
net twice, with and without the monitor, and gets bit-identical weights.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch

from ..errors import GandiagInputError
from ..generators import as_generator
from ..scoring import REAL_VS_REAL, Scorer
from .best import BestChoice, best_checkpoints
from .live import LiveAudit, parse_exit_on
from .report import Report

__all__ = ["Monitor"]

RUN_NAME = "monitor"
#: The monitor's default metrics: every family but exact transport (W1, W2, Sinkhorn cost seconds
#: per call at n = 2,500 and add little to sliced W while training); pass ``metrics=`` for others.
MONITOR_METRICS = "modes,ndb,features,js,c2st_accuracy,c2st_pvalue,sliced_w"


@contextlib.contextmanager
def untouched(module: Any) -> Iterator[None]:
    """Leave ``module``'s train/eval flags and the global random states as they were."""
    modes = [(m, m.training) for m in module.modules()] if isinstance(module, torch.nn.Module) else []
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate(),
              torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        if states[3] is not None:
            torch.cuda.set_rng_state_all(states[3])


class Monitor:
    """Score a generator every ``every`` steps inside a training loop; see the module docstring.

    Parameters
    ----------
    reference : str or Reference
        As for :func:`gandiag.audit`.
    every : int, default 500
        Score on steps that are multiples of ``every``.
    out : path, optional
        Report folder rewritten after each scored step (``report.csv``, ``report.md``, ...).
    confirm : int, default 2
        Consecutive scored steps that confirm a flag's onset (an alert).
    exit_on : sequence of str
        Stop rules as for ``gandiag watch --exit-on``; :attr:`should_stop` turns true at the
        first confirmed one, so the loop can ``break``.
    echo : callable, default print
        Receives each alert line (``None``: silent).
    plots : bool, default True
        Write the PNG plots with the report.
    floor : bool, default True
        Score the real-vs-real row once, at construction.
    metrics : str or sequence, default :data:`MONITOR_METRICS`
        Every family but exact transport (W1, W2, Sinkhorn), which costs seconds per call at
        n = 2,500; ``None`` for every metric that applies, as :func:`gandiag.audit`.
    **scorer_options
        ``n``, ``seed``, ``metrics``, ``resamples``, ``thresholds``, ... as for :class:`gandiag.scoring.Scorer`.
    """

    def __init__(self, reference: Any, *, every: int = 500, out: str | Path | None = None, confirm: int = 2,
                 exit_on: tuple[str, ...] | list[str] = (), echo: Callable[[str], Any] | None = print,
                 plots: bool = True, floor: bool = True, metrics: Any = MONITOR_METRICS,
                 **scorer_options: Any) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise GandiagInputError(f"Monitor: every must be an integer >= 1, got {every!r}")
        self.every = every
        self.echo = echo
        self.scorer = Scorer(reference, metrics=metrics, **scorer_options)
        name = reference if isinstance(reference, str) else self.scorer.reference.name
        for note in self.scorer.cautions() if echo is not None else ():
            echo(f"caution: {note}")
        self._live = LiveAudit(self.scorer, RUN_NAME, out=None if out is None else Path(out), confirm=confirm,
                               exit_on=parse_exit_on(list(exit_on), name), plots=plots,
                               floor=self.scorer.floor_result() if floor else None)

    def due(self, step: int) -> bool:
        """Whether ``step`` is a step to score."""
        return int(step) % self.every == 0

    def step(self, generator: Any, step: int, *, latent_dim: int | None = None, latent: str | None = None,
             force: bool = False) -> pd.Series | None:
        """Score ``generator`` (a module ``z -> x``, a callable, samples, a :class:`Generator`) at ``step``.

        Returns the report row (a pandas Series, as :func:`gandiag.score`), or ``None`` when
        ``step`` is not a multiple of ``every`` (unless ``force``).
        """
        if not (force or self.due(step)):
            return None
        with untouched(generator), torch.no_grad():
            gen = as_generator(generator, latent_dim=latent_dim, latent=latent)
            gen.step = int(step)
            result = self.scorer.score(gen, source=f"step {int(step)}")
        result.step = int(step)
        for alert in self._live.add(result):
            if self.echo is not None:
                self.echo(alert.line())
        return result.to_series()

    # -- what was found --------------------------------------------------------------------
    @property
    def alerts(self) -> list:
        """Every alert so far (:class:`gandiag.auditing.live.Alert`)."""
        return list(self._live.alerts)

    @property
    def should_stop(self) -> bool:
        """True once an ``exit_on`` rule is confirmed."""
        return self._live.stop is not None

    def report(self) -> Report:
        """The report of every scored step (and the real-vs-real row)."""
        return self._live.report()

    def best(self, metric: str | None = None) -> BestChoice:
        """The best scored step by ``metric`` and the recommendation (:func:`gandiag.auditing.best.best_checkpoints`)."""
        frame = self.report().frame
        return best_checkpoints(frame[frame["source"] != REAL_VS_REAL], metric)
