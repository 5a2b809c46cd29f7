"""The audit report of conditional generators (issue 13, item 4): ``classes.csv``, the confusion heat map,
the per-class plots and the verdicts and findings in words.

The generators are synthetic ``.npz`` files of samples and requested labels (tests/conditional_helpers.py)
whose defects are known: class 2 collapsed to one point, labels shifted by one (class confusion).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conditional_helpers import ToyConditional, draw

import gandiag
from gandiag.auditing.conditional_report import confused_classes, confusion_words
from gandiag.auditing.verdict import verdicts

N = 800


def _npz(tmp_path, defect: str, reference: str = "ring8", n: int = 2 * N):
    x, y = draw(ToyConditional(reference, defect), n, seed=0)
    path = tmp_path / f"{defect}.npz"
    np.savez(path, samples=x, labels=y)
    return path


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cond")
    report = gandiag.audit([_npz(tmp, "collapsed"), _npz(tmp, "shifted")], "ring8", n=N, metrics="modes",
                           progress=False)
    out = tmp / "report"
    report.save(out)
    return report, out


def test_classes_csv_has_one_row_per_class_of_each_conditional_row(audited):
    report, out = audited
    classes = pd.read_csv(out / "classes.csv")
    assert list(classes.columns[:3]) == ["source", "step", "class"]
    assert len(classes) == 3 * 8  # two conditional sources and the real-vs-real row, K = 8
    assert (classes["source"] == "real-vs-real").sum() == 8
    collapsed = classes[classes["source"].str.endswith("collapsed.npz")].set_index("class")
    assert list(collapsed.index) == list(range(8))
    assert collapsed.loc[2, "intra_mode_spread"] == 0.0 and (collapsed.drop(index=2)["intra_mode_spread"] > 0.5).all()
    assert collapsed["n"].sum() == N


def test_the_verdicts_and_findings_name_the_classes(audited):
    report, out = audited
    kinds = {v.subject.rsplit("/", 1)[-1]: (v.kind, v.evidence) for v in verdicts(report)}
    assert kinds["collapsed.npz"][0] == "class collapse" and "class 2" in kinds["collapsed.npz"][1]
    assert "class 3" not in kinds["collapsed.npz"][1]
    # labels shifted by one raise no flag, but the verdict is not "healthy": every class is confused
    kind, evidence = kinds["shifted.npz"]
    assert kind == "class confusion" and "asked for class 4 it draws class 5" in evidence
    page = (out / "report.html").read_text()
    assert "class-collapse" in page and "class 2 intra_mode_spread 0" in page
    assert "asked for class 7 it draws class 0" in page
    md = (out / "report.md").read_text()
    findings = md.split("## Findings")[1].split("## Scores")[0]
    assert "**class collapse**" in md
    assert "collapsed.npz**: class_collapse: class 2 intra_mode_spread 0 < 0.5" in findings
    assert "shifted.npz**: no flag raised, but class confusion: asked for class 0 it draws class 1 (100%)" in findings
    assert "badge class_collapse" in page


def test_the_confusion_heat_map_and_class_plots_are_embedded(audited):
    _, out = audited
    page = (out / "report.html").read_text()
    for name in ("confusion", "class_samples"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"<figure id='{name.replace('_', '-')}'><img alt='{name.replace('_', ' ')}' src='data:image/png" in page
        assert f"]({name}.png)" in (out / "report.md").read_text()


def test_an_unconditional_audit_writes_no_conditional_files(tmp_path):
    report = gandiag.audit([gandiag.reference("ring8").sample(400, seed=3)], "ring8", n=400, metrics="modes",
                           progress=False)
    assert report.classes is None and report.confusion == {}
    report.save(tmp_path / "r")
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert not files & {"classes.csv", "confusion.png", "class_samples.png"}
    assert "id='confusion'" not in (tmp_path / "r" / "report.html").read_text()


def test_confused_classes_against_a_hand_built_matrix():
    shifted = np.roll(np.eye(4) * 10, 1, axis=1)  # asked for k, draws k + 1
    assert confused_classes(shifted) == [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0)]
    even = np.full((4, 4), 5.0)  # label ignored: no class takes half of another's samples
    assert confused_classes(even) == [] and confusion_words(even) == ""
    half = np.array([[5, 5], [0, 10]])  # a tie goes to the requested class (argmax takes the first)
    assert confused_classes(half) == []
    assert confusion_words(np.array([[1, 3], [0, 4]])) == "class confusion: asked for class 0 it draws class 1 (75%)"


def test_image_rows_keep_eight_labelled_images_per_class():
    from gandiag.scoring import Scorer

    result = Scorer("digits", n=300, metrics="modes").score(ToyConditional("digits", "perfect"))
    counts = np.bincount(result.sample_labels, minlength=10)
    assert len(result.sample_labels) == len(result.samples) and (counts >= 8).all()
    assigned, _ = gandiag.reference("digits").assign_modes(result.samples)
    assert np.mean(assigned == result.sample_labels) > 0.9  # the labels travel with their own samples


def test_a_translation_that_ignores_its_input_is_judged_condition_ignored():
    import torch

    ring = gandiag.reference("ring8")
    from gandiag.conditional_loading import TranslationGenerator

    constant = TranslationGenerator(lambda x: torch.zeros_like(x) + ring.centres[0], source_reference="ring8")
    report = gandiag.audit([constant], ring, n=400, metrics="modes", progress=False)  # G(x) = c whatever x is
    (v,) = verdicts(report)
    assert v.kind == "condition ignored" and "independent of x not rejected" in v.evidence
    assert report.classes is None and report.confusion == {}  # no classes: no class table, no heat map
    assert "condition_ignored: G(x) independent of x" in report.to_markdown()


def test_rows_reused_from_the_store_keep_their_classes_and_labels(tmp_path):
    path = _npz(tmp_path, "collapsed", n=N)
    first = gandiag.audit([path], "ring8", n=400, metrics="modes", progress=False, store=tmp_path / "s.sqlite")
    again = gandiag.audit([path], "ring8", n=400, metrics="modes", progress=False, store=tmp_path / "s.sqlite")
    assert again.settings["store"]["reused"] == 1
    pd.testing.assert_frame_equal(again.classes, first.classes)
    assert (again.sample_labels[str(path)] == first.sample_labels[str(path)]).all()


def test_watch_alerts_on_a_conditional_flag_and_writes_the_class_files(tmp_path):
    from gandiag.auditing.live import LiveAudit, summary_line
    from gandiag.scoring import Scorer

    scorer = Scorer("ring8", n=400, metrics="modes")
    live = LiveAudit(scorer, run="run", out=tmp_path / "live", confirm=2)
    module = ToyConditional("ring8", "collapsed")
    alerts = []
    for step in (1, 2):
        result = scorer.score(module, source=f"step-{step}")
        result.step = step
        alerts += live.add(result)
    (alert,) = [a for a in alerts if a.name == "class_collapse"]
    assert alert.since == 1 and "class 2 intra_mode_spread 0" in alert.message
    assert "flags: class_collapse" in summary_line(result)
    assert len(pd.read_csv(tmp_path / "live" / "classes.csv")) == 2 * 8
    runs = pd.read_csv(tmp_path / "live" / "runs.csv")
    assert runs.loc[0, "class_collapse_from_step"] == 1
