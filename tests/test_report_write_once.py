"""Writing a report computes its verdicts and findings once (issue 14: a watch rewrites the report
after every checkpoint, and the markdown, the HTML page and the plots all ask for them)."""

from __future__ import annotations

import gandiag
from gandiag.auditing import verdict as verdict_module


def _report():
    ring = gandiag.reference("ring8")
    point = ring.sample(400, seed=1).numpy() * 0 + [2.0, 0.0]  # every sample on one mode centre
    return gandiag.audit([ring.sample(400, seed=2), point], ring, n=400, metrics="modes", progress=False)


def test_save_computes_the_verdicts_once_and_writes_the_same_files(tmp_path, monkeypatch):
    report = _report()
    report.save(tmp_path / "before", plots=True)  # two sources named <array>: this raised before (one row picked twice)
    table = (tmp_path / "before" / "report.md").read_text().split("## Metrics against the real-vs-real floor")[1].split("## ")[0]
    assert table.count("| <array> |") == 2
    calls = []
    real = verdict_module._verdicts
    monkeypatch.setattr(verdict_module, "_verdicts", lambda r: calls.append(1) or real(r))
    report.save(tmp_path / "after", plots=True)
    assert len(calls) == 1
    for name in ("report.md", "report.csv"):
        assert (tmp_path / "after" / name).read_text() == (tmp_path / "before" / name).read_text()
    assert [v.kind for v in verdict_module.verdicts(report)] == ["mode collapse", "healthy"]
    assert len(calls) == 2  # outside a write, computed each time
    assert not verdict_module._HELD


def test_a_replaced_frame_is_not_served_stale():
    report = _report()
    with verdict_module.holding(report):
        first = verdict_module.verdicts(report)
        assert verdict_module.verdicts(report) == first
        report.frame = report.frame.iloc[::-1].reset_index(drop=True)  # another frame: computed again
        assert [v.kind for v in verdict_module.verdicts(report)] == [v.kind for v in first]
        report.frame = report.frame[report.frame["source"] == "real-vs-real"]
        assert verdict_module.verdicts(report) == []
    assert not verdict_module._HELD
