"""``gandiag demo``: train two reference runs at once, audit them, write the report.

**What it shows.** ``gan-ring8`` and ``nsgan-ring8`` share every setting (the WGAN-GP toy MLP,
Adam, one discriminator step per generator step, :mod:`reference_models.recipes`) except the
generator's loss: the minimax ``log(1 - D(G(z)))`` of Goodfellow et al. (2014), which saturates
when D wins, against the non-saturating ``-log D(G(z))`` the same paper (section 3) recommends
instead. With seed 0 on one thread per run (the default), 1,500 steps each, the minimax run
collapses onto one point by step 500 and the non-saturating one covers the eight modes, so the
report shows a failure, its onset, and a checkpoint it can recommend (README, "Audit a
generator"). The details depend on the CPU's float rounding, which changes a GAN's trajectory:
on one machine the non-saturating run raised no flag at steps 1,250 and 1,500; on another one of
its modes was starved from step 1,250 on and step 1,000 was recommended.

**Time.** Training is most of the demo, and each run uses one core at best (one torch thread is
the fastest for these small nets, :data:`reference_models.trainer.DEFAULT_THREADS`), so the runs
train at the same time, each in its own process (``spawn``; ``jobs``: at most one per
``cpus // threads``, default the number of runs). The two recipes cost the same per step, so
they finish together and there is no idle core left for auditing one while the other trains.

**Determinism.** A run depends only on its recipe, seed, step count and thread count, never on
how many runs train at once (each process has its own RNG streams, :mod:`reference_models.trainer`),
so ``--jobs 1`` and ``--jobs 2`` write the same checkpoints byte for byte and the same
``report.csv``.

**Files.** Runs train into ``OUT/runs/RECIPE`` (each checkpoint is renamed into place whole; a
rerun resumes a run that was stopped and skips a finished one); the report is then written
beside them as a whole (:meth:`gandiag.auditing.report.Report.save` with ``keep=("runs",)``).
When a run fails or the demo is interrupted, the other trainer is stopped (SIGTERM) and no report
is written.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gandiag.errors import GandiagInputError

if TYPE_CHECKING:  # the parser reads this module's constants: importing it must not import torch
    from .recipes import TrainConfig

DEMO_RECIPES = ("gan-ring8", "nsgan-ring8")
#: Generator steps per run: the minimax GAN collapses by step 500 and the non-saturating one is
#: healthy from step 1,250 (seed 0, one thread); checkpoints every 250 steps (the recipes' default).
DEMO_STEPS = 1500
DEMO_N = 2500  # the literature's protocol (VEEGAN, PacGAN): 2,500 samples per checkpoint
POLL_SECONDS = 0.5  # how often the parent reads the runs' progress while they train elsewhere


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def demo_jobs(n_runs: int, threads_per_run: int, jobs: int | None = None) -> int:
    """Runs trained at once: ``jobs`` if given, else as many as ``cpus // threads_per_run`` allows
    (at least one), never more than ``n_runs``."""
    if jobs is None:
        jobs = available_cpus() // max(threads_per_run, 1)
    return max(1, min(n_runs, jobs))


def _train_run(recipe: str, overrides: dict[str, Any], run_dir: Path, threads: int | None, progress: bool) -> None:
    """Train ``recipe`` with ``overrides`` into ``run_dir``, resuming what is there (a finished run
    returns at once). The config is built here, in the process that trains, so the checkpoints are
    the same bytes in a worker as in the parent (an unpickled config shares its strings differently,
    which changes the pickle inside the checkpoint, though not a value)."""
    from .recipes import make_config
    from .trainer import checkpoints, train

    train(make_config(recipe, overrides), run_dir, resume=bool(run_dir.exists() and checkpoints(run_dir)),
          progress=progress, threads=threads)


def _train_in_worker(recipe: str, overrides: dict[str, Any], run_dir: Path, threads: int | None) -> None:
    """:func:`_train_run` in a pool worker, raising only exceptions the parent can unpickle: one that
    cannot be rebuilt from its pickle (an ``__init__`` with other arguments, e.g. ``SourceError``) would
    stop the pool's result thread and leave the parent waiting forever."""
    try:
        _train_run(recipe, overrides, run_dir, threads, False)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            kind = GandiagInputError if isinstance(exc, GandiagInputError) else RuntimeError
            raise kind(f"{recipe}: {exc}") from None
        raise


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them all (one message, no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _last_step(run_dir: Path) -> int:
    from gandiag.checkpoint import step_from_name

    from .trainer import checkpoints

    done = checkpoints(run_dir) if run_dir.exists() else []
    return (step_from_name(done[-1]) or 0) if done else 0


def train_runs(runs: dict[Path, TrainConfig], overrides: dict[str, Any], *, threads: int | None, jobs: int,
               progress: bool) -> None:
    """Train every ``run_dir -> config`` of ``runs`` (the config of its recipe with ``overrides``),
    ``jobs`` at a time in separate processes (``jobs`` 1: one after the other in this one). A
    failure in any run stops the others and is raised here."""
    if jobs <= 1:
        for run_dir, cfg in runs.items():
            _train_run(cfg.recipe, overrides, run_dir, threads, progress)
        return
    from tqdm.auto import tqdm

    total = sum(cfg.steps for cfg in runs.values())
    bar = tqdm(total=total, desc=" + ".join(cfg.recipe for cfg in runs.values()), unit="step", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch's thread pools
    with bar, ctx.Pool(jobs, initializer=_ignore_sigint) as pool:  # leaving the block terminates the workers
        pending = [pool.apply_async(_train_in_worker, (cfg.recipe, overrides, run_dir, threads)) for run_dir, cfg in runs.items()]
        while pending:
            pending[0].wait(POLL_SECONDS)
            for result in [r for r in pending if r.ready()]:
                result.get()  # re-raises a worker's exception; the pool is then terminated
                pending.remove(result)
            bar.n = sum(min(_last_step(run_dir), cfg.steps) for run_dir, cfg in runs.items())
            bar.refresh()
        pool.close()
        pool.join()


def run_demo(out: str | Path, *, seed: int = 0, steps: int | None = None, n: int = DEMO_N, threads: int | None = None,
             jobs: int | None = None, progress: bool = True) -> int:
    """Train :data:`DEMO_RECIPES` into ``out/runs``, audit them against ``ring8`` with ``n`` samples
    per checkpoint, write the report into ``out`` and print the findings; returns the exit code."""
    import gandiag
    from gandiag.atomic import output_folder
    from gandiag.threads import resolve_threads, torch_threads

    from .recipes import make_config
    from .trainer import checkpoints, training_threads

    if jobs is not None and jobs < 1:
        raise GandiagInputError(f"--jobs {jobs}: must be at least 1")
    folder = output_folder(out)
    overrides: dict[str, Any] = {"seed": seed, "steps": DEMO_STEPS if steps is None else steps}
    runs = {folder / "runs" / recipe: make_config(recipe, overrides) for recipe in DEMO_RECIPES}
    per_run = max(training_threads(cfg, threads) for cfg in runs.values())
    at_once = demo_jobs(len(runs), per_run, jobs)
    if progress and at_once > 1:
        print(f"training {', '.join(DEMO_RECIPES)}: {at_once} at once, {per_run} torch thread(s) each", flush=True)
    start = time.perf_counter()
    train_runs(runs, overrides, threads=threads, jobs=at_once, progress=progress)
    for run_dir, cfg in runs.items():
        ckpts = checkpoints(run_dir)
        print(f"{cfg.recipe}: {len(ckpts)} checkpoints in {run_dir}: " + ", ".join(p.name for p in ckpts))
    if progress:
        print(f"trained in {time.perf_counter() - start:.0f} s; auditing", flush=True)
    with torch_threads(resolve_threads(threads)):
        report = gandiag.audit(list(runs), "ring8", n=n, seed=seed, progress=progress)
    written = report.save(folder, keep=("runs",))  # the report folder is replaced as a whole; the runs stay
    print("\nFindings:")
    print(report.summary_text())
    print(f"\nwrote {', '.join(p.name for p in written)} to {folder}/")
    return 0
