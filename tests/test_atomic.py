"""Atomic writes: complete file or none, with the permissions an ordinary write would give."""

from __future__ import annotations

import os
import stat

import pytest

from gandiag.atomic import atomic_path, atomic_write_text, output_folder
from gandiag.errors import GandiagInputError


def test_atomic_write_has_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
        plain = tmp_path / "b.txt"
        plain.write_text("hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "r.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_output_folder_refuses_an_existing_file_and_names_the_option(tmp_path) -> None:
    assert output_folder(tmp_path / "new") == tmp_path / "new"  # not created, just checked
    assert not (tmp_path / "new").exists()
    assert output_folder(tmp_path) == tmp_path
    (tmp_path / "file").write_text("x")
    with pytest.raises(GandiagInputError, match=r"^--runs .*file: exists and is not a folder$"):
        output_folder(tmp_path / "file", "--runs")
