"""Scoring conditional generators (issue 13, items 1 and 4): rows, per-class tables, floors, the gate.

The generators are synthetic, their defects known (tests/conditional_helpers.py); the registry's
common invariants (determinism, numpy/torch agreement, the direction of "worse") are checked here
for the conditional family, on a perfect and a broken conditional generator.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conditional_helpers import ToyConditional

import gandiag
from gandiag.conditional_loading import LabelledSampleGenerator, TranslationGenerator, sample_labelled
from gandiag.errors import GandiagInputError
from gandiag.gate.checks import evaluate
from gandiag.gate.config import parse_config
from gandiag.metrics.registry import metric_specs
from gandiag.schema import CLASS_CONDITIONAL_COLUMNS, TRANSLATION_COLUMNS
from gandiag.scoring import Scorer
from gandiag.scoring.conditional_runner import conditional_floor_result

N = 1600
CLASS_SPECS = [s for s in metric_specs(family="conditional") if s.condition == "classes"]


@pytest.fixture(scope="module")
def scorer():
    return Scorer("ring8", n=N, seed=0, metrics="modes,fid")


@pytest.fixture(scope="module")
def results(scorer):
    return {d: scorer.score(ToyConditional("ring8", d)) for d in ("perfect", "ignored", "shifted", "collapsed",
                                                                  "missing")}


def test_a_conditional_module_gets_the_conditional_columns(results):
    row = results["perfect"].to_series()
    for column in CLASS_CONDITIONAL_COLUMNS:
        assert math.isfinite(row[column]), column
    assert row["label_accuracy"] == 1.0 and row["label_mi"] == pytest.approx(math.log(8), rel=1e-9)
    assert not row["condition_ignored"] and not row["class_collapse"] and not row["class_dropping"]
    assert results["perfect"].classes.shape == (8, 14) and (results["perfect"].classes["n"] == N // 8).all()
    assert results["perfect"].confusion.trace() == N


def test_each_defect_raises_its_flag_only(results):
    expected = {"perfect": set(), "ignored": {"condition_ignored"}, "shifted": set(),
                "collapsed": {"class_collapse"}, "missing": {"class_dropping"}}
    for defect, flags in expected.items():
        raised = {f for f in ("condition_ignored", "class_collapse", "class_dropping") if results[defect].flag(f)}
        assert raised == flags, (defect, results[defect].values["evidence"])
    assert "class 2" in results["collapsed"].values["evidence"]
    assert "class 5" in results["missing"].values["evidence"]
    shifted = results["shifted"].confusion
    assert (shifted.argmax(1) == (np.arange(8) + 1) % 8).all()


def test_an_unconditional_row_has_no_conditional_columns(scorer):
    row = scorer(gandiag.reference("ring8").sample(N, seed=5))
    assert not set(CLASS_CONDITIONAL_COLUMNS + TRANSLATION_COLUMNS) & set(row.index)
    assert "condition_ignored" not in row.index


def test_the_conditional_floor_is_the_assigners_accuracy(scorer):
    floor = conditional_floor_result(scorer)
    assert floor.values["label_accuracy"] == pytest.approx(floor.values["reference_accuracy"]
                                                           if "reference_accuracy" in floor.values else 1.0, abs=0.01)
    assert floor.flag("condition_ignored") is False and floor.flag("class_dropping") is False


@pytest.mark.parametrize("spec", CLASS_SPECS, ids=lambda s: s.name)
def test_conditional_metrics_are_deterministic_and_point_the_registered_way(spec, scorer, results):
    again = scorer.score(ToyConditional("ring8", "ignored")).values[spec.name]
    assert again == results["ignored"].values[spec.name]
    good, bad = results["perfect"].values[spec.name], results["ignored"].values[spec.name]
    if spec.worse == "higher":
        assert bad > good
    elif spec.worse == "lower":
        assert bad < good


def test_labelled_sampling_is_balanced_and_seeded():
    gen = gandiag.generators.as_generator(ToyConditional("grid25", "perfect"))
    x, y = sample_labelled(gen, 103, seed=4)
    x2, y2 = sample_labelled(gen, 103, seed=4)
    assert torch.equal(x, x2) and (y == y2).all()
    assert np.bincount(y, minlength=25).tolist() == [5] * 3 + [4] * 22
    modes, _ = gandiag.reference("grid25").assign_modes(x)
    assert (modes == y).all()


def test_labelled_arrays_and_bad_labels():
    ring = gandiag.reference("ring8")
    x, y = ring.draw(800, torch.Generator().manual_seed(0))
    gen = LabelledSampleGenerator(x, y.numpy(), n_classes=8)
    row = Scorer("ring8", n=400, metrics="modes").score(gen)
    assert row.values["label_accuracy"] == 1.0
    assert (ring.assign_modes(gen.sample(20, seed=1, labels=3))[0] == 3).all()
    with pytest.raises(GandiagInputError, match="out of range"):
        gen.sample(5, labels=8)
    net = gandiag.generators.as_generator(ToyConditional("ring8", "perfect"))
    with pytest.raises(GandiagInputError, match=r"labels=9 is not a class of this generator \(classes 0 to 7\)"):
        net.sample(5, labels=9)


def test_translation_rows():
    half = torch.tensor([[math.cos(math.pi / 8), -math.sin(math.pi / 8)], [math.sin(math.pi / 8), math.cos(math.pi / 8)]])
    ring = gandiag.reference("ring8")
    target = gandiag.references.GaussianMixture("ring8-half", ring.centres @ half.T, ring.std)
    rotate = TranslationGenerator(lambda x: x @ half.T, source_reference="ring8", inverse=lambda y: y @ half,
                                  true_map=lambda x: x @ half.T, tolerance=3 * ring.std)
    row = gandiag.score(rotate, target, n=600, metrics="modes")
    assert row["input_dependence"] == pytest.approx(1.0, abs=1e-6) and row["cycle_error"] < 1e-5
    assert row["map_accuracy"] == 1.0 and not row["condition_ignored"] and not row["mode_dropping"]
    constant = gandiag.score(lambda x: torch.zeros_like(x) + target.centres[0], target, n=600, metrics="modes",
                             source="ring8")
    assert constant["condition_ignored"] and constant["output_diversity"] == 0.0
    with pytest.raises(GandiagInputError, match="--source"):
        Scorer(target, n=100, metrics="modes").score(TranslationGenerator(lambda x: x))


def test_the_gate_accepts_conditional_metrics_and_flags(scorer, results):
    config = parse_config({"reference": "ring8", "flags": ["condition_ignored", "class_collapse"],
                           "metrics": {"label_accuracy": {"min": 0.9}}}, where="gate.toml")
    assert [c.status for c in evaluate(config, results["perfect"])] == ["pass"] * 3
    failed = {c.name: c for c in evaluate(config, results["collapsed"])}
    assert failed["flag:class_collapse"].status == "fail" and "class 2" in failed["flag:class_collapse"].message
    assert {c.name: c.status for c in evaluate(config, results["ignored"])}["flag:condition_ignored"] == "fail"
    mapping = results["ignored"].to_series().to_dict()
    assert {c.name: c.status for c in evaluate(config, mapping)}["flag:condition_ignored"] == "fail"
    with pytest.raises(GandiagInputError, match="unknown flag"):
        parse_config({"reference": "ring8", "flags": ["condition_ignord"]}, where="gate.toml")


def test_series_attrs_carry_the_class_table(results):
    row = results["perfect"].to_series()
    assert isinstance(row.attrs["classes"], pd.DataFrame) and row.attrs["confusion"].shape == (8, 8)


@pytest.mark.parametrize("name", ["digits", "grid25"])
def test_reference_labels_are_the_true_classes_of_the_scorers_samples(name):
    from gandiag.conditional_loading import labelled_reference_pair

    s = Scorer(name, n=300, metrics="modes")
    first, second = labelled_reference_pair(s.reference, 300, 0)
    if name == "digits":  # find each sampled image among the stored ones: its stored label
        data = s.reference.data.reshape(len(s.reference), -1).numpy()
        for sample, labels in ((s.real, first), (s._floor_sample, second)):
            idx = [np.flatnonzero((data == row).all(1))[0] for row in sample.reshape(300, -1)]
            assert (s.reference.labels.numpy()[idx] == labels).all()
    else:  # the component each sample was drawn from is the nearest centre (std 0.05, spacing 2)
        assert (s.reference.assign_modes(s.real)[0] == first).all()
        assert (s.reference.assign_modes(s._floor_sample)[0] == second).all()


def test_run_findings_name_the_onset_of_conditional_flags():
    from gandiag.modes import analyze_run

    frame = pd.DataFrame({"step": [0, 100, 200, 300], "mode_dropping": [True, False, False, False],
                          "condition_ignored": [True, True, False, False],
                          "class_collapse": [False, False, True, True], "class_dropping": [False, True, False, True]})
    onsets = analyze_run(frame).onsets
    assert onsets["condition_ignored"] is None and onsets["class_collapse"] == 200 and onsets["class_dropping"] == 300


TRANSLATION_SPECS = [s for s in metric_specs(family="conditional") if s.condition == "translation"]


@pytest.fixture(scope="module")
def translation_rows():
    half = torch.tensor([[math.cos(math.pi / 16), -math.sin(math.pi / 16)],
                         [math.sin(math.pi / 16), math.cos(math.pi / 16)]])
    ring = gandiag.reference("ring8")
    target = gandiag.references.GaussianMixture("ring8-q", ring.centres @ half.T, ring.std)
    common = dict(source_reference="ring8", inverse=lambda y: y @ half, true_map=lambda x: x @ half.T,
                  tolerance=3 * ring.std)
    good = TranslationGenerator(lambda x: x @ half.T, **common)
    bad = TranslationGenerator(lambda x: x[torch.arange(len(x)).flip(0)] @ half.T, **common)  # ignores its own x
    scorer = Scorer(target, n=600, metrics="modes")
    return scorer.score(good).values, scorer.score(bad).values, scorer.score(bad).values


@pytest.mark.parametrize("spec", TRANSLATION_SPECS, ids=lambda s: s.name)
def test_translation_metrics_are_deterministic_and_point_the_registered_way(spec, translation_rows):
    good, bad, again = translation_rows
    assert bad[spec.name] == again[spec.name]
    if spec.worse == "higher":
        assert bad[spec.name] > good[spec.name]
    elif spec.worse == "lower":
        assert bad[spec.name] < good[spec.name]
    elif spec.worse == "from1":
        assert abs(good[spec.name] - 1) < 0.1


def test_an_audit_of_a_conditional_generator_has_the_conditional_floor():
    report = gandiag.audit([ToyConditional("ring8", "shifted")], "ring8", n=400, metrics="modes")
    frame = report.frame.set_index("source")
    assert frame.loc["real-vs-real", "label_accuracy"] == 1.0 and frame.loc["<ToyConditional>", "label_accuracy"] == 0
    assert frame.loc["real-vs-real", "condition_ignored"] == False  # noqa: E712 (a numpy or Python bool)
    plain = gandiag.audit([gandiag.reference("ring8").sample(400, seed=4)], "ring8", n=400, metrics="modes").frame
    assert "label_accuracy" not in plain.columns


def test_the_gate_reads_conditional_thresholds():
    config = parse_config({"reference": "ring8", "flags": ["class_collapse"],
                           "conditional_thresholds": {"min_spread": 2.0}}, where="gate.toml")
    assert config.conditional_thresholds.min_spread == 2.0
    with pytest.raises(GandiagInputError, match="conditional_thresholds.min_sprad"):
        parse_config({"reference": "ring8", "flags": ["class_collapse"],
                      "conditional_thresholds": {"min_sprad": 2.0}}, where="gate.toml")
