"""The audit :class:`Report`: the table, the findings in words, and writing it all to disk.

``Report.save(dir)`` writes the folder as a whole (:func:`gandiag.atomic.atomic_folder`: the files
go into a temporary folder beside ``dir`` that then replaces it, so a reader sees the previous
report or the complete new one, never new tables beside old plots; an interrupted or failed save
leaves the previous report intact, and the folder is locked against a second writer):

* ``report.csv`` - :attr:`Report.frame`, one row per checkpoint plus the real-vs-real row;
* ``report.md`` - the summary of findings first, then the table;
* ``report.html`` - the same, the table styled with pandas (raised flags and errors highlighted);
* ``runs.csv`` - one row per run folder: flag onsets, mode hopping, non-convergence;
* ``mode_shares.csv`` - per-mode share of generated samples for every row (when the reference has
  modes or NDB bins);
* ``metrics_vs_step.png``, ``samples.png``, ``mode_shares.png`` - see :mod:`gandiag.auditing.plots`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_folder, atomic_path, atomic_write_text
from ..modes.run_findings import RunFindings
from ..references import Reference
from ..schema import FLAG_NAMES, REAL_VS_REAL
from ..tables import markdown_table, save_table

__all__ = ["Report", "filled_columns"]


def filled_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` with at least one value (not NaN/NA, not an empty string)."""
    return [c for c in frame.columns if frame[c].notna().any() and not (frame[c].astype(str) == "").all()]


def _flags_raised(row: pd.Series) -> list[str]:
    return [f for f in FLAG_NAMES if f in row.index and row[f] is not pd.NA and bool(row[f])]


def _label(row: pd.Series) -> str:
    step = row.get("step")
    return f"{row['source']}" if step is None or step is pd.NA else f"{row['source']} (step {int(step)})"


#: Every file a report folder may hold: an existing folder of only these is replaced by a save.
REPORT_FILES = frozenset({"report.csv", "report.md", "report.html", "runs.csv", "mode_shares.csv",
                          "metrics_vs_step.png", "samples.png", "mode_shares.png"})


@dataclass
class Report:
    """What :func:`gandiag.audit` found. ``frame``: one row per checkpoint (docs/contract.md section 5)."""

    frame: pd.DataFrame
    findings: dict[str, RunFindings] = field(default_factory=dict)
    mode_shares: pd.DataFrame | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    reference: Reference | None = None
    reference_sample: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    # -- words ---------------------------------------------------------------------------
    def runs_frame(self) -> pd.DataFrame:
        """One row per run folder: checkpoints, step range, flag onsets, hopping, non-convergence."""
        rows = []
        for run, f in self.findings.items():
            sub = self.frame[self.frame["run"] == run]
            steps = sub["step"].dropna()
            rows.append({
                "run": run, "checkpoints": len(sub), "errors": int((sub["error"] != "").sum()),
                "first_step": steps.min() if len(steps) else None, "last_step": steps.max() if len(steps) else None,
                **{f"{flag}_from_step": f.onsets.get(flag) for flag in FLAG_NAMES},
                "mode_hopping": f.mode_hopping, "hops": len(f.hops),
                "non_converging": f.non_converging,
                "non_converging_series": ", ".join(c.name for c in f.convergence if c.non_converging),
            })
        return pd.DataFrame(rows)

    def summary_lines(self) -> list[str]:
        """The findings in words: per run, per single source, errors, and the floor."""
        lines = []
        frame = self.frame
        for run, f in self.findings.items():
            sub = frame[(frame["run"] == run) & (frame["error"] == "")]
            last = sub.sort_values("step").iloc[-1]
            raised = _flags_raised(last)
            state = str(last["evidence"]) if raised else "no flags"
            lines.append(f"**{run}** ({len(sub)} checkpoints, last step {last['step']}): at the last checkpoint {state}")
            lines += [f"  - {line}" for line in f.lines()]
        for _, row in frame[(frame["run"] == "") & (frame["error"] == "") & (frame["source"] != REAL_VS_REAL)].iterrows():
            raised = _flags_raised(row)
            lines.append(f"**{_label(row)}**: " + (str(row["evidence"]) if raised else "no flags"))
        for _, row in frame[frame["error"] != ""].iterrows():
            lines.append(f"**{_label(row)}**: error: {row['error']}")
        floor = frame[frame["source"] == REAL_VS_REAL]
        if len(floor):
            row = floor.iloc[0]
            raised = _flags_raised(row)
            lines.append(f"real-vs-real floor (two reference samples of n = {row['n']}): "
                         + (f"raises {', '.join(raised)} by chance ({row['evidence']}); read those flags with care"
                            if raised else "no flags (as a perfect generator should)"))
        return lines

    def summary_text(self) -> str:
        """:meth:`summary_lines` as a Markdown list (run findings indented under their run)."""
        return "\n".join(line if line.startswith("  ") else f"- {line}" for line in self.summary_lines())

    def _header(self) -> str:
        s = self.settings
        name = self.reference.name if self.reference is not None else "?"
        return (f"reference `{name}`, n = {s.get('n')} samples per side, seed {s.get('seed')}, "
                f"features `{s.get('extractor')}`, intervals from {s.get('resamples') or 'no'} resamples")

    def to_markdown(self) -> str:
        """Summary of findings first, then the table (floats to 4 significant digits)."""
        parts = ["# gandiag audit", "", self._header(), "", "## Findings", ""]
        parts.append(self.summary_text())
        runs = self.runs_frame()
        if len(runs):
            parts += ["", "## Runs", "", markdown_table(runs)]
        shown = filled_columns(self.frame)
        parts += ["", "## Scores", "", "(columns with no value left out; `report.csv` has all of them)", "",
                  markdown_table(self.frame, shown)]
        return "\n".join(parts)

    def to_html(self) -> str:
        """A standalone HTML page: findings, then the table styled with pandas (flags and errors highlighted)."""
        def highlight(value: Any) -> str:
            return "background-color: #f8d0cc; font-weight: bold" if value is True else ""

        styler = self.frame.style.format(precision=4, na_rep="")
        flags = [c for c in FLAG_NAMES if c in self.frame.columns]
        styler = styler.map(highlight, subset=flags) if flags else styler
        if "error" in self.frame.columns:
            styler = styler.map(lambda v: "color: #b00020" if v else "", subset=["error"])
        items = "".join(f"<li>{html.escape(line.strip()).replace('**', '')}</li>" for line in self.summary_lines())
        runs = self.runs_frame()
        runs_html = f"<h2>Runs</h2>{runs.to_html(index=False, na_rep='')}" if len(runs) else ""
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>gandiag audit</title>"
                f"<style>body{{font-family:sans-serif}} td,th{{padding:2px 6px;font-size:12px}}</style></head><body>"
                f"<h1>gandiag audit</h1><p>{html.escape(self._header())}</p><h2>Findings</h2><ul>{items}</ul>"
                f"{runs_html}<h2>Scores</h2>{styler.hide(axis='index').to_html()}</body></html>")

    # -- files ---------------------------------------------------------------------------
    def save(self, directory: str | Path, *, plots: bool = True, keep: tuple[str, ...] = ()) -> list[Path]:
        """Write the report files (see the module docstring) as the folder ``directory``; returns their paths.

        An existing ``directory`` is replaced as a whole when it holds only report files
        (:data:`REPORT_FILES`) and the entries named in ``keep`` (which move into the new folder);
        one holding other files is an input error, never emptied.
        """
        target = Path(directory)
        with atomic_folder(target, replaceable=REPORT_FILES, keep=frozenset(keep)) as tmp:
            names = [p.name for p in self._write(tmp, plots)]
        return [target / name for name in names]

    def _write(self, out: Path, plots: bool) -> list[Path]:
        written = [save_table(self.frame, out / "report.csv")]
        written.append(atomic_write_text(out / "report.md", self.to_markdown()))
        written.append(atomic_write_text(out / "report.html", self.to_html()))
        runs = self.runs_frame()
        if len(runs):
            written.append(save_table(runs, out / "runs.csv"))
        if self.mode_shares is not None:
            with atomic_path(out / "mode_shares.csv") as tmp:
                self.mode_shares.to_csv(tmp)
            written.append(out / "mode_shares.csv")
        if plots:
            from .plots import write_plots

            written += write_plots(self, out)
        return written

    def __repr__(self) -> str:
        errors = int((self.frame["error"] != "").sum()) if "error" in self.frame.columns else 0
        return f"Report({len(self.frame)} rows, {len(self.findings)} runs, {errors} errors)"

