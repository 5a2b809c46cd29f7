"""Audits on Dask distributed: one task per (source, checkpoint) row, on many processes or machines.

``gandiag audit ... --workers N`` (an embedded ``distributed.LocalCluster`` of N worker processes),
``--scheduler tcp://host:8786`` (an existing cluster), ``gandiag.audit(..., client=Client(...))`` or
``workers=N`` send the rows of an audit to Dask workers instead of scoring them one after another
(README "Scale out on Dask"). Dask is an optional extra (``pip install gandiag[dask]``); nothing here
is imported unless one of these is asked for.

* The client (the calling process) expands the SOURCEs into rows as the serial audit does: a run
  folder is listed, a top-level file is loaded once to learn its step and check it, sources in
  memory are scored on the client. Every row of a file becomes one task that the worker **loads by
  path** (a cluster needs a filesystem every worker sees; a file a worker cannot see is an error
  row naming the path and the worker).
* What depends only on the reference -- the :class:`gandiag.scoring.Scorer` with its reference
  sample, features and NDB bins -- is built once on the client and sent once to every worker
  (``client.scatter(..., broadcast=True)``), never rebuilt per task.
* The result store stays single-writer: rows found there are not sent at all, and each task's
  row is committed by the client as soon as it completes, so an interrupted distributed audit
  resumes like a local one.
* Same numbers: a task scores with the same scorer, n and seed as the serial loop, so the report
  is equal to the serial one cell for cell; rows are put back in source order whatever the order
  in which tasks finish.
* Faults: a task whose worker dies is run again on another worker, at most ``RETRIES`` times
  (Dask's ``distributed.scheduler.allowed-failures``, set on the embedded cluster; an external
  scheduler uses its own setting); a checkpoint that kills its worker every time becomes an error
  row naming it. Losing the scheduler ends the audit with one line; the rows already scored are in
  the store and the next run resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .._arrays import one_line
from ..errors import GandiagInputError, SourceError
from ..loading import Run, iter_sources, load_generator
from ..checkpoint import step_from_name
from ..scoring import REAL_VS_REAL, Scorer, ScoreResult
from ..threads import THREADS_ENV, resolve_threads, torch_threads

__all__ = ["RETRIES", "TaskItem", "open_client", "plan_rows", "score_floor", "score_rows_distributed"]

#: How many times a task is run again after the worker running it died (embedded cluster).
RETRIES = 2
#: Seconds to wait for a scheduler given by address before saying it does not answer.
CONNECT_TIMEOUT = 5
#: Worker settings of the embedded cluster. Dask spawns workers with ``MALLOC_TRIM_THRESHOLD_=65536``
#: (to give memory back sooner); that turns off glibc's dynamic mmap threshold, so every large numpy
#: temporary is a fresh mmap, zeroed page by page: a default-metrics row at n = 10,000 took 1.6-2.5x
#: longer in a worker than in the client. The workers here get Dask's other variables (one BLAS/OpenMP
#: thread) without it; for workers you start yourself, see README "Scale out on Dask". The profiler
#: and the faster monitors are off too: they only take the GIL from the scoring thread.
#: ``GANDIAG_THREADS=1``: one core per worker thread, also for gandiag's own threads (see :func:`score_task`).
QUIET_WORKERS = {"distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                                                         "OPENBLAS_NUM_THREADS": 1, THREADS_ENV: 1},
                 "distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                 "distributed.admin.system-monitor.interval": "2s", "distributed.admin.system-monitor.gil.enabled": False,
                 "distributed.worker.memory.monitor-interval": "1s", "distributed.worker.daemon": False}
INSTALL_HINT = "pip install 'gandiag[dask]' (or: pip install 'dask[distributed]')"


@dataclass
class TaskItem:
    """One row of a distributed audit: scored by a worker from ``path``, or on the client (``local``:
    a generator in memory or an image folder already read), or an ``error`` found while listing."""

    source: str
    run: str
    step: int | None
    path: str | None = None
    local: Any = None
    error: Exception | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise GandiagInputError(f"--workers/--scheduler need Dask distributed, which is not installed: "
                                f"{INSTALL_HINT}") from None
    return distributed


@contextlib.contextmanager
def open_client(*, workers: int | None = None, threads_per_worker: int = 1, scheduler: str | None = None,
                quiet: bool = False) -> Iterator[Any]:
    """A ``distributed.Client``: on an embedded ``LocalCluster`` of ``workers`` processes with
    ``threads_per_worker`` threads each, or connected to the scheduler at ``scheduler``.

    An unreachable scheduler is a one-line :class:`GandiagInputError` after ``CONNECT_TIMEOUT``
    seconds. The dashboard link is printed on stderr unless ``quiet``.
    """
    if (workers is None) == (scheduler is None):
        raise GandiagInputError("give either --workers N (a cluster on this machine) or --scheduler ADDRESS, not both")
    distributed = _distributed()
    import dask

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=CONNECT_TIMEOUT,
                                                                set_as_default=False))
            except (OSError, TimeoutError, ValueError) as exc:
                raise GandiagInputError(f"--scheduler {scheduler}: no Dask scheduler answers there "
                                        f"({type(exc).__name__}: {one_line(exc, 120)}); start one with `dask scheduler` "
                                        "and give the address it prints (tcp://host:8786), or use --workers N") from None
        else:
            if not isinstance(workers, int) or workers < 1:
                raise GandiagInputError(f"--workers {workers}: give a whole number of worker processes >= 1")
            if not isinstance(threads_per_worker, int) or threads_per_worker < 1:
                raise GandiagInputError(f"--threads-per-worker {threads_per_worker}: give a whole number >= 1")
            with dask.config.set({"distributed.scheduler.allowed-failures": RETRIES, **QUIET_WORKERS}):
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                    dashboard_address=":0" if _has_dashboard() else None, silence_logs=logging.ERROR))
                client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        if not quiet and _has_dashboard():
            print(f"gandiag: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
        yield client


def _has_dashboard() -> bool:
    """Dask serves its dashboard only when bokeh is installed."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def plan_rows(sources: Sequence[Any], reference: Any, **options: Any) -> list[TaskItem]:
    """The rows of an audit of ``sources``, in source order, without loading any checkpoint of a run.

    ``options``: how sources are loaded (``latent``, ``latent_dim``, ``device``,
    ``allow_torchscript``, ``timeout``). Raises the first error when no SOURCE can be used, as the
    serial audit does.
    """
    load = dict(options, reference=reference)
    items: list[TaskItem] = []
    tops: list[Exception | None] = []
    for src in sources:
        if not isinstance(src, (str, os.PathLike)):  # in memory: named and checked exactly as the serial audit does
            _, walk = iter_sources([src], reference, **options)
            for name, run, step, gen in walk:
                bad = gen if isinstance(gen, SourceError) else None
                items.append(TaskItem(name, run, step, local=None if bad else gen, error=bad))
                tops.append(bad)
            continue
        name = str(src)
        try:
            found = load_generator(src, **load)  # a folder: listed (a Run); a file: loaded once for its step
        except SourceError as exc:
            items.append(TaskItem(name, "", step_from_name(Path(name)), error=exc))
            tops.append(exc)
            continue
        tops.append(None)
        if isinstance(found, Run):
            items += [TaskItem(str(p), name, s, path=str(p), options=load) for p, s in zip(found.paths, found.steps)]
        elif Path(src).is_dir():  # a folder of images, read on the client: its samples are in memory
            items.append(TaskItem(name, "", found.step, local=found))
        else:
            items.append(TaskItem(name, "", found.step, path=name, options=load))
    if tops and all(t is not None for t in tops):
        raise tops[0]
    return items


def score_task(scorer: Scorer, item: TaskItem) -> tuple[str, Any]:
    """Run on a worker: load ``item.path`` and score it; ``("ok", ScoreResult)`` or ``("error", message)``.

    The message is the serial audit's for the same failure; a file the worker cannot see names the worker.
    A task scores on **one torch thread** (``$GANDIAG_THREADS`` on the worker if set): a worker thread is
    one core, and a worker holding more (torch's default is every core, as in ``dask worker --no-nanny``)
    would take cores from the other workers of its machine.
    """
    path = Path(item.path)
    try:
        if not path.exists() and not path.is_symlink():
            raise SourceError(path, f"not found on Dask worker {_worker_name()} (workers read sources by path: "
                              "keep them on a filesystem every worker sees, at the same path)", hint="")
        gen = Run(path.parent, [path], item.options).load(0)
        with torch_threads(resolve_threads(None, default=1)):
            return "ok", scorer.score(gen, source=item.source)
    except Exception as exc:  # each failure is that row's error, as in the serial loop
        return "error", str(_row_error(item.source, exc))


def score_floor(scorer: Scorer) -> tuple[str, Any]:
    """Run on a worker: the real-vs-real row (:meth:`Scorer.floor_result`), on one torch thread as
    :func:`score_task`; ``("ok", ScoreResult)`` or ``("error", message)``."""
    try:
        with torch_threads(resolve_threads(None, default=1)):
            return "ok", scorer.floor_result()
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {one_line(exc, 200)}"


def _row_error(source: str, exc: Exception) -> GandiagInputError:
    """The serial loop's error of a row: a GandiagInputError as it is, anything else named after the source."""
    if isinstance(exc, GandiagInputError):
        return exc
    return SourceError(source, f"failed while scoring ({type(exc).__name__}: {one_line(exc, 200)})", hint="")


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"{get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return socket.gethostname()


def _store_key(kept: Any, item: TaskItem) -> str | None:
    """The row's key in the result store, as the serial audit computes it (None: nothing to key on)."""
    from .store import source_digest

    digest = source_digest(item.source) if kept is not None else None
    return None if digest is None else kept.key(item.source, item.run, item.step, digest)


def score_rows_distributed(scorer: Scorer, items: list[TaskItem], kept: Any, progress: bool, client: Any,
                           floor: bool = False) -> list[Any]:
    """The audit's rows (``runner._Row``), in the order of ``items``: rows kept in the store are
    reused, sources in memory are scored here, every other row is one task on ``client``'s workers.
    Each task's row is committed to the store here as soon as it completes.

    ``floor``: append the real-vs-real row, scored as one more task (sent first) rather than on the
    client after the last task, where it would add one row's time to the audit whenever the tasks do
    not divide evenly among the workers (2,000 tasks on 128 workers: 16 waves, and the floor a 17th).
    When a scored row is class-conditional, the floor is the conditional one, computed here as the
    serial audit does (``runner._floor_row``).
    """
    from tqdm.auto import tqdm

    from .runner import _floor_row, _scored

    distributed = _distributed()
    rows: list[Any] = [None] * len(items)
    remote: list[tuple[int, str | None]] = []
    bar = tqdm(total=len(items), desc="audit", unit="ckpt", disable=not progress)
    with bar:
        for i, item in enumerate(items):
            if item.error is None and item.path is not None:
                key = _store_key(kept, item)
                found = kept.get(key) if key is not None else None
                if found is None:
                    remote.append((i, key))
                    continue
                rows[i] = _scored(found, item.run)
            else:
                rows[i] = _local_row(scorer, item, kept)
            bar.update(1)
        if kept is not None and kept.reused:
            bar.set_postfix(reused=kept.reused, refresh=False)
        floor_key = kept.key(REAL_VS_REAL, "", None, None) if floor and kept is not None else None
        floor_row = [kept.get(floor_key)] if floor_key is not None else [None]
        ask_floor = floor and floor_row[0] is None and bool(remote)  # with no task to wait for, the client scores it
        if remote:
            _run_tasks(distributed, client, scorer, items, remote, rows, kept, bar, floor_row if ask_floor else None)
    errors = [r for r in rows if r.result is None]
    if len(errors) == len(rows):
        raise GandiagInputError(str(errors[0].series["error"]))
    if floor:
        done = floor_row[0]
        if done is None or any("label_accuracy" in r.series.index for r in rows):
            rows.append(_floor_row(scorer, rows, kept))  # on the client: conditional, or no task result
        else:
            if floor_key is not None and kept.get(floor_key) is None:
                kept.put(floor_key, done, "")
            rows.append(_scored(done, ""))
    return rows


def _local_row(scorer: Scorer, item: TaskItem, kept: Any) -> Any:
    """A row found while listing (an error) or of a source in memory, scored here as the serial loop does."""
    from .runner import _cached, _error_row, _scored

    try:
        if item.error is not None:
            raise item.error
        gen = item.local
        return _scored(_cached(kept, item.source, item.run, item.step, lambda: scorer.score(gen, source=item.source)),
                       item.run)
    except Exception as exc:  # the serial loop's rule: each failure is that source's error row
        return _error_row(item.source, item.run, item.step, scorer, _row_error(item.source, exc))


def _run_tasks(distributed: Any, client: Any, scorer: Scorer, items: list[TaskItem], remote: list[tuple[int, str | None]],
               rows: list[Any], kept: Any, bar: Any, floor: list[Any] | None = None) -> None:
    """Submit one task per remote row and gather them as they complete (rows[i] filled, stored at once).
    ``floor`` (a one-item list): also score the real-vs-real row as a task, sent first; ``floor[0]`` gets
    its ScoreResult (left None when that task fails: the caller scores it on the client)."""
    import uuid

    from .runner import _error_row, _scored

    tag = uuid.uuid4().hex[:8]
    futures: dict[Any, tuple[int, str | None]] = {}
    done = 0
    try:
        shared = client.scatter(scorer, broadcast=True, hash=False)  # the reference side, once per worker
        if floor is not None:
            futures[client.submit(score_floor, shared, key=f"gandiag-floor-{tag}", pure=False)] = (-1, None)
        for i, key in remote:
            fut = client.submit(score_task, shared, items[i], key=f"gandiag-row-{i}-{tag}", pure=False)
            futures[fut] = (i, key)
        for fut in distributed.as_completed(futures, loop=client.loop):
            i, key = futures[fut]
            if i < 0:  # the real-vs-real row
                with contextlib.suppress(distributed.KilledWorker):
                    status, value = fut.result()
                    floor[0] = value if status == "ok" else None
                continue
            item = items[i]
            try:
                status, value = fut.result()
            except distributed.KilledWorker as exc:
                status, value = "error", str(SourceError(
                    item.source, "killed every Dask worker that ran it, and Dask gave up after its allowed failures (a crash "
                    f"such as a segmentation fault, or running out of memory: {one_line(exc, 120)})", hint=""))
            if status == "ok":
                if kept is not None and key is not None:
                    kept.put(key, value, item.run)
                rows[i] = _scored(value, item.run)
            else:
                rows[i] = _error_row(item.source, item.run, item.step, scorer, GandiagInputError(value))
            done += 1
            bar.update(1)
    except (OSError, TimeoutError, distributed.CancelledError) as exc:  # the scheduler is gone
        where = f"; the {done} rows scored are kept in {kept.path} and the next run resumes from them" \
            if kept is not None else ""
        raise GandiagInputError(f"lost the Dask scheduler at {client.scheduler.address} after {done} of "
                                f"{len(remote)} tasks ({type(exc).__name__}: {one_line(exc, 120)}){where}") from None
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()
