"""``gandiag.audit``: score many sources against one reference, detect flags, find run-level events.

Every SOURCE (a checkpoint, ``torch.export`` program, TorchScript archive, sample file, or a
folder of checkpoints = a run) becomes one row per checkpoint, scored by one
:class:`gandiag.scoring.Scorer` (same reference sample, n and seed for all), followed by the
real-vs-real row. A source that cannot be loaded or sampled becomes a row with its ``error`` and
the others are still scored; only when *no* source can be scored is the first error raised.
For each run folder the rows are then read in step order by :func:`gandiag.modes.analyze_run`
(flag onsets, mode hopping, non-convergence of the metrics and of ``train_log.csv``'s losses).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._arrays import one_line
from ..atomic import folder_lock
from ..errors import GandiagInputError, SourceError
from ..loading import Deferred, iter_sources
from ..modes import RunThresholds, analyze_run
from ..modes.run_findings import RunFindings
from ..references import Reference
from ..defaults import DEFAULTS
from ..scoring import REAL_VS_REAL, Scorer, ScoreResult
from ..schema import ALL_FLAG_NAMES
from .conditional_report import classes_frame
from .report import Report
from .store import ResultStore, settings_key, source_digest

__all__ = ["audit", "build_report"]

TRAIN_LOG = "train_log.csv"


@dataclass
class _Row:
    """One row of the audit: its report columns, its run folder, and the typed result (None: an error row)."""

    series: pd.Series
    run: str
    result: ScoreResult | None = None


def _scored(result: ScoreResult, run: str) -> _Row:
    return _Row(result.to_series(run=run, error=""), run, result)


def _error_row(source: str, run: str, step: int | None, scorer: Scorer, exc: Exception) -> _Row:
    row = pd.Series({"source": source, "step": step, "n": scorer.n, "seed": scorer.seed}, dtype=object)
    row["run"], row["error"] = run, str(exc)
    return _Row(row, run)


def _losses(run: str) -> pd.DataFrame | None:
    path = Path(run) / TRAIN_LOG
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return frame if "step" in frame.columns else None


def _run_findings(frame: pd.DataFrame, rows: list[_Row], thresholds: RunThresholds | None) -> dict[str, RunFindings]:
    """analyze_run for each run folder, on its scored (non-error) checkpoints."""
    findings = {}
    for run in [r for r in dict.fromkeys(frame["run"]) if r]:
        scored = [i for i, row in enumerate(rows) if row.run == run and row.result is not None]
        sub = frame.iloc[scored]
        if sub.empty:
            continue
        modes = [rows[i].result.modes for i in scored]
        known = [m for m in modes if m is not None]
        shares = [m.shares for m in known] if len(known) == len(sub) else None
        ref_shares = known[0].reference_shares if known else None
        findings[run] = analyze_run(sub, shares=shares, reference_shares=ref_shares, losses=_losses(run),
                                    thresholds=thresholds)
    return findings


def audit(
    sources: Sequence[Any] | str | Path,
    reference: str | Reference,
    *,
    n: int | None = DEFAULTS["n"],
    seed: int = DEFAULTS["seed"],
    metrics: str | Sequence[str] | None = DEFAULTS["metrics"],
    floor: bool = True,
    run_thresholds: RunThresholds | None = None,
    progress: bool = True,
    latent: str | None = DEFAULTS["latent"],
    latent_dim: int | None = DEFAULTS["latent_dim"],
    device: str = DEFAULTS["device"],
    allow_torchscript: bool = DEFAULTS["allow_torchscript"],
    timeout: float | None = DEFAULTS["timeout"],
    store: str | Path | None = None,
    fresh: bool = False,
    floor_cache: bool = False,
    client: Any = None,
    workers: int | None = None,
    **scorer_options: Any,
) -> Report:
    """Score every checkpoint of ``sources`` against ``reference`` and gather the findings.

    Every source becomes one row per checkpoint, scored by one :class:`gandiag.scoring.Scorer`
    (same reference sample, n and seed), then the real-vs-real row; each run folder's rows are
    read in step order for flag onsets, mode hopping and non-convergence.

    Parameters
    ----------
    sources : path, or sequence of paths and generators
        Checkpoints (``.pt``), ``torch.export`` programs (``.pt2``), TorchScript archives (only with
        ``allow_torchscript=True``), sample files (``.npy``/``.npz``), run folders.
    reference : str or Reference
        As for :func:`gandiag.score`.
    n, seed, metrics
        As for :func:`gandiag.score` (one n and seed for every row).
    floor : bool, default True
        Add the real-vs-real row: two independent reference samples, what a perfect generator scores.
    run_thresholds : RunThresholds, optional
        Thresholds of the run-level findings (:class:`gandiag.modes.RunThresholds`).
    progress : bool, default True
        A tqdm bar over checkpoints.
    latent, latent_dim, device, allow_torchscript, timeout
        Passed to :func:`gandiag.load_generator` (TorchScript runs code from the file: only for
        files you trust; a source that takes longer than ``timeout`` seconds to load or to sample
        becomes an error row).
    store : path, optional
        A result store (:mod:`gandiag.auditing.store`, an SQLite file; ``gandiag audit`` uses
        ``OUT/scores.sqlite``): rows found there under the same key (file content, step, reference
        content, n, seed, metrics, resamples, thresholds, versions) are reused, every newly scored
        row is committed to it at once, so an interrupted audit resumes. Its folder is locked for
        the duration (:func:`gandiag.atomic.folder_lock`).
    fresh : bool, default False
        Start the store empty: score everything again (the floor too, with ``floor_cache``).
    floor_cache : bool, default False
        Read the real-vs-real row from the floor cache (:mod:`gandiag.auditing.floor_cache`, under
        ``$GANDIAG_CACHE_DIR``) when an earlier audit scored it with the same settings and code, and
        keep it there otherwise (``gandiag audit`` does, unless ``--no-cache``). Serial audits only:
        on Dask the floor is one task among the others.
    client : distributed.Client, optional
        Score the rows as Dask tasks on this client's workers, one per (source, checkpoint) row
        (:mod:`gandiag.auditing.distributed`, README "Scale out on Dask"); the report is the same.
    workers : int, optional
        Score the rows on an embedded Dask ``LocalCluster`` of this many worker processes.
    **scorer_options
        Passed to :class:`gandiag.scoring.Scorer`: ``resamples``, ``thresholds``, ``max_points``,
        ``sinkhorn_points``, ``ndb_bins``, ``extractor``, ``inception_weights``.

    Returns
    -------
    Report
        ``.frame`` (pandas.DataFrame, the columns of docs/contract.md section 5 plus ``run``, ``error``,
        ``notes``), ``.findings`` per run, ``.save(dir)``, ``.to_markdown()``.

    Raises
    ------
    GandiagInputError
        No source given, or no source could be scored (the first error); a source that cannot be
        loaded or scored otherwise becomes a row with its ``error``.

    Examples
    --------
    >>> import gandiag
    >>> perfect = gandiag.reference("ring8").sample(500, seed=3)
    >>> report = gandiag.audit([perfect], "ring8", n=500, metrics="modes", progress=False)
    >>> list(report.frame["source"])
    ['<array>', 'real-vs-real']
    >>> bool(report.frame["mode_dropping"].any())
    False
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise GandiagInputError("audit: give at least one SOURCE (a checkpoint, program, sample file or run folder)")
    scorer = Scorer(reference, n=n, seed=seed, metrics=metrics, **scorer_options)
    load = {"latent": latent, "latent_dim": latent_dim, "device": device}
    if client is None and workers is None:
        total, items = iter_sources(list(sources), scorer.reference, allow_torchscript=allow_torchscript, defer=True,
                                    timeout=timeout, **load)
    else:  # Dask: one task per row (README "Scale out on Dask")
        from . import distributed

        plan = distributed.plan_rows(list(sources), scorer.reference, allow_torchscript=allow_torchscript,
                                     timeout=timeout, **load)
    with contextlib.ExitStack() as stack:
        kept = None
        if store is not None:
            stack.enter_context(folder_lock(Path(store).parent))
            kept = stack.enter_context(ResultStore(store, settings_key(scorer, **load), fresh=fresh))
        on_dask = client is not None or workers is not None
        if not on_dask:
            rows = _score_rows(scorer, items, total, kept, progress)
        else:
            if client is None:
                client = stack.enter_context(distributed.open_client(workers=workers, quiet=not progress))
            rows = distributed.score_rows_distributed(scorer, plan, kept, progress, client, floor=floor)
        floors = None
        if floor and not on_dask:  # the distributed path scores the floor as one more task
            if floor_cache:
                from .floor_cache import open_floor_cache

                floors = open_floor_cache(scorer, fresh=fresh, **load)
            rows.append(_floor_row(scorer, rows, kept, floors))
        settings = {"store": None if kept is None else {"path": str(kept.path), "reused": kept.reused,
                                                        "scored": kept.stored},
                    "floor_cache": None if floors is None else {"path": str(floors.path), "hit": floors.hit}}
    return build_report(rows, scorer, run_thresholds, **settings)


def _floor_row(scorer: Scorer, rows: list[_Row], kept: ResultStore | None, floors: Any = None) -> _Row:
    """The real-vs-real row; with the class-conditional columns when a scored row has them (the second
    reference sample, each sample requested as its true class: not kept in the store or the floor cache).
    ``floors``: a :class:`gandiag.auditing.floor_cache.FloorCache`, read when the store has no floor row."""
    if any("label_accuracy" in r.series.index for r in rows):
        from ..scoring.conditional_runner import conditional_floor_result

        return _scored(conditional_floor_result(scorer), "")
    compute = scorer.floor_result if floors is None else functools.partial(floors.fetch, scorer.floor_result)
    return _scored(_cached(kept, REAL_VS_REAL, "", None, compute), "")


def _cached(kept: ResultStore | None, source: str, run: str, step: int | None, compute: Any) -> ScoreResult:
    """The stored row of ``source`` when the store has it under the same key, else ``compute()`` (stored)."""
    if kept is None:
        return compute()
    digest = source_digest(source) if source != REAL_VS_REAL else None
    if digest is None and source != REAL_VS_REAL:  # in memory, or no regular file: nothing to key on
        return compute()
    key = kept.key(source, run, step, digest)
    found = kept.get(key)
    if found is not None:
        return found
    result = compute()
    kept.put(key, result, run)
    return result


def _score_rows(scorer: Scorer, items: Any, total: int, kept: ResultStore | None, progress: bool) -> list[_Row]:
    """One row per item of :func:`gandiag.loading.iter_sources`; every failure is its source's error row."""
    rows: list[_Row] = []
    failures: list[Exception] = []
    bar = tqdm(total=total, desc="audit", unit="ckpt", disable=not progress)  # closed below: erased if all failed
    for source, run, step, gen in items:
        try:
            if isinstance(gen, SourceError):
                raise gen
            # a run's checkpoint is loaded only when the store does not have its row
            result = _cached(kept, source, run, step,
                             lambda: scorer.score(gen.load() if isinstance(gen, Deferred) else gen, source=source))
            row = _scored(result, run)
        except Exception as exc:  # no source ends an audit: each failure is that source's error row
            if not isinstance(exc, GandiagInputError):
                exc = SourceError(source, f"failed while scoring ({type(exc).__name__}: {one_line(exc, 200)})", hint="")
            failures.append(exc)
            row = _error_row(source, run, step, scorer, exc)
        rows.append(row)
        if kept is not None and kept.reused:
            bar.set_postfix(reused=kept.reused, refresh=False)
        bar.update(1)
    if len(failures) == len(rows):
        bar.leave = False  # a full bar above "error: ..." would read as if something had been scored
        bar.close()
        raise failures[0]
    bar.close()
    return rows


def build_report(rows: list[_Row], scorer: Scorer, run_thresholds: RunThresholds | None = None,
                 **settings: Any) -> Report:
    """The :class:`Report` of scored rows (the floor row included when present): table, run findings,
    mode shares, plot samples. Used by :func:`audit`, ``gandiag watch`` and the Monitor, which add
    rows one at a time and rebuild the report from them (nothing is scored again)."""
    frame = pd.DataFrame([r.series.to_dict() for r in rows]).reset_index(drop=True)
    frame = _tidy(frame)
    findings = _run_findings(frame, rows, run_thresholds)
    shares = _share_frame(rows)
    samples = {r.result.source: r.result.samples for r in rows if r.result is not None and r.result.samples is not None}
    results = [r.result for r in rows]
    return Report(frame=frame, findings=findings, mode_shares=shares, samples=samples,
                  classes=classes_frame(results),
                  confusion={r.source: r.confusion for r in results if r is not None and r.confusion is not None},
                  sample_labels={r.source: r.sample_labels for r in results
                                 if r is not None and getattr(r, "sample_labels", None) is not None},
                  reference=scorer.reference, reference_sample=scorer.real,
                  settings={"n": scorer.n, "seed": scorer.seed, "metrics": list(scorer.metrics), "resamples": scorer.resamples,
                            "extractor": scorer.extractor_name or f"none ({scorer.features_note})", **settings})


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Column order (contract columns, intervals, then run/error/notes) and dtypes."""
    tail = [c for c in ("run", "error", "notes") if c in frame.columns]
    frame = frame[[c for c in frame.columns if c not in tail] + tail].copy()
    frame["step"] = pd.to_numeric(frame["step"], errors="coerce").astype("Int64")
    for col in frame.columns:
        if col in ("source", "run", "error", "notes", "evidence", "step"):
            continue
        if col in ALL_FLAG_NAMES:
            frame[col] = frame[col].astype("boolean")
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("evidence", "notes", "error", "run"):
        if col in frame.columns:
            frame[col] = frame[col].fillna("").astype(str)
    return frame


def _share_frame(rows: list[_Row]) -> pd.DataFrame | None:
    """Per-mode generated shares, one row per scored row (NaN for error rows), columns = mode index."""
    modes = [r.result.modes if r.result is not None else None for r in rows]
    known = [m for m in modes if m is not None]
    if not known:
        return None
    width = len(known[0].shares)
    data = np.full((len(rows), width), np.nan)
    for i, m in enumerate(modes):
        if m is not None:
            data[i] = m.shares
    index = pd.Index([str(r.series["source"]) for r in rows], name="source")
    out = pd.DataFrame(data, index=index, columns=[f"mode_{k}" for k in range(width)])
    out.insert(0, "step", pd.array([r.series.get("step") for r in rows], dtype="Int64"))
    out.attrs["reference_shares"] = known[0].reference_shares
    out.attrs["is_floor"] = [str(r.series["source"]) == REAL_VS_REAL for r in rows]
    return out
