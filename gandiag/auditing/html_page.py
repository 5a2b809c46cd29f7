"""The audit's ``report.html``: the verdict first, then the metrics against their floor, the plots,
the findings and the full table, in one standalone page (plots inline as base64 PNG, no network).

Layout, top to bottom (the first screen at 1400 px is the header, the verdict cards and the
metrics table):

1. one card per run or single source, worst first (:func:`gandiag.auditing.verdict.verdicts`): the
   verdict in words, the step it began, the evidence in one sentence, the recommended checkpoint
   (:func:`gandiag.auditing.best.best_checkpoints`) with its rule, mode hopping and non-convergence;
2. the key metrics of each run's recommended and last checkpoints and of each source, with the
   real-vs-real row; values within real-vs-real noise greyed and marked;
3. the plots (:mod:`gandiag.auditing.plots`), each with a caption;
4. the findings as nested lists, the per-run table, and every row of the report.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..schema import REAL_VS_REAL
from .html_table import NOISE_MARK, NOISE_TEXT, fmt, integer_columns, metrics_table, scores_table, short_source
from .verdict import Verdict, floor_marks, key_rows, verdicts

if TYPE_CHECKING:
    from .report import Report

__all__ = ["CAPTIONS", "render_html"]

CAPTIONS: dict[str, str] = {
    "metrics_vs_step.png": "Metrics against training step, one colour per run. Hollow points: a flag is raised; "
                           "star: the recommended checkpoint; grey band: values within real-vs-real noise "
                           "(a perfect generator's sample lands there); logarithmic axes where values span decades.",
    "samples.png": "Real samples first, then generated ones (each run's recommended checkpoint, or its best by the "
                   "metric when every checkpoint raises a flag, and its last). In 2-D "
                   "a sample is coloured by the mode it falls in; grey crosses are off-mode samples (beyond 3 std "
                   "of every centre).",
    "mode_shares.png": "Each mode's share of generated samples divided by its reference share, against step: "
                       "white is a fair share, blue a starved or dropped mode, red an over-represented one. Every "
                       "sample counts for the mode it is assigned to (nearest centre, NDB bin or digit class), "
                       "high quality or not: read red together with the high-quality fraction.",
    "confusion.png": "Confusion matrix of each class-conditional generator: the share (%) of the samples requested "
                     "as a class (row) that the reference assigns to each class (column). A generator that obeys "
                     "its label is dark on the diagonal; an off-diagonal dark cell is class confusion; a flat row "
                     "is an ignored label.",
    "class_samples.png": "Generated samples by the class requested: in 2-D coloured by that class (a collapsed "
                         "class is a single dot, a confused one lands on another class's mode); for images one "
                         "row per class.",
}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
main{max-width:1360px;margin:0 auto;padding:14px 20px 40px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #dde1e6;padding-bottom:3px}
.setup{color:#4a5560;font-size:13px;margin:0 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(400px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde1e6;border-left:8px solid var(--c);border-radius:6px;padding:10px 14px}
.card .who{font-size:13px;color:#4a5560}.card .who b{color:#1d2329;font-size:15px}
.card .verdict{font-size:22px;font-weight:700;color:var(--c);margin:2px 0 0}
.card .since{font-size:13px;color:#1d2329;font-weight:600}
.card .evidence{font-size:13.5px;margin:6px 0}
.card .rec{font-size:13.5px;background:#f1f4f7;border-radius:4px;padding:4px 8px}
.card details{font-size:12px;color:#4a5560;margin-top:3px}.card ul{font-size:12.5px;margin:6px 0 0;padding-left:18px}
.v-diverged,.v-failed{--c:#6a1b9a}.v-mode-collapse{--c:#c62828}.v-mode-dropping{--c:#e65100}
.v-low-quality{--c:#a07000}.v-condition-ignored{--c:#ad1457}.v-class-collapse{--c:#c62828}
.v-class-dropping{--c:#e65100}.v-class-confusion{--c:#8d6e00}.v-not-judged{--c:#6b7580}.v-healthy{--c:#2e7d32}
.floornote{font-size:13px;color:#4a5560;margin:8px 0 0}
table{border-collapse:collapse;background:#fff;font-size:12.5px}
th,td{padding:3px 7px;border-bottom:1px solid #e6e9ed;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
.scores th{white-space:nowrap}table.key th{font-size:12px;vertical-align:bottom}table.key th,table.key td{padding:3px 5px}table.key td.src{max-width:230px}
.keywrap{overflow-x:auto}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.noise{color:#9aa3ab;background:#f3f4f5}
td.src{white-space:nowrap;max-width:260px;overflow:hidden;text-overflow:ellipsis}
td.text{min-width:220px;max-width:420px;font-size:12px}td.err{color:#b00020;max-width:420px;font-size:12px}
tr.floor td{font-style:italic;background:#fafbfc}
tr.sub td{font-size:11.5px;color:#4a5560;border-bottom:1px solid #d5dae0;padding-top:0;white-space:normal}
.scores tr:has(+ tr.sub) td{border-bottom:none}
.ci{color:#6b7580;font-size:11px}td.flags{white-space:nowrap}
.badge{display:inline-block;border-radius:9px;padding:0 7px;margin:1px 2px;font-size:11px;font-weight:600;
 color:#fff;white-space:nowrap}
.badge.mode_collapse{background:#c62828}.badge.mode_dropping{background:#e65100}.badge.low_quality{background:#a07000}
.badge.condition_ignored{background:#ad1457}.badge.class_collapse{background:#c62828}.badge.class_dropping{background:#e65100}
.legend{font-size:12.5px;color:#4a5560;margin:4px 0 8px}
.legend .noise{color:#9aa3ab;background:#f3f4f5;padding:0 4px}
.scroll{max-height:85vh;overflow:auto;border:1px solid #dde1e6}
.scroll thead th{position:sticky;top:0;z-index:1;box-shadow:0 1px 0 #c9cfd6}
figure{margin:0 0 18px;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}figcaption{font-size:12.5px;color:#4a5560;margin-top:4px}
ul.findings{font-size:13.5px}ul.findings ul{margin:2px 0 6px}
"""


def _css_class(kind: str) -> str:
    return "v-" + kind.replace(" ", "-")


def _step_name(report: "Report", key: tuple[str, Any]) -> str:
    source, step = key
    return f"step {step}" if step is not None else short_source(source)


def _sentence(text: str) -> str:
    """Capitalised (unless it starts with a column name such as ``hq_fraction``) and ending with a full stop."""
    first = text.split(" ", 1)[0]
    text = text if "_" in first or not text else text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _card(report: "Report", v: Verdict) -> str:
    name = html.escape(Path(v.subject).name or v.subject)
    if v.is_run:
        span = f"{v.checkpoints} checkpoint{'s' if v.checkpoints != 1 else ''}, last step {v.last_step}"
        who = f"<b>{name}</b> &middot; run, {span}"
    else:
        who = f"<b>{name}</b> &middot; single source" + (f", step {v.last_step}" if v.last_step is not None else "")
    since = "" if v.since is None else f"<div class='since'>since step {v.since}</div>"
    parts = [f"<section class='card {_css_class(v.kind)}' data-verdict='{v.kind}' data-subject="
             f"'{html.escape(v.subject, quote=True)}'>",
             f"<div class='who' title='{html.escape(v.subject, quote=True)}'>{who}</div>",
             f"<div class='verdict'>{html.escape(v.kind)}</div>{since}",
             f"<p class='evidence'>{html.escape(_sentence(v.evidence))}</p>"]
    if v.is_run:
        if v.recommended is not None:
            rec = _step_name(report, v.recommended)
            parts.append(f"<div class='rec'>Recommended checkpoint: <b>{html.escape(rec)}</b> "
                         f"<span title='{html.escape(v.recommended[0], quote=True)}'>"
                         f"({html.escape(Path(v.recommended[0]).name)})</span></div>")
        else:
            best = "" if v.best is None else f" The best {html.escape(v.metric)} is at {_step_name(report, v.best)}."
            parts.append(f"<div class='rec'>No recommended checkpoint: every checkpoint raises a flag.{best}</div>")
        if v.rule:
            parts.append(f"<details><summary>how it was chosen</summary>{html.escape(v.rule)}</details>")
    if v.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in v.notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _floor_note(report: "Report") -> str:
    lines = [line for line in report.summary_lines() if line.startswith("real-vs-real floor")]
    return f"<p class='floornote'>{html.escape(lines[0])}.</p>" if lines else ""


def _findings_list(report: "Report") -> str:
    """The summary lines as a nested HTML list (run findings under their run), **bold** as <strong>."""
    items: list[str] = []
    subs: list[list[str]] = []
    for line in report.summary_lines():
        text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line.strip()))
        if line.startswith("  ") and items:
            subs[-1].append(text.removeprefix("- "))
        else:
            items.append(text)
            subs.append([])
    out = "".join(f"<li>{item}" + (f"<ul>{''.join(f'<li>{s}</li>' for s in sub)}</ul>" if sub else "") + "</li>"
                  for item, sub in zip(items, subs))
    return f"<ul class='findings'>{out}</ul>"


def _runs_table(report: "Report") -> str:
    runs = report.runs_frame()
    if runs.empty:
        return ""
    ints = integer_columns(runs)
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in runs.columns)
    body = "".join("<tr>" + "".join(
        (f"<td class='src'>{html.escape(short_source(v))}</td>" if c == "run" else
         f"<td class='num'>{html.escape(fmt(v, c in ints))}</td>")
        for c, v in row.items()) + "</tr>" for _, row in runs.iterrows())
    return f"<h2>Runs</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figures(plots: dict[str, bytes]) -> str:
    out = []
    for name, data in plots.items():
        b64 = base64.b64encode(data).decode("ascii")
        alt = html.escape(name.removesuffix(".png").replace("_", " "))
        out.append(f"<figure id='{alt.replace(' ', '-')}'><img alt='{alt}' src='data:image/png;base64,{b64}'>"
                   f"<figcaption>{html.escape(CAPTIONS.get(name, name))}</figcaption></figure>")
    return "<h2>Plots</h2>" + "".join(out) if out else ""


def render_html(report: "Report", plots: dict[str, bytes] | None = None, header: str = "") -> str:
    """The standalone page (module docstring); ``plots``: ``{file name: PNG bytes}`` to embed."""
    found = verdicts(report)
    within = floor_marks(report)
    cards = "".join(_card(report, v) for v in found)
    key = metrics_table(report.frame, within, key_rows(report, found))
    has_floor = (report.frame["source"] == REAL_VS_REAL).any()
    legend = (f"<p class='legend'><span class='noise'>{NOISE_MARK} grey</span>: {NOISE_TEXT}: the value's 95% "
              "interval overlaps the real-vs-real interval, or the value is no worse than the real-vs-real one, so "
              "it cannot be told apart from what a perfect generator scores at this n. Hover a column for its unit."
              "</p>") if has_floor else ""
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>gandiag audit</title><style>{CSS}</style></head><body><main>"
            f"<h1>gandiag audit</h1><p class='setup'>{html.escape(header)}</p>"
            f"<div class='cards'>{cards}</div>{_floor_note(report)}"
            f"<h2>Metrics against the real-vs-real floor</h2>{legend}<div class='keywrap'>{key}</div>"
            f"{_figures(plots or {})}"
            f"<h2>Findings</h2>{_findings_list(report)}{_runs_table(report)}"
            f"<h2>All scores</h2><p class='legend'>Columns with no value left out; <code>report.csv</code> has all "
            f"of them. Intervals in brackets.</p>{scores_table(report.frame, within)}"
            "</main></body></html>")
