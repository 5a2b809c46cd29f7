"""The ``cyclegan-digits`` recipe (issue 13, item 2): digits to colour-inverted digits, class preserved.

The true map is x -> -x (pixels in [-1, 1]); it keeps each image's digit. The truth the test checks
against is the shipped digits classifier (the ``digits`` reference's mode assignment) applied to
-G(x) (the translation undone by the known map) and to F(G(x)) (the cycle), compared with the true
digit of x; the untrained step-0 generators are the control that this check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gandiag
from gandiag.conditional_loading import TranslationGenerator
from reference_models import checkpoints, make_config
from reference_models.cyclegan import InvertedDigits, train_cyclegan

STEPS = 150


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cyclegan-digits")
    train_cyclegan(make_config("cyclegan-digits", {"steps": STEPS, "checkpoint_every": STEPS}), out)
    return out


def _class_kept(gen: TranslationGenerator) -> tuple[float, float]:
    digits = gandiag.reference("digits")
    x, y = digits.draw(1000, torch.Generator().manual_seed(7))
    with torch.no_grad():
        gx = torch.as_tensor(gen.translate(x))
        fgx = torch.as_tensor(gen.inverse_translate(gx))
    undone = np.asarray(digits.assign_modes(-gx)[0]) == y.numpy()
    cycled = np.asarray(digits.assign_modes(fgx)[0]) == y.numpy()
    return float(undone.mean()), float(cycled.mean())


def test_the_trained_pair_keeps_the_digit(run):
    first, last = checkpoints(run)
    gen = gandiag.load_generator(last)
    assert isinstance(gen, TranslationGenerator) and gen.inverse is not None
    undone, cycled = _class_kept(gen)
    assert undone > 0.9 and cycled > 0.9  # measured 0.99 and 0.98 at 150 steps
    start, _ = _class_kept(gandiag.load_generator(first))
    assert start < 0.5  # untrained: -G(x) is not the digit of x


def test_the_pair_scores_as_a_translation_generator(run, tmp_path):
    inverted = -gandiag.reference("digits").sample(1000, seed=3).numpy()
    np.save(tmp_path / "inverted.npy", inverted)
    row = gandiag.score(gandiag.load_generator(checkpoints(run)[-1]), tmp_path / "inverted.npy", n=500,
                        metrics="modes")
    assert row["map_accuracy"] > 0.9 and row["input_dependence"] > 0.9 and not row["condition_ignored"]
    assert row["cycle_error"] < 0.5


def test_inverted_digits_are_the_digits_negated():
    a, ya = InvertedDigits().draw(5, torch.Generator().manual_seed(0))
    b, yb = gandiag.reference("digits").draw(5, torch.Generator().manual_seed(0))
    assert torch.equal(a, -b) and torch.equal(ya, yb)
