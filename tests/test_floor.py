"""One real-vs-real floor: the same seed gives the same floor row in score, audit and compare."""

from __future__ import annotations

import re

import numpy as np
import pytest

import gandiag
from gandiag.compare import compare_sources
from gandiag.metrics import w1
from gandiag.metrics.intervals import real_vs_real
from gandiag.references import reference_pair
from gandiag.schema import REAL_VS_REAL
from gandiag.scoring import Scorer

DIVERGENCES = ["js", "w1", "w2", "sliced_w", "sinkhorn"]


def test_floor_rows_agree_across_commands(tmp_path):
    reference, n, seed = "ring8", 300, 7
    real, second = reference_pair(gandiag.reference(reference), n, seed)
    assert not np.array_equal(real.numpy(), second.numpy())
    np.save(tmp_path / "g.npy", second.numpy())  # a "generator" that is the floor's own second sample
    scorer_floor = Scorer(reference, n=n, seed=seed, metrics="divergences").floor()
    audit = gandiag.audit([tmp_path / "g.npy"], reference, n=n, seed=seed, metrics="divergences", progress=False)
    audit_floor = audit.frame.set_index("source").loc[REAL_VS_REAL]
    compared = compare_sources([tmp_path / "g.npy"], reference, n=n, seed=seed).set_index("source")
    for m in DIVERGENCES:
        assert audit_floor[m] == pytest.approx(scorer_floor[m], rel=0, abs=0), m
        assert compared.loc[REAL_VS_REAL, m] == pytest.approx(scorer_floor[m], rel=0, abs=0), m
    # the same pair, through the interval module's helper
    assert real_vs_real(w1, reference, n, seed=seed) == pytest.approx(scorer_floor["w1"], rel=1e-12)


def test_stored_references_split_one_permutation():
    ref = gandiag.reference("digits")
    floor = Scorer("digits", n=200, seed=5, metrics="w1").floor()
    assert real_vs_real(w1, ref, 200, seed=5) == pytest.approx(floor["w1"], rel=1e-12)
    real, second = reference_pair(ref, 400, 3)
    flat = lambda t: {row.tobytes() for row in t.reshape(len(t), -1).numpy()}  # noqa: E731
    assert not flat(real) & flat(second)
    with pytest.raises(gandiag.GandiagInputError, match="--n 1000"):
        reference_pair(ref, 1000, 0)


# -- a perfect generator raises no flag (docs/contract.md section 6) --------------------------------
GUARD = 0.01  # FlagThresholds().significance


def _flagged(reference, ns, seeds) -> tuple[int, int]:
    """(real-vs-real rows with any flag, rows) over ``ns`` x ``seeds``, mode metrics only."""
    rows = [Scorer(reference, n=n, seed=s, metrics="modes").floor() for n in ns for s in seeds]
    return sum(bool(r["mode_dropping"] or r["mode_collapse"] or r["low_quality"]) for r in rows), len(rows)


def test_the_floor_is_clean_for_every_reference(tmp_path):
    from PIL import Image

    np.save(tmp_path / "ring.npy", gandiag.reference("ring8").sample(1200, seed=11).numpy())
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(gandiag.reference("digits").sample(420, seed=12).numpy()):
        Image.fromarray(np.round((image[0] + 1) * 127.5).astype(np.uint8)).save(folder / f"{i:03d}.png")
    counts = [
        _flagged("ring8", (16, 100, 300), range(8)),
        _flagged("grid25", (16, 100, 300), range(8)),
        _flagged(tmp_path / "ring.npy", (100, 200, 500), range(12)),  # NDB bins of ~10 samples each
        _flagged(folder, (50, 200), range(4)),
        _flagged("digits", (50, 200), range(3)),
        _flagged("stacked-digits", (200,), range(2)),
    ]
    flagged, rows = map(sum, zip(*counts))
    assert rows == 100 and flagged <= GUARD * rows, counts


def test_small_n_is_named_in_the_notes():
    assert "mode_dropping needs --n 51 or more" in Scorer("ring8", n=16, seed=0, metrics="modes").floor()["notes"]
    assert Scorer("ring8", n=51, seed=0, metrics="modes").floor()["notes"] == ""
    note = Scorer("grid25", n=100, seed=0, metrics="modes").floor()["notes"]
    assert note == ("flags not to be trusted at n = 100: a wholly missing typical mode is within chance "
                    "(significance 0.01 over 25 modes); mode_dropping needs --n 192 or more")


def test_ndb_reference_hq_fraction_is_measured_held_out(tmp_path):
    # bins of ~10 members: on their own members 99% lie within the radius by construction, on a
    # fresh reference sample far fewer; that fresh share is the reference's hq_fraction.
    np.save(tmp_path / "ring.npy", gandiag.reference("ring8").sample(800, seed=11).numpy())
    scorer = Scorer(tmp_path / "ring.npy", n=400, seed=3, metrics="modes")
    in_sample = scorer.bins.assign_modes(scorer.real)[1].mean()
    held_out = scorer.bins.assign_modes(scorer._floor_sample)[1].mean()
    assert in_sample >= 0.99 and held_out < 0.97
    assert scorer.bins.heldout_hq_fraction == pytest.approx(held_out, abs=1e-12)
    floor, row = scorer.floor(), scorer(scorer.real)
    assert floor["hq_fraction"] == pytest.approx(held_out, abs=1e-12)
    assert row["hq_fraction"] == pytest.approx(in_sample, abs=1e-12) and not row["low_quality"]


def test_small_n_is_said_in_the_findings_and_on_the_score_command(tmp_path, capsys):
    # "mode_dropping False" at n = 20 means little: the summary (console, report.md, report.html) and
    # `gandiag score` (which prints only the table) say so, naming the n that would be needed.
    from gandiag.cli import main

    samples = tmp_path / "off.npy"
    np.save(samples, np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32))
    needed = "mode_dropping needs --n 51 or more"
    small = gandiag.audit(samples, "ring8", n=20, metrics="w1,modes", progress=False)
    caution = [line for line in small.summary_lines() if line.startswith("**caution**")]
    assert caution == ["**caution**: flags not to be trusted at n = 20: a wholly missing typical mode is within "
                       f"chance (significance 0.01 over 8 modes); {needed}"]
    assert needed in small.to_markdown() and needed in small.to_html(plots={})
    large = gandiag.audit(samples, "ring8", n=60, metrics="w1,modes", progress=False)
    assert not [line for line in large.summary_lines() if "caution" in line]
    assert main(["score", str(samples), "--reference", "ring8", "--n", "20", "--metrics", "w1,modes", "--quiet"]) == 0
    assert "gandiag score: warning: flags not to be trusted at n = 20" in capsys.readouterr().err
    assert main(["score", str(samples), "--reference", "ring8", "--n", "60", "--metrics", "w1,modes", "--quiet"]) == 0
    assert "not to be trusted" not in capsys.readouterr().err


def test_ndb_advice_is_reachable_or_says_it_is_not(tmp_path):
    # Below 1,000 samples the scorer fits n // 10 bins, ten samples each: never enough for an empty bin
    # to be significant, so "needs --n N" must be where the full 100 bins are trusted, not the n of
    # the present bins (which at n = 250 once said 400 and moved on at 400); and a reference too small
    # for that n is said to be out of reach instead of advising an --n it refuses.
    ring = gandiag.reference("ring8")
    np.save(tmp_path / "big.npy", ring.sample(6000, seed=1).numpy())
    np.save(tmp_path / "small.npy", ring.sample(500, seed=1).numpy())
    for n in (100, 250, 500):
        note = Scorer(tmp_path / "big.npy", n=n, seed=0, metrics="modes").floor()["notes"]
        needed = int(re.search(r"mode_dropping needs --n (\d+) or more", note)[1])
        assert 1000 <= needed <= 2500 and "more than this reference allows" not in note, note
    assert Scorer(tmp_path / "big.npy", n=2500, seed=0, metrics="modes").floor()["notes"] == ""
    note = Scorer(tmp_path / "small.npy", n=250, seed=0, metrics="modes").floor()["notes"]
    assert re.search(r"mode_dropping needs --n \d+ or more, more than this reference allows \(at most --n 250: "
                     r"give it more samples, or read mode_dropping with care\)", note), note
    report = gandiag.audit(tmp_path / "small.npy", tmp_path / "small.npy", n=250, metrics="modes", progress=False)
    assert any("more than this reference allows (at most --n 250" in line for line in report.summary_lines())
    assert "bins captured" in report.verdict_lines()[0]  # NDB bins are not called modes
