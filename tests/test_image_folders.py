"""Folders of images on both sides: ``gandiag fid`` and ``gandiag score DIR --reference DIR2``.

The folders are PNGs written from scikit-learn's bundled 8x8 digits (so the shipped digits
features apply). The truth for ``gandiag fid`` is :func:`gandiag.metrics.fid` (and ``kid``,
``prdc``) on features computed here from the PNGs read back with PIL; the cache test counts the
digits extractor's real calls.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gandiag import metrics
from gandiag.cli import main
from gandiag.features.cache import CACHE_ENV
from gandiag.features.digits import DigitsExtractor
from gandiag.features.inception import ENV_VAR as INCEPTION_ENV

N_GENERATED, N_REFERENCE = 120, 240


def _write_digits(folder: Path, first: int, count: int) -> Path:
    from sklearn.datasets import load_digits

    pixels = np.round(load_digits().images[first:first + count] / 16.0 * 255.0).astype(np.uint8)
    folder.mkdir(parents=True)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("image_folders")
    return (_write_digits(root / "generated", 0, N_GENERATED),
            _write_digits(root / "reference", 1000, N_REFERENCE))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    return tmp_path / "cache" / "features"


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """The row count of every real call of the digits extractor."""
    seen: list[int] = []
    original = DigitsExtractor.__call__

    def counting(self, x, **kwargs):
        seen.append(len(x))
        return original(self, x, **kwargs)

    monkeypatch.setattr(DigitsExtractor, "__call__", counting)
    return seen


def _read_back(folder: Path) -> np.ndarray:
    """The PNGs as (n, 1, 8, 8) floats in [-1, 1], read here independently of gandiag's loader."""
    images = [np.asarray(Image.open(f), dtype=np.float32) for f in sorted(folder.glob("*.png"))]
    return np.stack(images)[:, None] / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)  # float32, as documented


def _fid_json(capsys, *argv: str) -> dict:
    assert main(["fid", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_fid_command_equals_the_metrics_on_the_same_features(folders, capsys):
    generated, reference = folders
    out = _fid_json(capsys, generated, reference, "--no-cache")
    extractor = DigitsExtractor()
    fake, real = extractor(_read_back(generated)), extractor(_read_back(reference))
    assert (out["extractor"], out["n_generated"], out["n_reference"]) == ("digits", N_GENERATED, N_REFERENCE)
    assert out["fid"] == pytest.approx(metrics.fid(real, fake), rel=1e-12)
    assert out["kid"] == pytest.approx(metrics.kid(real, fake, subset_size=N_GENERATED, seed=0), rel=1e-12)
    expected = metrics.prdc(real, fake)
    assert {k: out[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    assert out["fid"] > 0 and 0 < out["precision"] <= 1  # real numbers, not blanks
    # the same without --json: one line with the same numbers
    assert main(["fid", str(generated), str(reference), "--no-cache"]) == 0
    line = capsys.readouterr().out.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"fid {out['fid']:.6g} kid {out['kid']:.6g}")
    assert "digits features" in line


def test_fid_subsets_are_seeded(folders, capsys):
    generated, reference = folders
    a = _fid_json(capsys, generated, reference, "--n", "100", "--seed", "3", "--no-cache")
    b = _fid_json(capsys, generated, reference, "--n", "100", "--seed", "3", "--no-cache")
    c = _fid_json(capsys, generated, reference, "--n", "100", "--seed", "4", "--no-cache")
    assert a == b and (a["n_generated"], a["n_reference"]) == (100, 100)
    assert c["fid"] != a["fid"]
    err = _one_line_error(capsys, ["fid", generated, reference, "--n", "500"])
    assert "--n 500" in err and str(N_GENERATED) in err


def test_reference_features_come_from_the_cache_on_the_second_run(folders, capsys, calls, own_cache):
    generated, reference = folders
    first = _fid_json(capsys, generated, reference)
    assert calls == [N_GENERATED, N_REFERENCE]
    assert len(list(own_cache.glob("*/*.npy"))) == 1  # the reference side only
    second = _fid_json(capsys, generated, reference)
    assert calls == [N_GENERATED, N_REFERENCE, N_GENERATED]  # the reference's features were not recomputed
    assert second == first
    assert _fid_json(capsys, generated, reference, "--no-cache") == first
    assert calls[3:] == [N_GENERATED, N_REFERENCE]


def test_score_takes_image_folders_on_both_sides_and_caches_the_reference(folders, capsys, calls, tmp_path):
    generated, reference = folders
    n = 60
    argv = ["score", str(generated), "--reference", str(reference), "--metrics", "features", "--n", str(n), "--quiet"]
    out = [tmp_path / "first.json", tmp_path / "second.json"]
    assert main([*argv, "--out", str(out[0])]) == 0
    assert calls == [n, n, n]  # reference sample, generated sample, the real-vs-real floor's second sample
    assert main([*argv, "--out", str(out[1])]) == 0
    assert calls == [n, n, n, n]  # only the generated side ran again
    audit = ["audit", str(generated), "--reference", str(reference), "--metrics", "features", "--n", str(n), "--quiet",
             "--no-plots"]
    assert main([*audit, "--out", str(tmp_path / "audit")]) == 0
    assert calls == [n] * 5  # the audit shares the cache: only its generated sample ran
    assert main([*audit, "--out", str(tmp_path / "audit-uncached"), "--no-cache"]) == 0
    assert calls == [n] * 8
    rows = [json.loads(p.read_text()) for p in out]
    assert rows[0] == rows[1]
    row = rows[0][0]
    assert row["source"] == str(generated)
    # the row's FID is gandiag.metrics.fid on the digits features of the two samples it compares
    import gandiag
    from gandiag.references import reference_pair

    real = reference_pair(gandiag.reference(str(reference)), n, 0)[0]
    fake = gandiag.load_generator(str(generated)).sample(n, seed=0)
    extractor = DigitsExtractor()
    assert row["fid"] == pytest.approx(metrics.fid(extractor(real), extractor(fake)), rel=1e-9)


def _write_colour(folder: Path, count: int, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_no_applicable_extractor_is_one_line_that_says_how_to_fix_it(tmp_path, capsys):
    colour = _write_colour(tmp_path / "colour", 40)
    err = _one_line_error(capsys, ["fid", colour, colour])
    assert "16x16 3-channel" in err and "--inception-weights PATH" in err and INCEPTION_ENV in err
    # score: the row's notes and the command say so instead of leaving the feature columns blank silently
    from gandiag.scoring import Scorer

    scorer = Scorer(str(colour), metrics=None)
    assert scorer.extractor_name is None and any("--inception-weights PATH" in note for note in scorer.notes)
    assert not {"fid", "kid", "precision"} & set(scorer.metrics)
    import gandiag

    report = gandiag.audit([str(colour)], str(colour), metrics="modes", progress=False)
    assert "--inception-weights PATH" in report.to_markdown().split("## Findings")[0]  # the report's header says it
    err = _one_line_error(capsys, ["score", colour, "--reference", colour, "--metrics", "fid", "--quiet"])
    assert "--inception-weights PATH" in err
    # a weights file that is named but missing is an error, not a silent fallback
    err = _one_line_error(capsys, ["fid", colour, colour, "--inception-weights", tmp_path / "missing.pth"])
    assert "missing.pth" in err


def test_corrupt_image_is_one_line_naming_the_file(folders, tmp_path, capsys):
    generated, reference = folders
    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    (broken / "zz_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    for argv in (["fid", broken, reference], ["fid", generated, broken],
                 ["score", broken, "--reference", reference, "--metrics", "features", "--n", "50", "--quiet"]):
        err = _one_line_error(capsys, argv)
        assert "zz_bad.png" in err and "not a readable image" in err, err


def test_folders_of_different_image_shapes_are_refused(folders, tmp_path, capsys):
    generated, _ = folders
    colour = _write_colour(tmp_path / "colour", 10, size=8)
    err = _one_line_error(capsys, ["fid", generated, colour])
    assert "(1, 8, 8)" in err and "(3, 8, 8)" in err


def test_fid_help_imports_no_torch():
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; from gandiag.cli import main; sys.exit(main(['fid', '--help']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: gandiag fid" in done.stdout and "--no-cache" in done.stdout and "--json" in done.stdout


def test_the_extractor_is_chosen_by_the_sample_shape(tmp_path, monkeypatch):
    from gandiag.errors import GandiagInputError
    from gandiag.features.choice import choose_extractor

    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"only its existence is checked here")
    assert choose_extractor((2,)).name == "identity"
    assert choose_extractor((1, 8, 8), weights=weights).name == "digits"  # 8x8 grey: digits, whatever is given
    assert choose_extractor((3, 8, 8), reference_name="stacked-digits").name == "digits"
    assert choose_extractor((3, 8, 8)).name is None  # 8x8 colour images are not digits
    assert choose_extractor((3, 8, 8), weights=weights).name == "inception"
    assert choose_extractor((1, 28, 28), weights=weights).name == "inception"
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    assert choose_extractor((3, 32, 32)).name == "inception"
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(GandiagInputError, match="gone.pth"):
        choose_extractor((3, 32, 32))


def test_a_reference_name_stands_for_its_samples(folders, capsys):
    import gandiag

    generated, _ = folders
    out = _fid_json(capsys, generated, "digits", "--no-cache")
    extractor = DigitsExtractor()
    real = extractor(gandiag.reference("digits").data)  # all 1797 stored digits
    assert out["n_reference"] == 1797
    assert out["fid"] == pytest.approx(metrics.fid(real, extractor(_read_back(generated))), rel=1e-12)
    err = _one_line_error(capsys, ["fid", generated, "ring8"])
    assert "(1, 8, 8)" in err and "(2,)" in err
