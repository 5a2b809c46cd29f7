"""The contract is in the repository (docs/contract.md) and every pointer to it names a section it has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "docs" / "contract.md"
SEARCHED = ("gandiag", "reference_models", "tests", "benchmarks", "README.md", "pyproject.toml", "Makefile")
OLD_NAME = "CONTRACT" + ".md"  # the file outside the repository that texts used to point to


def _texts() -> dict[Path, str]:
    files: list[Path] = []
    for name in SEARCHED:
        path = ROOT / name
        files += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".md", ".toml")) if path.is_dir() else [path]
    return {p: p.read_text(encoding="utf-8", errors="replace") for p in files if p.is_file()}


def test_no_text_points_outside_the_repository():
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p, text in _texts().items()
                 for n, line in enumerate(text.splitlines(), 1) if OLD_NAME in line]
    assert not offenders, f"point to docs/contract.md instead: {offenders}"


def test_every_section_pointed_to_exists():
    sections = {int(m) for m in re.findall(r"^## (\d+)\. ", CONTRACT.read_text(), flags=re.M)}
    assert sections == set(range(1, 9))
    cited = re.compile(r"docs/contract\.md(?:'s)?\s+sections?\s+(\d+)(?:\s*(?:,|and)\s*(\d+))?")
    missing = [f"{p.relative_to(ROOT)}: section {s}" for p, text in _texts().items()
               for m in cited.finditer(" ".join(text.split())) for s in m.groups() if s and int(s) not in sections]
    assert not missing
    assert sum(len(cited.findall(" ".join(t.split()))) for t in _texts().values()) > 20  # the pattern does match
