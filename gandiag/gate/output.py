"""What a gate shows: a text table, JUnit XML and a GitHub Actions step summary.

* :func:`format_table` - the terminal table: one line per check with ``check``, ``value``,
  ``bound``, ``interval`` (the candidate's 95% interval, empty without resamples) and ``result``
  (pass/fail/skip), then each failure's message and a last ``PASS``/``FAIL`` line.
* :func:`junit_xml` / :func:`write_junit` - JUnit XML (the format CI tools read): one
  ``<testsuite>`` per gated source inside ``<testsuites>``, one ``<testcase classname="gandiag.gate"
  name="KIND:NAME">`` per check; a failed check holds ``<failure message="...">`` with its numbers,
  a skipped one ``<skipped>``; ``<properties>`` record the source, baseline, configuration,
  reference, n, seed and resamples. Written atomically.
* :func:`markdown_summary` / :func:`append_step_summary` - the same table in Markdown, appended
  (never overwritten: other steps write there too) to the file named by ``GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from ..atomic import atomic_write_text
from .checks import SKIP, GateResult, fmt

__all__ = ["append_step_summary", "format_table", "junit_xml", "markdown_summary", "write_junit"]

HEADER = ("check", "value", "bound", "interval", "result")


def _cells(result: GateResult) -> list[tuple[str, ...]]:
    return [(c.name, fmt(c.value), c.bound, c.interval_text, c.status) for c in result.checks]


def _settings(result: GateResult) -> list[tuple[str, str]]:
    cfg = result.config
    n = result.row.get("n") if result.row is not None else cfg.n
    return [("source", result.source), ("baseline", result.baseline or ""), ("config", cfg.origin),
            ("reference", cfg.reference), ("n", fmt(n)), ("seed", str(cfg.seed)), ("resamples", str(cfg.resamples))]


def format_table(result: GateResult) -> str:
    """The checks as an aligned text table, failure messages, and the verdict line."""
    rows = [HEADER, *_cells(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    against = f" against {result.baseline}" if result.baseline else ""
    head = f"gandiag gate: {result.source}{against} ({result.config.origin})"
    tail = [f"  {c.name}: {c.message}" for c in result.failures]
    return "\n".join([head, *lines, *(["failures:", *tail] if tail else []), result.summary_line()]) + "\n"


def junit_xml(result: GateResult) -> str:
    """JUnit XML for ``result``: one test case per check (see the module docstring)."""
    counts = {"tests": str(len(result.checks)), "failures": str(len(result.failures)), "errors": "0",
              "skipped": str(sum(c.status == SKIP for c in result.checks)), "time": f"{result.seconds:.3f}"}
    root = ET.Element("testsuites", name="gandiag gate", **counts)
    suite = ET.SubElement(root, "testsuite", name=f"gandiag gate {result.source}", **counts)
    props = ET.SubElement(suite, "properties")
    for name, value in _settings(result):
        ET.SubElement(props, "property", name=name, value=value)
    for check in result.checks:
        case = ET.SubElement(suite, "testcase", classname="gandiag.gate", name=check.name, time="0")
        if check.failed:
            failure = ET.SubElement(case, "failure", message=check.message, type="GateCheckFailed")
            failure.text = (f"{check.name}: {check.message}\nvalue: {fmt(check.value)}\nbound: {check.bound}\n"
                            f"interval: {check.interval_text or '(none)'}")
        elif check.status == SKIP:
            ET.SubElement(case, "skipped", message=check.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: GateResult, path: str | os.PathLike) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically; returns the path."""
    return atomic_write_text(path, junit_xml(result))


def _md(cell: str) -> str:
    return cell.replace("|", "\\|")


def markdown_summary(result: GateResult) -> str:
    """A Markdown section: the verdict, the settings, the checks table and the failure messages."""
    verdict = "PASS" if result.passed else "FAIL"
    lines = [f"### gandiag gate: {verdict} for `{result.source}`", "",
             result.summary_line() + " · " + " · ".join(f"{k} `{v}`" for k, v in _settings(result)[1:] if v), "",
             "| " + " | ".join(HEADER) + " |", "|---|---:|---|---|---|"]
    for cells in _cells(result):
        *rest, status = cells
        shown = f"**{status.upper()}**" if status == "fail" else status
        lines.append("| " + " | ".join(_md(c) for c in (*rest, shown)) + " |")
    if result.failures:
        lines += ["", "Failed checks:", ""] + [f"- `{c.name}`: {_md(c.message)}" for c in result.failures]
    return "\n".join(lines) + "\n\n"


def append_step_summary(result: GateResult, path: str | os.PathLike | None = None) -> Path | None:
    """Append :func:`markdown_summary` to ``path`` (default ``$GITHUB_STEP_SUMMARY``); None when unset."""
    target = path if path is not None else os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown_summary(result))
    return Path(target)
