"""The audit :class:`Report`: the table, the findings in words, and writing it all to disk.

``Report.save(dir)`` writes the folder as a whole (:func:`gandiag.atomic.atomic_folder`: the files
go into a temporary folder beside ``dir`` that then replaces it, so a reader sees the previous
report or the complete new one, never new tables beside old plots; an interrupted or failed save
leaves the previous report intact, and the folder is locked against a second writer):

* ``report.csv`` - :attr:`Report.frame`, one row per checkpoint plus the real-vs-real row;
* ``report.md`` - the verdict per run or source first (:mod:`gandiag.auditing.verdict`), the key
  metrics against the real-vs-real floor (``≈``: within its noise), links to the plots, the findings,
  then the table;
* ``report.html`` - the same as one standalone page with the plots inline
  (:mod:`gandiag.auditing.html_page`): verdict cards, the metrics against the floor, the plots, the
  findings as nested lists and the full table (sticky header, flags as badges);
* ``runs.csv`` - one row per run folder: flag onsets, mode hopping, non-convergence;
* ``mode_shares.csv`` - per-mode share of generated samples for every row (when the reference has
  modes or NDB bins);
* ``classes.csv`` - one row per class for every class-conditional row, ``source`` and ``step`` first
  (:mod:`gandiag.auditing.conditional_report`; only when some row is class-conditional);
* ``metrics_vs_step.png``, ``samples.png``, ``mode_shares.png``, ``confusion.png``,
  ``class_samples.png`` - see :mod:`gandiag.auditing.plots` (the same images that ``report.html``
  embeds; the last two only for class-conditional rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_folder, atomic_path, atomic_write_text
from ..modes.run_findings import RunFindings
from ..references import Reference
from ..schema import ALL_FLAG_NAMES, FLAG_NAMES, REAL_VS_REAL, UNTRUSTED_FLAGS
from ..tables import markdown_table, save_table
from .store import STORE_FILES
from .best import BestChoice, best_checkpoints, raised_flags
from .conditional_report import confusion_words
from .html_table import KEY_METRICS, NOISE_MARK, NOISE_TEXT, fmt, integer_columns, table_columns
from .verdict import floor_marks, held, holding, key_rows, verdicts

__all__ = ["Report", "filled_columns", "untrusted_notes"]


def filled_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` with at least one value (not NaN/NA, not an empty string)."""
    return [c for c in frame.columns if frame[c].notna().any() and not (frame[c].astype(str) == "").all()]


def _flags_raised(row: pd.Series) -> list[str]:
    return [f for f in ALL_FLAG_NAMES if f in row.index and not pd.isna(row[f]) and bool(row[f])]


def untrusted_notes(frame: pd.DataFrame) -> list[str]:
    """The distinct ``notes`` entries of ``frame`` saying that n is too small for the flags
    (:data:`gandiag.schema.UNTRUSTED_FLAGS`): a missing mode at that n is within chance, so "no
    mode_dropping" means little; the summary, the findings and ``gandiag score`` repeat them."""
    if "notes" not in frame.columns:
        return []
    pattern = re.compile(re.escape(UNTRUSTED_FLAGS) + r".*?needs --n \d+ or more(?:, more than this reference allows "
                         r"\([^)]*\))?")  # the note holds a "; " itself
    return list(dict.fromkeys(m.group(0) for cell in frame["notes"].dropna() for m in pattern.finditer(str(cell))))


def _label(row: pd.Series) -> str:
    step = row.get("step")
    return f"{row['source']}" if step is None or step is pd.NA else f"{row['source']} (step {int(step)})"


#: The plots a report folder may hold (:mod:`gandiag.auditing.plots`), in the order the report shows them.
PLOT_FILES = ("metrics_vs_step.png", "samples.png", "mode_shares.png", "confusion.png", "class_samples.png")
#: Every file a report folder may hold: an existing folder of only these is replaced by a save.
#: The result store (:mod:`gandiag.auditing.store`) lives in the folder too and moves with it on a save.
REPORT_FILES = frozenset({"report.csv", "report.md", "report.html", "runs.csv", "mode_shares.csv", "classes.csv",
                          *PLOT_FILES, *STORE_FILES})


@dataclass
class Report:
    """What :func:`gandiag.audit` found. ``frame``: one row per checkpoint (docs/contract.md section 5).

    For class-conditional rows: ``classes`` (``classes.csv``: the per-class table of each such row, ``source``
    and ``step`` first), ``confusion`` (source -> K x K counts, rows the requested class, columns the
    assigned one) and ``sample_labels`` (source -> the class requested for each of ``samples[source]``).
    """

    frame: pd.DataFrame
    findings: dict[str, RunFindings] = field(default_factory=dict)
    mode_shares: pd.DataFrame | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    reference: Reference | None = None
    reference_sample: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    classes: pd.DataFrame | None = None
    confusion: dict[str, np.ndarray] = field(default_factory=dict)
    sample_labels: dict[str, np.ndarray] = field(default_factory=dict)

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
                **{f"{flag}_from_step": f.onsets.get(flag) for flag in ALL_FLAG_NAMES
                   if flag in FLAG_NAMES or flag in self.frame.columns},
                "mode_hopping": f.mode_hopping, "hops": len(f.hops),
                "non_converging": f.non_converging,
                "non_converging_series": ", ".join(c.name for c in f.convergence if c.non_converging),
            })
        return pd.DataFrame(rows)

    def summary_lines(self) -> list[str]:
        """The findings in words: per run, per single source, errors, and the floor."""
        return list(held(self, "summary_lines", self._summary_lines))

    def _summary_lines(self) -> list[str]:
        lines = []
        frame = self.frame
        for run, f in self.findings.items():
            sub = frame[(frame["run"] == run) & (frame["error"] == "")]
            last = sub.sort_values("step").iloc[-1]
            lines.append(f"**{run}** ({len(sub)} checkpoints, last step {last['step']}): at the last checkpoint "
                         + self._state(last))
            lines += [f"  - {line}" for line in f.lines()]
        for _, row in frame[(frame["run"] == "") & (frame["error"] == "") & (frame["source"] != REAL_VS_REAL)].iterrows():
            lines.append(f"**{_label(row)}**: " + self._state(row))
        for _, row in frame[frame["error"] != ""].iterrows():
            lines.append(f"**{_label(row)}**: error: {row['error']}")
        floor = frame[frame["source"] == REAL_VS_REAL]
        if len(floor):
            row = floor.iloc[0]
            raised = _flags_raised(row)
            lines.append(f"real-vs-real floor (two reference samples of n = {row['n']}): "
                         + (f"raises {', '.join(raised)} by chance ({row['evidence']}); read those flags with care"
                            if raised else "no flags (as a perfect generator should)"))
        lines += [f"**caution**: {note}" for note in untrusted_notes(frame)]
        return lines

    def _state(self, row: pd.Series) -> str:
        """The row's raised flags' evidence (else ``no flags``), and a class-conditional row's class confusion
        (``class confusion: asked for class k it draws class j (share), ...``)."""
        words = confusion_words(self.confusion.get(str(row["source"])))
        if _flags_raised(row):
            return str(row["evidence"]) + (f"; {words}" if words else "")
        return f"no flag raised, but {words}" if words else "no flags"

    def verdict_lines(self) -> list[str]:
        """One line per run or source, worst first: the verdict, since when, the evidence, the recommendation."""
        lines = []
        for v in verdicts(self):
            since = "" if v.since is None else f" since step {v.since}"
            line = f"verdict **{Path(v.subject).name or v.subject}**: {v.kind}{since} ({v.evidence})"
            if v.is_run:
                best = f"; best {v.metric}: step {v.best[1]}" if v.best is not None else ""
                line += ("; recommended checkpoint: " + (f"step {v.recommended[1]}" if v.recommended is not None
                                                         else f"none (every checkpoint raises a flag{best})"))
            lines.append(line)
        return lines

    def summary_text(self, verdicts: bool = True) -> str:
        """The verdicts (:meth:`verdict_lines`, unless ``verdicts=False``), then :meth:`summary_lines`, as a
        Markdown list (run findings indented under their run)."""
        lines = (self.verdict_lines() if verdicts else []) + self.summary_lines()
        return "\n".join(line if line.startswith("  ") else f"- {line}" for line in lines)

    def _header(self) -> str:
        s = self.settings
        name = self.reference.name if self.reference is not None else "?"
        resamples = s.get("resamples")
        intervals = f"95% intervals from {resamples} resamples" if resamples else "no intervals (resamples = 0)"
        return (f"reference `{name}`, n = {s.get('n')} samples per side, seed {s.get('seed')}, "
                f"features `{s.get('extractor')}`, {intervals}")

    def best(self, metric: str | None = None, run: str | None = None) -> BestChoice:
        """The best checkpoint by ``metric``, those not significantly worse, and the recommended one.

        See :func:`gandiag.auditing.best.best_checkpoints` (``run``: one run folder's checkpoints).
        """
        return best_checkpoints(self.frame, metric=metric, run=run)

    def _verdict_markdown(self) -> list[str]:
        rows = ["| run or source | verdict | since step | evidence | recommended checkpoint |", "|---|---|---:|---|---|"]
        for v in verdicts(self):
            best = f"; best {v.metric}: step {v.best[1]}" if v.best is not None else ""
            rec = "" if not v.is_run else f"none (every checkpoint raises a flag{best})" if v.recommended is None \
                else f"step {v.recommended[1]} (`{Path(v.recommended[0]).name}`)"
            cells = [f"`{Path(v.subject).name or v.subject}`", f"**{v.kind}**", fmt(v.since), v.evidence, rec]
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return rows

    def _marked_table(self, frame: pd.DataFrame, columns: list[str]) -> str:
        """A Markdown table of ``columns``, metric values within real-vs-real noise prefixed by the mark."""
        within = floor_marks(self).reindex(frame.index)
        ints = integer_columns(frame)
        # column-wise, not row by row (``iterrows`` builds a Series per row: most of a 100-row table's time)
        values = {c: frame[c].to_numpy(dtype=object) if c in frame.columns else [None] * len(frame)
                  for c in columns if c != "flags"}
        marked = {c: within[c].fillna(False).astype(bool).to_numpy() for c in columns if c in within.columns}
        flags = raised_flags(frame) if "flags" in columns else []
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for i in range(len(frame)):
            cells = []
            for col in columns:
                text = fmt(values[col][i], col in ints) if col != "flags" else \
                    ", ".join(flags[i])
                if text and col in marked and marked[col][i]:
                    text = f"{NOISE_MARK}{text}"
                cells.append(text.replace("|", "\\|"))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_markdown(self, plots: tuple[str, ...] = ()) -> str:
        """The verdicts, the key metrics against the floor, links to ``plots`` (file names), the findings, the table."""
        parts = ["# gandiag audit", "", self._header(), "", "## Verdict", "", *self._verdict_markdown(), ""]
        parts += [line for line in self.summary_lines() if line.startswith("real-vs-real floor")]
        key = [m for m in KEY_METRICS if m in self.frame.columns and self.frame[m].notna().any()]
        if key and (self.frame["source"] == REAL_VS_REAL).any():
            picked = key_rows(self, verdicts(self))
            picked += [(i, "real-vs-real (floor)") for i in self.frame.index[self.frame["source"] == REAL_VS_REAL]]
            view = self.frame.loc[[i for i, _ in picked]].assign(checkpoint=[name for _, name in picked])
            parts += ["", "## Metrics against the real-vs-real floor", "",
                      f"`{NOISE_MARK}` marks a value {NOISE_TEXT} (its interval overlaps the real-vs-real one, or it "
                      "is no worse than the real-vs-real value): it cannot be told apart from a perfect generator's "
                      "score at this n.", "", self._marked_table(view, ["checkpoint", *key])]
        if plots:
            parts += ["", "## Plots", ""] + [f"![{name.removesuffix('.png')}]({name})" for name in plots]
        parts += ["", "## Findings", "", self.summary_text(verdicts=False)]
        runs = self.runs_frame()
        if len(runs):
            parts += ["", "## Runs", "", markdown_table(runs)]
        shown = table_columns(self.frame)
        parts += ["", "## Scores", "", "(columns with no value left out; `report.csv` has all of them)", "",
                  self._marked_table(self.frame, shown)]
        return "\n".join(parts)

    def to_html(self, plots: dict[str, bytes] | None = None) -> str:
        """The standalone page of :mod:`gandiag.auditing.html_page`; ``plots`` (``{name: PNG bytes}``) default
        to :func:`gandiag.auditing.plots.render_plots` of this report (``{}``: none)."""
        from .html_page import render_html
        from .plots import render_plots

        return render_html(self, render_plots(self) if plots is None else plots, self._header())

    # -- files ---------------------------------------------------------------------------
    def save(self, directory: str | Path, *, plots: bool = True, keep: tuple[str, ...] = ()) -> list[Path]:
        """Write the report files (see the module docstring) as the folder ``directory``; returns their paths.

        An existing ``directory`` is replaced as a whole when it holds only report files
        (:data:`REPORT_FILES`) and the entries named in ``keep`` (which move into the new folder);
        one holding other files is an input error, never emptied.
        """
        target = Path(directory)
        with atomic_folder(target, replaceable=REPORT_FILES, keep=frozenset(keep) | STORE_FILES) as tmp:
            names = [p.name for p in self._write(tmp, plots)]
        return [target / name for name in names]

    def _write(self, out: Path, plots: bool) -> list[Path]:
        with holding(self):
            return self._write_files(out, plots)

    def _write_files(self, out: Path, plots: bool) -> list[Path]:
        from .plots import render_plots, write_plots

        rendered = render_plots(self) if plots else {}
        written = [save_table(self.frame, out / "report.csv")]
        written.append(atomic_write_text(out / "report.md", self.to_markdown(tuple(rendered))))
        written.append(atomic_write_text(out / "report.html", self.to_html(rendered)))
        runs = self.runs_frame()
        if len(runs):
            written.append(save_table(runs, out / "runs.csv"))
        if self.mode_shares is not None:
            with atomic_path(out / "mode_shares.csv") as tmp:
                self.mode_shares.to_csv(tmp)
            written.append(out / "mode_shares.csv")
        if self.classes is not None:
            written.append(save_table(self.classes, out / "classes.csv"))
        written += write_plots(self, out, rendered)
        return written

    def __repr__(self) -> str:
        errors = int((self.frame["error"] != "").sum()) if "error" in self.frame.columns else 0
        return f"Report({len(self.frame)} rows, {len(self.findings)} runs, {errors} errors)"

