"""``gandiag watch``: follow a training run while it is written, one checkpoint at a time.

Every ``every`` seconds the run folder is listed; a checkpoint file is scored once it is
*complete*: unchanged for ``settle`` seconds (default ``every``; gandiag's trainer renames finished
files into place atomically, other writers may write a file in pieces). A file that fails to load
and has changed since it was judged complete is looked at again later, never scored half written
(a writer that pauses longer than ``settle`` in the middle of a file is the case this cannot tell
apart: raise ``settle`` for such writers). Each checkpoint is scored once (rows are kept in the result store of ``out``, shared
with ``gandiag audit`` on the same folder), the report in ``out`` is rewritten after each, one
line is printed per checkpoint, and :mod:`gandiag.auditing.live` prints alerts when a flag's onset
is confirmed or mode hopping starts. Watching ends at ``until_step``, at the first confirmed stop
rule (``exit_on``), or with Ctrl-C (the report on disk is the one written after the last
checkpoint: complete).
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .._arrays import one_line
from ..atomic import check_replaceable, folder_lock, output_folder
from ..checkpoint import step_from_name
from ..defaults import DEFAULTS
from ..errors import GandiagInputError, SourceError
from ..loading import CHECKPOINT_SUFFIXES, load_generator
from ..scoring import REAL_VS_REAL, Scorer
from .live import Alert, LiveAudit, parse_exit_on, summary_line
from .report import REPORT_FILES
from .runner import _cached, _error_row
from .store import STORE_FILES, STORE_NAME, ResultStore, settings_key

__all__ = ["WatchOutcome", "watch"]


@dataclass(frozen=True)
class WatchOutcome:
    """How watching ended: ``reason`` is ``until-step``, ``stop-rule`` or ``polls``; ``stop`` the alert
    that stopped it (exit status 1 on the command line), ``scored`` checkpoints scored or reused."""

    reason: str
    scored: int
    alerts: tuple[Alert, ...]
    stop: Alert | None = None


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


class _Lister:
    """The run folder's checkpoint files that are complete and not yet taken, in step order."""

    def __init__(self, folder: Path, settle: float) -> None:
        self.folder = folder
        self.settle = settle
        self.taken: set[Path] = set()

    def ready(self) -> list[Path]:
        try:
            entries = [p for p in self.folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES
                       and not p.name.startswith(".") and p not in self.taken]
        except OSError as exc:
            raise GandiagInputError(f"watch {self.folder}: cannot list the run folder ({exc.strerror})") from None
        out = []
        now = time.time_ns()
        for path in entries:
            sig = _signature(path)
            if sig is None or not path.is_file():
                continue
            if (now - sig[1]) / 1e9 >= self.settle:  # unchanged for `settle` seconds: complete
                out.append(path)
        return sorted(out, key=lambda p: (step_from_name(p) is None, step_from_name(p) or 0, p.name))

    def take(self, path: Path) -> None:
        self.taken.add(path)

    @staticmethod
    def changed(path: Path, sig: tuple[int, int] | None) -> bool:
        """Whether ``path`` changed since it was judged complete (still being written: look again later)."""
        return _signature(path) != sig


def dirty(live: LiveAudit) -> bool:
    """Whether rows were added since the report was last written."""
    written = getattr(live, "_written", 0)
    live._written = len(live.rows)
    return len(live.rows) != written


def watch(
    run_dir: str | Path,
    reference: str,
    *,
    out: str | Path | None = None,
    every: float = 10.0,
    settle: float | None = None,
    confirm: int = 2,
    exit_on: Sequence[str] = (),
    until_step: int | None = None,
    max_polls: int | None = None,
    fresh: bool = False,
    floor: bool = True,
    floor_cache: bool = False,
    plots: bool = True,
    echo: Callable[[str], Any] = print,
    latent: str | None = DEFAULTS["latent"],
    latent_dim: int | None = DEFAULTS["latent_dim"],
    device: str = DEFAULTS["device"],
    allow_torchscript: bool = DEFAULTS["allow_torchscript"],
    timeout: float | None = DEFAULTS["timeout"],
    **scorer_options: Any,
) -> WatchOutcome:
    """Follow ``run_dir`` and score each new checkpoint once (see the module docstring).

    Parameters
    ----------
    run_dir : path
        The run folder a trainer is writing (``step-*.pt``/``.pt2``/``.npy``/``.npz`` files).
    reference : str
        As for :func:`gandiag.audit`.
    out : path, optional
        Report folder, rewritten after each checkpoint, with its result store ``scores.sqlite``.
    every : float, default 10
        Seconds between listings of the folder.
    settle : float, optional
        Seconds a file must be left unchanged to count as complete (default ``every``).
    confirm : int, default 2
        Consecutive checkpoints that confirm a flag's onset or a stop rule.
    exit_on : sequence of str
        Stop rules: a flag name, ``any``, ``METRIC.max=V`` or ``METRIC.min=V``.
    until_step : int, optional
        Stop after scoring a checkpoint of this step or later.
    max_polls : int, optional
        Stop after this many listings (for tests and scripts).
    floor_cache : bool, default False
        Read the real-vs-real row from the floor cache, as :func:`gandiag.audit` does
        (``gandiag watch`` does, unless ``--no-cache``).
    echo : callable
        Receives each printed line (default ``print``).
    **scorer_options
        ``n``, ``seed``, ``metrics``, ``resamples``, ``thresholds``, ... as for :class:`gandiag.scoring.Scorer`.

    Returns
    -------
    WatchOutcome
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise GandiagInputError(f"watch {run_dir}: not a folder (give the run folder the trainer writes)")
    if not every > 0:
        raise GandiagInputError(f"--every: need a number of seconds > 0, got {every!r}")
    scorer = Scorer(reference, **scorer_options)
    stop_rules = parse_exit_on(exit_on, reference if isinstance(reference, str) else scorer.reference.name)
    for note in scorer.cautions():  # said once, before the per-checkpoint lines whose flags it qualifies
        echo(f"caution: {note}")
    load = {"latent": latent, "latent_dim": latent_dim, "device": device}
    with contextlib.ExitStack() as stack:
        kept = None
        target = None
        if out is not None:
            target = output_folder(out)
            stack.enter_context(folder_lock(target))
            check_replaceable(target, REPORT_FILES | STORE_FILES)
            kept = stack.enter_context(ResultStore(target / STORE_NAME, settings_key(scorer, **load), fresh=fresh))
        compute = scorer.floor_result
        if floor and floor_cache:
            from .floor_cache import open_floor_cache

            compute = functools.partial(open_floor_cache(scorer, fresh=fresh, **load).fetch, scorer.floor_result)
        floor_row = _cached(kept, REAL_VS_REAL, "", None, compute) if floor else None
        live = LiveAudit(scorer, str(run_dir), out=target, confirm=confirm, exit_on=stop_rules, plots=plots,
                         keep=tuple(STORE_FILES), floor=floor_row)
        lister = _Lister(folder, settle=every if settle is None else settle)
        polls = 0
        while True:
            for path in lister.ready():
                sig = _signature(path)
                step = step_from_name(path)
                source = str(folder / path.name)
                try:
                    gen = load_generator(path, reference=scorer.reference, allow_torchscript=allow_torchscript,
                                         timeout=timeout, **load)
                    result = _cached(kept, source, str(run_dir), step, lambda: scorer.score(gen, source=source))
                except Exception as exc:  # that checkpoint's error row; the watch goes on
                    if lister.changed(path, sig):  # still being written: look again later
                        continue
                    if not isinstance(exc, GandiagInputError):
                        exc = SourceError(source, f"failed while scoring ({type(exc).__name__}: {one_line(exc, 200)})",
                                          hint="")
                    lister.take(path)
                    live.rows.append(_error_row(source, str(run_dir), step, scorer, exc))
                    echo(f"step {step if step is not None else '?':>8}  {path.name}  error: {exc}")
                    continue
                lister.take(path)
                echo(summary_line(result))
                for alert in live.add(result, save=False):
                    echo(alert.line())
                if live.stop is not None:
                    live.save()
                    return WatchOutcome("stop-rule", len(live.rows), tuple(live.alerts), live.stop)
                if until_step is not None and step is not None and step >= until_step:
                    live.save()
                    return WatchOutcome("until-step", len(live.rows), tuple(live.alerts))
            if live.rows and dirty(live):
                live.save()  # once per look at the folder, after the checkpoints it found
            polls += 1
            if max_polls is not None and polls >= max_polls:
                return WatchOutcome("polls", len(live.rows), tuple(live.alerts))
            time.sleep(every)
