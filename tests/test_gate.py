"""``gandiag gate``, its configuration, JUnit/summary output and the pytest plugin.

Generators with known defects (``DefectGenerator`` of helpers.py: ring8 mixtures with modes
removed, blurred or shrunk) are gated as ``.npy`` sample files and as a ``.pt2`` program, the
tiny trained run's last checkpoint as a gandiag checkpoint; all through the real scoring code at
small n with cheap metrics (mode metrics and sliced W2).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import export_program
from helpers import DEFECTS, DefectGenerator

from gandiag.cli import main
from gandiag.errors import GandiagInputError
from gandiag.gate import evaluate, load_config, parse_config, run_gate

pytest_plugins = ["pytester"]

N = 1000
README = Path(__file__).resolve().parent.parent / "README.md"
BOUNDS = textwrap.dedent("""\
    [gate]
    reference = "ring8"
    n = 1000
    seed = 0
    flags = ["mode_dropping", "mode_collapse", "low_quality"]

    [gate.metrics]
    modes_captured = { min = 8 }
    hq_fraction = { min = 0.9 }
    sliced_w = { max = 0.5 }
    """)
BASELINE = textwrap.dedent("""\
    [gate]
    reference = "ring8"
    n = 1000
    resamples = 10

    [gate.metrics]
    sliced_w = { margin = 0.0 }
    hq_fraction = { margin = 0.0 }
    modes_captured = { margin = 0 }
    """)
#: defect -> the checks of BOUNDS that must fail
EXPECTED_FAILURES = {
    "perfect": set(),
    "missing": {"min:modes_captured", "max:sliced_w", "flag:mode_dropping"},
    "shrunk": {"flag:mode_collapse"},
    "blurred": {"min:hq_fraction", "flag:low_quality"},
}


def _samples(weights, scale: float, seed: int, n: int = N) -> np.ndarray:
    module = DefectGenerator(weights, scale)
    return module(torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))).numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each defect as a .npy file of N samples, a second perfect sample, a slightly worse one,
    the perfect generator as a .pt2 program, and the two configurations."""
    folder = tmp_path_factory.mktemp("gate")
    out = {}
    for name, (weights, scale, _) in DEFECTS.items():
        out[name] = folder / f"{name}.npy"
        np.save(out[name], _samples(weights, scale, seed=11))
    out["perfect2"] = folder / "perfect2.npy"
    np.save(out["perfect2"], _samples(DEFECTS["perfect"][0], 1.0, seed=12))
    uneven = np.full(8, 1 / 8) + 0.01 * np.array([1, -1, 1, -1, 1, -1, 1, -1])  # a small, real regression
    out["slightly_worse"] = folder / "slightly_worse.npy"
    np.save(out["slightly_worse"], _samples(uneven, 1.04, seed=13))
    out["program"] = export_program(DefectGenerator(*DEFECTS["perfect"][:2]), folder / "perfect.pt2", latent_dim=3)
    (folder / "gate.toml").write_text(BOUNDS)
    (folder / "baseline.toml").write_text(BASELINE)
    out["config"], out["baseline_config"] = folder / "gate.toml", folder / "baseline.toml"
    return out


def _failed(junit: Path) -> dict[str, str]:
    root = ET.parse(junit).getroot()
    return {case.get("name"): case.find("failure").get("message")
            for case in root.iter("testcase") if case.find("failure") is not None}


# -- configuration ---------------------------------------------------------------------------

def test_pyproject_and_standalone_tables_give_the_same_config(tmp_path):
    pyproject = "[project]\nname = 'x'\n\n" + BOUNDS.replace("[gate", "[tool.gandiag.gate")
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "gate.toml").write_text(BOUNDS)
    a, b = load_config(tmp_path / "pyproject.toml"), load_config(tmp_path / "gate.toml")
    assert a.origin.endswith("pyproject.toml [tool.gandiag.gate]") and b.origin.endswith("gate.toml [gate]")
    assert (a.reference, a.n, a.seed, a.resamples) == (b.reference, b.n, b.seed, b.resamples) == ("ring8", 1000, 0, 0)
    assert a.flags == b.flags == ("mode_dropping", "mode_collapse", "low_quality")
    assert a.metrics == b.metrics and [(r.metric, r.min, r.max) for r in a.metrics] == [
        ("modes_captured", 8.0, None), ("hq_fraction", 0.9, None), ("sliced_w", None, 0.5)]
    assert a.scored_metrics == ("modes_captured", "hq_fraction", "sliced_w", "modes_total")
    c = load_config(_write(tmp_path, "b.toml", BASELINE))
    assert c.resamples == 10 and c.has_baseline_rules and [r.margin for r in c.metrics] == [0.0, 0.0, 0.0]
    d = parse_config({"reference": "ring8", "metrics": {"w1": {"margin": 0.1}}})
    assert d.resamples == 20  # the default when a margin is set


def test_readme_example_config_is_valid(tmp_path):
    text = README.read_text()
    section = text[text.index("## CI quality gates"):text.index("## Tests")]
    block = re.search(r"```toml\n(\[tool\.gandiag\.gate\].*?)```", section, re.S).group(1)
    cfg = load_config(_write(tmp_path, "pyproject.toml", block))
    assert cfg.has_baseline_rules and cfg.flags and cfg.resamples >= 2


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


HEAD = '[gate]\nreference = "ring8"\n'
BAD_CONFIGS = {
    "unknown rule key": (HEAD + "[gate.metrics.w1]\nmaxx = 0.1\n",
                         "gate.metrics.w1.maxx: unknown key; use min, max, margin"),
    "unknown metric": (HEAD + "[gate.metrics.w3]\nmax = 1\n", "gate.metrics.w3: unknown metric 'w3'"),
    "misspelt metric": (HEAD + "[gate.metrics.hq_fracton]\nmin = 0.5\n",
                        "gate.metrics.hq_fracton: unknown metric 'hq_fracton' (did you mean hq_fraction?); use one of"),
    "unknown flag": (HEAD + 'flags = ["mode_hopping"]\n', "gate.flags: unknown flag 'mode_hopping'"),
    "wrong type n": (HEAD + 'n = "many"\nflags = ["low_quality"]\n', "gate.n: need an integer >= 16, got 'many'"),
    "bool seed": (HEAD + 'seed = true\nflags = ["low_quality"]\n', "gate.seed: need an integer >= 0, got True"),
    "unknown top key": (HEAD + 'colour = "red"\n', "gate.colour: unknown key; use reference"),
    "string bound": (HEAD + '[gate.metrics.w1]\nmax = "0.1"\n', "gate.metrics.w1.max: need a finite number"),
    "bare number": (HEAD + "[gate.metrics]\nw1 = 0.05\n", "gate.metrics.w1: need a table of bounds"),
    "min above max": (HEAD + "[gate.metrics.w1]\nmin = 2\nmax = 1\n", "gate.metrics.w1: min 2 > max 1"),
    "margin without interval": (HEAD + "[gate.metrics.ndb]\nmargin = 1\n",
                                "gate.metrics.ndb.margin: ndb has no resampling"),
    "margin without resamples": (HEAD + "resamples = 0\n[gate.metrics.w1]\nmargin = 0.1\n",
                                 "gate.resamples: baseline margins"),
    "unknown threshold": (HEAD + 'flags = ["mode_collapse"]\n[gate.thresholds]\nmin_spred = 0.3\n',
                          "gate.thresholds.min_spred: unknown key"),
    "nothing to check": (HEAD, "gate: nothing to check"),
    "no reference": ("[gate]\nflags = [\"low_quality\"]\n", "gate.reference: missing"),
    "no table": ("[other]\nx = 1\n", "no [gate] or [tool.gandiag.gate] table"),
    "not toml": ("[gate\nreference = ring8\n", "not valid TOML"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configuration_exits_2_naming_the_key(case, files, tmp_path, capsys):
    text, message = BAD_CONFIGS[case]
    config = _write(tmp_path, "gate.toml", text)
    assert main(["gate", str(files["perfect"]), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(config) in err, err


def test_pyproject_errors_name_the_nested_key(files, tmp_path, capsys):
    config = _write(tmp_path, "pyproject.toml",
                    '[tool.gandiag.gate]\nreference = "ring8"\n[tool.gandiag.gate.metrics.w1]\nmaxx = 1\n')
    assert main(["gate", str(files["perfect"]), "--config", str(config)]) == 2
    assert "tool.gandiag.gate.metrics.w1.maxx: unknown key" in capsys.readouterr().err
    _write(tmp_path, "pyproject.toml", BOUNDS)  # a [gate] table is not read from a pyproject.toml
    assert main(["gate", str(files["perfect"]), "--config", str(config)]) == 2
    assert "no [tool.gandiag.gate] table" in capsys.readouterr().err


# -- the rule, on hand-made rows ------------------------------------------------------------

def test_baseline_rule_formula_on_known_numbers():
    cfg = parse_config({"reference": "ring8", "metrics": {
        "w1": {"margin": 0.005}, "hq_fraction": {"margin": 0.01}, "intra_mode_spread": {"margin": 0.0}}})

    def row(w1, hq, spread, h=0.01, hs=0.05):
        return {"w1": w1, "w1_ci_low": w1 - h, "w1_ci_high": w1 + h, "hq_fraction": hq, "hq_fraction_ci_low": hq - h,
                "hq_fraction_ci_high": hq + h, "intra_mode_spread": spread, "intra_mode_spread_ci_low": spread - hs,
                "intra_mode_spread_ci_high": spread + hs}

    base = row(0.10, 0.98, 0.95)  # intervals w1 [0.09, 0.11], hq [0.97, 0.99], spread [0.9, 1]
    # w1 [0.114, 0.134]: 0.114 - 0.11 = 0.004 <= 0.005; hq [0.941, 0.961]: 0.97 - 0.961 = 0.009 <= 0.01;
    # spread [0.99, 1.09] holds 1: distance 0 <= the baseline's worst, 0.1
    inside = {c.name: c for c in evaluate(cfg, row(0.124, 0.951, 1.04), base)}
    assert all(c.status == "pass" for c in inside.values()), [c.message for c in inside.values()]
    assert inside["baseline:w1"].bound == "ci_low <= 0.115 (baseline [0.09, 0.11])"
    assert inside["baseline:hq_fraction"].bound == "ci_high >= 0.96 (baseline [0.97, 0.99])"
    assert inside["baseline:intra_mode_spread"].bound == "min |ci - 1| <= 0.1 (baseline [0.9, 1])"
    assert inside["baseline:w1"].message == ("w1 interval [0.114, 0.134] is worse by 0.004 <= margin 0.005 than "
                                             "baseline interval [0.09, 0.11] (values 0.124 vs 0.1)")
    assert "interval [0.99, 1.09] overlaps baseline interval [0.9, 1]" in inside["baseline:intra_mode_spread"].message
    # w1 [0.116, 0.136]: 0.006 > 0.005; hq [0.939, 0.959]: 0.011 > 0.01; spread [0.75, 0.85]: 0.15 - 0.1 = 0.05 > 0
    outside = {c.name: c for c in evaluate(cfg, row(0.126, 0.949, 0.80), base)}
    assert {n for n, c in outside.items() if c.failed} == {"baseline:w1", "baseline:hq_fraction",
                                                           "baseline:intra_mode_spread"}
    assert outside["baseline:w1"].message == ("w1 interval [0.116, 0.136] is worse than baseline interval "
                                              "[0.09, 0.11] by 0.006 > margin 0.005 (values 0.126 vs 0.1)")
    assert "by 0.011 > margin 0.01" in outside["baseline:hq_fraction"].message
    assert "by 0.05 > margin 0" in outside["baseline:intra_mode_spread"].message
    wide = {c.name: c for c in evaluate(cfg, row(0.1, 0.98, 1.17), base)}  # [1.12, 1.22]: 0.12 from 1, too wide
    spread = wide["baseline:intra_mode_spread"]
    assert spread.failed and "by 0.02 > margin 0" in spread.message
    assert [c.status for c in evaluate(cfg, row(0.5, 0.1, 3.0))] == ["skip"] * 3  # no baseline: skipped
    nan = evaluate(cfg, {**row(0.1, 0.98, 0.95), "w1_ci_low": math.nan}, base)
    assert nan[0].failed and "cannot compare w1: an interval is missing or NaN" in nan[0].message


# -- the command on defects -------------------------------------------------------------------

@pytest.mark.parametrize("name", list(EXPECTED_FAILURES))
def test_gate_passes_perfect_and_fails_each_defect(name, files, tmp_path, capsys):
    junit = tmp_path / "gate.xml"
    status = main(["gate", str(files[name]), "--config", str(files["config"]), "--junit", str(junit)])
    out = capsys.readouterr().out
    expected = EXPECTED_FAILURES[name]
    assert status == (1 if expected else 0), out
    failed = _failed(junit)
    assert set(failed) == expected, out
    cases = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert cases == ["min:modes_captured", "min:hq_fraction", "max:sliced_w",
                     "flag:mode_dropping", "flag:mode_collapse", "flag:low_quality"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "6" and suite.get("failures") == str(len(expected))
    assert out.splitlines()[-1] == ("PASS: 6 checks" if not expected else f"FAIL: {len(expected)} of 6 checks failed")
    if name == "missing":
        assert failed["min:modes_captured"] == "modes_captured = 3 < min 8"
        assert "5 of 8 modes missing (2, 3, 5, 6, 7)" in failed["flag:mode_dropping"]
        value = float(re.search(r"sliced_w = ([\d.]+) > max 0.5", failed["max:sliced_w"]).group(1))
        assert value > 0.5
    if name == "blurred":  # P(chi2_2 < (3/4)^2) = 1 - exp(-9/32) = 0.245 of samples are high quality
        hq = float(re.search(r"hq_fraction = ([\d.]+) < min 0.9", failed["min:hq_fraction"]).group(1))
        assert abs(hq - (1 - math.exp(-9 / 32))) < 0.05


def test_program_source_and_step_summary(files, tmp_path, capsys, monkeypatch):
    summary = _write(tmp_path, "summary.md", "# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["gate", str(files["program"]), "--config", str(files["config"])]) == 0
    assert main(["gate", str(files["missing"]), "--config", str(files["config"])]) == 1
    capsys.readouterr()
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert f"### gandiag gate: PASS for `{files['program']}`" in text
    assert f"### gandiag gate: FAIL for `{files['missing']}`" in text
    assert "| min:modes_captured | 8 | >= 8 |  | pass |" in text
    assert "| min:modes_captured | 3 | >= 8 |  | **FAIL** |" in text
    assert "- `flag:mode_dropping`: flag raised: mode_dropping: 5 of 8 modes missing" in text


# -- baselines -------------------------------------------------------------------------------

def test_regression_inside_the_noise_passes(files, tmp_path, capsys):
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(files["slightly_worse"]), "--config", str(files["baseline_config"]),
                 "--baseline", str(files["perfect"]), "--junit", str(junit)]) == 0, capsys.readouterr().out
    assert not _failed(junit)
    result = run_gate(files["slightly_worse"], load_config(files["baseline_config"]), files["perfect"])
    cand, base = result.row, result.baseline_row
    # The candidate is worse in truth (shares 0.135/0.115, modes 4% wider: hq_fraction 0.984 instead of
    # 0.989) and its sample shows it, but its intervals overlap the baseline's: noise, not a regression.
    assert cand["hq_fraction"] < base["hq_fraction"] and cand["sliced_w"] > base["sliced_w"]
    assert cand["hq_fraction_ci_high"] >= base["hq_fraction_ci_low"]
    assert cand["sliced_w_ci_low"] <= base["sliced_w_ci_high"]
    assert [c.status for c in result.checks] == ["pass"] * 3
    assert all(" overlaps baseline interval " in c.message for c in result.checks), [c.message for c in result.checks]


def test_clear_regressions_fail_against_the_baseline(files, tmp_path, capsys):
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(files["missing"]), "--config", str(files["baseline_config"]),
                 "--baseline", str(files["perfect2"]), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    failed = _failed(junit)
    assert set(failed) == {"baseline:sliced_w", "baseline:modes_captured"}, out
    assert failed["baseline:modes_captured"] == ("modes_captured interval [3, 3] is worse than baseline interval "
                                                 "[8, 8] by 5 > margin 0 (values 3 vs 8)")
    assert main(["gate", str(files["blurred"]), "--config", str(files["baseline_config"]),
                 "--baseline", str(files["perfect2"]), "--junit", str(junit)]) == 1
    assert "baseline:hq_fraction" in _failed(junit)
    assert f"against {files['perfect2']}" in capsys.readouterr().out


def test_baseline_rules_without_a_baseline_are_skipped(files, tmp_path, capsys):
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(files["missing"]), "--config", str(files["baseline_config"]), "--junit", str(junit)]) == 0
    assert "PASS: 3 checks (3 skipped)" in capsys.readouterr().out
    skipped = [c.find("skipped").get("message") for c in ET.parse(junit).getroot().iter("testcase")]
    assert skipped == ["no baseline given (--baseline)"] * 3
    assert main(["gate", str(files["missing"]), "--config", str(files["config"]),
                 "--baseline", str(files["perfect"])]) == 2
    assert "sets no metric margin" in capsys.readouterr().err


# -- trained checkpoints and errors -----------------------------------------------------------

def test_tiny_run_last_checkpoint_and_broken_inputs(tiny_run, files, tmp_path, capsys):
    config = _write(tmp_path, "gate.toml", '[gate]\nreference = "ring8"\nn = 400\nresamples = 4\n'
                    '[gate.metrics]\nmodes_captured = { min = 8, margin = 0 }\nsliced_w = { max = 5, margin = 0 }\n')
    last = sorted(tiny_run.glob("step-*.pt"))[-1]
    assert main(["gate", str(tiny_run), "--config", str(config)]) == 1  # a folder: its last checkpoint
    out = capsys.readouterr().out
    assert f"gandiag gate: {last} (" in out and "min:modes_captured" in out
    result = run_gate(last, load_config(config), baseline=last)
    assert result.row["modes_captured"] < 8 and result.row["sliced_w"] < 5  # four steps: not trained yet
    assert [c.status for c in result.checks] == ["fail", "pass", "pass", "pass"]  # itself as baseline: no regression
    report = result.failure_report()
    assert re.search(r"FAIL: 1 of 4 checks failed for .*step-0000004.pt against .*step-0000004.pt", report)
    assert re.search(r"\n  min:modes_captured: modes_captured = \d < min 8$", report)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(last.read_bytes()[:300])
    assert main(["gate", str(broken), "--config", str(config)]) == 2
    assert "broken.pt" in capsys.readouterr().err
    few = tmp_path / "few.npy"
    np.save(few, np.zeros((100, 2), np.float32))
    assert main(["gate", str(few), "--config", str(config)]) == 2
    assert "holds 100 samples, 400 were asked for" in capsys.readouterr().err
    assert main(["gate", str(files["perfect"]), "--config", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: no such file" in capsys.readouterr().err
    with pytest.raises(GandiagInputError, match="no such file"):
        run_gate(tmp_path / "nothing.pt", load_config(config))


# -- pytest plugin ---------------------------------------------------------------------------

def test_plugin_is_registered_and_loads_without_the_scoring_stack():
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("gandiag") == "gandiag.gate.pytest_plugin"
    heavy = ("gandiag.scoring", "gandiag.gate.checks", "gandiag.gate.config", "ot", "pandas")
    code = f"import sys, gandiag.gate.pytest_plugin; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_pytest_fixture_passes_and_fails_with_the_numbers(pytester, files):
    shutil.copy(files["perfect"], pytester.path / "good.npy")
    shutil.copy(files["missing"], pytester.path / "bad.npy")
    (pytester.path / "gate.toml").write_text('[gate]\nreference = "ring8"\nn = 400\n'
                                             "[gate.metrics]\nmodes_captured = { min = 8 }\nsliced_w = { max = 5 }\n")
    pytester.makepyfile(test_quality="""
        def test_good(gandiag_gate):
            result = gandiag_gate("good.npy", config="gate.toml")
            assert result.row["modes_captured"] == 8 and result.passed

        def test_bad(gandiag_gate):
            gandiag_gate("bad.npy", config="gate.toml")
        """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: gandiag gate FAIL: 1 of 2 checks failed for bad.npy*",
                                 "*min:modes_captured: modes_captured = 3 < min 8"])


def test_flag_checks_read_the_typed_flags_not_the_evidence_text():
    from gandiag.modes import FlagResult
    from gandiag.scoring import ScoreResult

    cfg = parse_config({"reference": "ring8", "flags": ["mode_collapse", "mode_dropping"]})
    flags = FlagResult({"mode_collapse": "mode_collapse: mode 1 holds 0.81 of samples (reference 0.125)",
                        "mode_dropping": None, "low_quality": None})
    # the text columns say otherwise: the typed flags decide
    values = {"mode_dropping": True, "mode_collapse": False, "low_quality": False, "evidence": "mode_dropping: text"}
    result = ScoreResult(source="g", step=None, n=10, seed=0, values=values, flags=flags)
    checks = {c.name: c for c in evaluate(cfg, result)}
    assert checks["flag:mode_collapse"].status == "fail"
    assert "mode 1 holds 0.81" in checks["flag:mode_collapse"].message
    assert checks["flag:mode_dropping"].status == "pass"
    assert result.flag("mode_collapse") is True and result.flag("low_quality") is False
    assert FlagResult({}).evidence == "" and flags.as_columns()["evidence"].startswith("mode_collapse:")


def test_a_clause_holding_a_semicolon_is_quoted_whole():
    # class_dropping joins its parts with "; ", as the evidence joins clauses: split only where a flag's
    # name follows, or the gate (and the verdicts) quote half a clause.
    from gandiag.schema import evidence_clauses

    evidence = ("mode_dropping: 1 of 8 modes missing (4); class_dropping: never requested: class 3; "
                "no high-quality output: class 5, 6")
    assert evidence_clauses(evidence) == {
        "mode_dropping": "mode_dropping: 1 of 8 modes missing (4)",
        "class_dropping": "class_dropping: never requested: class 3; no high-quality output: class 5, 6"}
    assert evidence_clauses("") == {} and evidence_clauses(float("nan")) == {}
    cfg = parse_config({"reference": "ring8", "flags": ["mode_dropping", "class_dropping"]})
    row = {"mode_dropping": True, "mode_collapse": False, "low_quality": False, "class_dropping": True,
           "evidence": evidence}
    checks = {c.name: c for c in evaluate(cfg, row)}
    assert checks["flag:class_dropping"].message == ("flag raised: class_dropping: never requested: class 3; "
                                                     "no high-quality output: class 5, 6")
    assert checks["flag:mode_dropping"].message == "flag raised: mode_dropping: 1 of 8 modes missing (4)"
