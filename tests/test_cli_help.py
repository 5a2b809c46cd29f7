"""``gandiag --help``, ``gandiag CMD --help`` and ``--version`` answer without torch, in plain text."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gandiag

POISONED = "import sys; sys.modules['torch'] = None; from gandiag.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", POISONED, *argv], capture_output=True, text=True, timeout=60)


def _plain(text: str) -> None:
    assert "``" not in text and "CONTRACT" not in text and "unavailable" not in text


@pytest.mark.parametrize("argv, expected", [
    (["--help"], ["usage: gandiag", "score", "audit", "gate", "README.md"]),
    (["audit", "--help"], ["usage: gandiag audit", "--threads N", "--reference"]),
    (["score", "--help"], ["usage: gandiag score", "--threads N"]),
    (["gate", "--help"], ["usage: gandiag gate", "--threads N"]),
])
def test_help_without_torch(argv, expected):
    done = _run(*argv)
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout
    assert "``" not in done.stdout and "CONTRACT" not in done.stdout


def test_version_without_torch():
    done = _run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"gandiag {gandiag.__version__}"


def test_plugin_help_without_torch():
    done = _run("train", "--help")
    assert done.returncode == 0, done.stderr
    assert "--threads N" in done.stdout and "--resume" in done.stdout
    _plain(_run("--help").stdout)


def test_help_imports_no_torch_or_pandas():
    code = ("import sys\nfrom gandiag.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_latent_choices_match_the_generators():
    from gandiag.cli.options import LATENT_CHOICES
    from gandiag.generators import LATENT_DISTRIBUTIONS

    assert LATENT_CHOICES == LATENT_DISTRIBUTIONS
