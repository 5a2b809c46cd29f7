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

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._arrays import one_line
from ..errors import GandiagInputError, SourceError
from ..loading import iter_sources
from ..modes import RunThresholds, analyze_run
from ..modes.run_findings import RunFindings
from ..references import Reference
from ..scoring import REAL_VS_REAL, Scorer
from .report import Report

__all__ = ["audit"]

TRAIN_LOG = "train_log.csv"


def _error_row(source: str, run: str, step: int | None, scorer: Scorer, exc: Exception) -> pd.Series:
    row = pd.Series({"source": source, "step": step, "n": scorer.n, "seed": scorer.seed}, dtype=object)
    row["run"], row["error"] = run, str(exc)
    return row


def _losses(run: str) -> pd.DataFrame | None:
    path = Path(run) / TRAIN_LOG
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return frame if "step" in frame.columns else None


def _run_findings(frame: pd.DataFrame, rows: list[pd.Series], thresholds: RunThresholds | None) -> dict[str, RunFindings]:
    """analyze_run for each run folder, on its scored (non-error) checkpoints."""
    findings = {}
    for run in [r for r in dict.fromkeys(frame["run"]) if r]:
        picked = [i for i, row in enumerate(rows) if row.get("run") == run and "mode_shares" in row.attrs]
        sub = frame.iloc[[i for i, row in enumerate(rows) if row.get("run") == run and not row.get("error")]]
        if sub.empty:
            continue
        shares = [rows[i].attrs["mode_shares"] for i in picked] if len(picked) == len(sub) else None
        ref_shares = rows[picked[0]].attrs["reference_shares"] if picked else None
        findings[run] = analyze_run(sub, shares=shares, reference_shares=ref_shares, losses=_losses(run),
                                    thresholds=thresholds)
    return findings


def audit(
    sources: Sequence[Any] | str | Path,
    reference: str | Reference,
    *,
    n: int | None = None,
    seed: int = 0,
    metrics: str | Sequence[str] | None = None,
    floor: bool = True,
    run_thresholds: RunThresholds | None = None,
    progress: bool = True,
    latent: str | None = None,
    latent_dim: int | None = None,
    device: str = "cpu",
    allow_torchscript: bool = False,
    **scorer_options: Any,
) -> Report:
    """Score every checkpoint of ``sources`` against ``reference`` and gather the findings.

    ``n``, ``seed``, ``metrics`` and ``scorer_options`` (``resamples``, ``thresholds``, ``max_points``,
    ``ndb_bins``, ``extractor``, ``inception_weights``) go to :class:`gandiag.scoring.Scorer`.
    ``floor`` adds the real-vs-real row. ``progress`` shows a tqdm bar over checkpoints.
    ``latent``, ``latent_dim``, ``device`` and ``allow_torchscript`` (loading TorchScript runs code
    from the file: only for trusted files) go to :func:`gandiag.load_generator`.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise GandiagInputError("audit: give at least one SOURCE (a checkpoint, program, sample file or run folder)")
    scorer = Scorer(reference, n=n, seed=seed, metrics=metrics, **scorer_options)
    total, items = iter_sources(list(sources), scorer.reference, latent=latent, latent_dim=latent_dim, device=device,
                                allow_torchscript=allow_torchscript)
    rows: list[pd.Series] = []
    failures: list[Exception] = []
    for source, run, step, gen in tqdm(items, total=total, desc="audit", unit="ckpt", disable=not progress):
        try:
            if isinstance(gen, SourceError):
                raise gen
            row = scorer(gen, source=source)
            row["run"], row["error"] = run, ""
        except Exception as exc:  # no source ends an audit: each failure is that source's error row
            if not isinstance(exc, GandiagInputError):
                exc = SourceError(source, f"failed while scoring ({type(exc).__name__}: {one_line(exc, 200)})", hint="")
            failures.append(exc)
            row = _error_row(source, run, step, scorer, exc)
        rows.append(row)
    if len(failures) == len(rows):
        raise failures[0]
    if floor:
        row = scorer.floor()
        row["run"], row["error"] = "", ""
        rows.append(row)
    frame = pd.DataFrame([r.to_dict() for r in rows]).reset_index(drop=True)
    frame = _tidy(frame)
    findings = _run_findings(frame, rows, run_thresholds)
    shares = _share_frame(rows)
    samples = {str(r["source"]): r.attrs["samples"] for r in rows if "samples" in r.attrs}
    return Report(frame=frame, findings=findings, mode_shares=shares, samples=samples,
                  reference=scorer.reference, reference_sample=scorer.real,
                  settings={"n": scorer.n, "seed": scorer.seed, "metrics": list(scorer.metrics), "resamples": scorer.resamples,
                            "extractor": scorer.extractor_name})


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Column order (contract columns, intervals, then run/error/notes) and dtypes."""
    tail = [c for c in ("run", "error", "notes") if c in frame.columns]
    frame = frame[[c for c in frame.columns if c not in tail] + tail].copy()
    frame["step"] = pd.to_numeric(frame["step"], errors="coerce").astype("Int64")
    for col in frame.columns:
        if col in ("source", "run", "error", "notes", "evidence", "step"):
            continue
        if col in ("mode_dropping", "mode_collapse", "low_quality"):
            frame[col] = frame[col].astype("boolean")
        else:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in ("evidence", "notes", "error", "run"):
        if col in frame.columns:
            frame[col] = frame[col].fillna("").astype(str)
    return frame


def _share_frame(rows: list[pd.Series]) -> pd.DataFrame | None:
    """Per-mode generated shares, one row per scored row (NaN for error rows), columns = mode index."""
    known = [r.attrs["mode_shares"] for r in rows if "mode_shares" in r.attrs]
    if not known:
        return None
    width = len(known[0])
    data = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        if "mode_shares" in r.attrs:
            data[i] = r.attrs["mode_shares"]
    index = pd.Index([str(r["source"]) for r in rows], name="source")
    out = pd.DataFrame(data, index=index, columns=[f"mode_{k}" for k in range(width)])
    out.insert(0, "step", pd.array([r.get("step") for r in rows], dtype="Int64"))
    out.attrs["reference_shares"] = next(r.attrs["reference_shares"] for r in rows if "mode_shares" in r.attrs)
    out.attrs["is_floor"] = [str(r["source"]) == REAL_VS_REAL for r in rows]
    return out
