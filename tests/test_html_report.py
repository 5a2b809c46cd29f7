"""report.html gives the verdict first: cards, embedded plots, the floor marks, the full table.

A small audit of sample files (three run folders of ``.npy`` files, n = 400, modes and W1 only: a
few seconds) is written to disk and its HTML parsed with the standard library's ``html.parser``.
The truths are independent of the page: which run collapsed and from which step is how the
samples were built; the recommended checkpoint is recomputed from the table (the best W1 among the
checkpoints that raise no flag, since without intervals only equal values tie); the floor marks
are checked against values computed by hand on a frame built here.
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import gandiag
from gandiag.auditing.verdict import VERDICTS, verdicts, within_floor
from gandiag.schema import FLAG_NAMES

N = 400
RING = gandiag.reference("ring8")
STEPS = (100, 200, 300, 400)


def _collapsed(step_index: int, seed: int) -> np.ndarray:
    """Fair ring8 samples at steps 100 and 200, then 90% of them piled on mode 0 with a tiny spread."""
    x = RING.sample(N, seed=seed).numpy()
    if step_index >= 2:
        rng = np.random.default_rng(seed)
        pile = rng.random(N) < 0.9
        x[pile] = np.array([2.0, 0.0]) + rng.normal(0.0, 0.002, (int(pile.sum()), 2))
    return x


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("html_report")
    for name in ("collapsing", "healthy", "diverging"):
        (root / name).mkdir()
    for k, step in enumerate(STEPS):
        np.save(root / "collapsing" / f"step-{step:07d}.npy", _collapsed(k, 50 + k))
        np.save(root / "healthy" / f"step-{step:07d}.npy", RING.sample(N, seed=60 + k).numpy())
        good = RING.sample(N, seed=70 + k).numpy()
        if k == len(STEPS) - 1:
            good[:5] = np.nan
        np.save(root / "diverging" / f"step-{step:07d}.npy", good)
    runs = [root / "healthy", root / "collapsing", root / "diverging"]
    report = gandiag.audit(runs, "ring8", n=N, metrics="modes,w1", progress=False)
    report.save(root / "out")
    return report, root


class _Page(HTMLParser):
    """Cards (data-verdict, data-subject, text), images, noise cells, table header cells, nested lists."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict] = []
        self.images: list[str] = []
        self.noise: list[str] = []
        self.headers: list[str] = []
        self.tags: list[str] = []
        self.nested_lists = 0
        self._card_depth = None
        self._noise = False
        self._th = False
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section" and "card" in (a.get("class") or "").split():
            self.cards.append({"verdict": a["data-verdict"], "subject": a["data-subject"], "text": ""})
            self._card_depth = self._depth
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "td" and "noise" in (a.get("class") or "").split():
            self._noise = True
            self.noise.append(a.get("title", "") + "|")
        if tag == "th":
            self._th = True
            self.headers.append("")
        if tag == "ul" and self.tags.count("li") > self.tags.count("/li"):
            self.nested_lists += 1
        self._depth += 1

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)
        self._depth -= 1
        if tag == "section" and self._card_depth == self._depth:
            self._card_depth = None
        if tag == "td":
            self._noise = False
        if tag == "th":
            self._th = False

    def handle_data(self, data):
        if self._card_depth is not None:
            self.cards[-1]["text"] += data
        if self._noise:
            self.noise[-1] += data
        if self._th:
            self.headers[-1] += data


@pytest.fixture(scope="module")
def page(report_dir):
    _, root = report_dir
    parser = _Page()
    parser.feed((root / "out" / "report.html").read_text())
    return parser


def test_cards_give_the_right_verdict_worst_first(report_dir, page):
    _, root = report_dir
    cards = {c["subject"]: c for c in page.cards}
    assert set(cards) == {str(root / n) for n in ("healthy", "collapsing", "diverging")}
    assert cards[str(root / "collapsing")]["verdict"] == "mode collapse"
    assert cards[str(root / "healthy")]["verdict"] == "healthy"
    assert cards[str(root / "diverging")]["verdict"] == "diverged"
    order = [VERDICTS.index(c["verdict"]) for c in page.cards]
    assert order == sorted(order)  # worst first
    collapse = cards[str(root / "collapsing")]["text"]
    assert "since step 300" in collapse and "holds" in collapse  # piled from the third checkpoint
    assert "since step 400" in cards[str(root / "diverging")]["text"]
    assert "NaN or infinite" in cards[str(root / "diverging")]["text"]
    report, _ = report_dir
    first = report.summary_text().splitlines()[:3]  # the command line prints the verdicts first, too
    assert [line.split("**")[1] for line in first] == ["diverging", "collapsing", "healthy"]
    assert first[1].startswith("- verdict **collapsing**: mode collapse since step 300")


def _recommended_by_hand(frame: pd.DataFrame, run: str) -> int:
    rows = frame[(frame["run"] == run) & (frame["error"] == "")]
    clean = rows[~rows[list(FLAG_NAMES)].astype(bool).any(axis=1)]
    return int(clean.sort_values(["w1", "step"])["step"].iloc[0])


@pytest.mark.parametrize("run", ["healthy", "collapsing", "diverging"])
def test_card_recommends_the_best_flag_free_checkpoint(report_dir, page, run):
    report, root = report_dir
    expected = _recommended_by_hand(report.frame, str(root / run))
    card = next(c for c in page.cards if c["subject"] == str(root / run))
    assert re.search(r"Recommended checkpoint:\s*step (\d+)", card["text"]).group(1) == str(expected)
    choice = report.best(run=str(root / run))
    assert choice.metric == "w1" and choice.recommended[1] == expected
    if run == "collapsing":
        assert expected in (100, 200)  # never a collapsed checkpoint


def test_plots_are_embedded_as_png(page):
    pngs = [src for src in page.images if src.startswith("data:image/png;base64,")]
    assert len(pngs) == 3  # metrics against step, samples, mode shares
    for src in pngs:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.format == "PNG" and image.size[0] >= 600


def test_values_within_the_floor_are_greyed_and_marked(report_dir, page):
    report, root = report_dir
    assert page.noise and all(cell.startswith("within real-vs-real noise|≈") for cell in page.noise)
    frame = report.frame
    within = within_floor(frame)
    floor = frame[frame["source"] == "real-vs-real"].iloc[0]
    last = frame[frame["run"] == str(root / "collapsing")].sort_values("step").iloc[-1]
    assert last["mode_kl"] > floor["mode_kl"] and not within.loc[last.name, "mode_kl"]
    assert last["w1"] > floor["w1"] and not within.loc[last.name, "w1"]
    fair = frame[frame["run"] == str(root / "healthy")]
    assert within.loc[fair.index, "modes_captured"].all()  # 8 of 8 = the floor's 8
    md = (root / "out" / "report.md").read_text()
    head = md[: md.index("## Findings")]
    assert head.index("## Verdict") < head.index("**mode collapse**") < head.index("**healthy**")
    assert "≈8" in head


def test_no_flags_computed_is_not_judged_healthy():
    ring = gandiag.reference("ring8")
    report = gandiag.audit([ring.sample(300, seed=3)], ring, n=300, metrics="w1", progress=False)
    assert [v.kind for v in verdicts(report)] == ["not judged"]  # w1 alone raises no flag: nothing to judge


def test_within_floor_rule_by_hand():
    """Interval overlap, or no worse than the floor in the metric's direction (registry)."""
    frame = pd.DataFrame({
        "source": ["a", "b", "c", "d", "real-vs-real"],
        "fid": [1.5, 2.0, 0.5, np.nan, 1.0], "fid_ci_low": [1.1, 1.6, 0.4, np.nan, 0.8],
        "fid_ci_high": [1.9, 2.4, 0.6, np.nan, 1.2],
        "precision": [0.99, 0.90, 0.95, 0.5, 0.95],
        "intra_mode_spread": [1.02, 0.90, 1.03, 1.2, 0.97],
    })
    within = within_floor(frame)
    assert within["fid"].tolist() == [True, False, True, False, False]   # overlap; apart; better; missing
    assert within["precision"].tolist() == [True, False, True, False, False]  # higher is better
    assert within["intra_mode_spread"].tolist() == [True, False, True, False, False]  # |v - 1| <= 0.03


def test_full_table_has_only_filled_columns_integers_and_badges(report_dir, page):
    _, root = report_dir
    text = (root / "out" / "report.html").read_text()
    scores = text[text.index("<table class='scores'>"):]
    assert "position:sticky" in text
    assert ">300<" in scores and "300.0" not in scores  # steps as integers
    assert "<span class='badge mode_collapse'>mode collapse</span>" in scores
    assert "JS, classifier (nats)" not in page.headers and "FID" not in page.headers  # not computed: not shown
    assert "W1" in page.headers and "modes captured" in page.headers
    assert page.nested_lists >= 1  # run findings nested under their run, as HTML lists
    assert "\n- " not in text and "**" not in text
