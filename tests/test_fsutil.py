"""The one atomic-write module: whole files or none, and no temporary file left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetcards.fsutil import atomic_write_bytes, create_file


def test_create_file_writes_a_new_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.yaml"
    create_file(path, b"name: a\n")
    assert path.read_bytes() == b"name: a\n"
    assert [p.name for p in path.parent.iterdir()] == ["a.yaml"]


def test_create_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "a.yaml"
    path.write_bytes(b"mine\n")
    with pytest.raises(FileExistsError):
        create_file(path, b"theirs\n")
    assert path.read_bytes() == b"mine\n"
    assert [p.name for p in path.parent.iterdir()] == ["a.yaml"]


def test_atomic_write_replaces_and_sets_the_mode(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "hook"
    path.write_bytes(b"old\n")
    atomic_write_bytes(path, b"new\n", mode=0o755)
    assert path.read_bytes() == b"new\n" and path.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in path.parent.iterdir()] == ["hook"]
