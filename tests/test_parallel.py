"""Parsing on two cores gives exactly what parsing on one gives."""

from __future__ import annotations

import os
import threading

import pytest

from assetcards import parallel
from assetcards.parse import parse_file

BLOBS = [(f"cards/c{i}.yaml", f"name: c{i}\nx: {i}\nnested: {{a: [1, 2]}}\n".encode())
         for i in range(40)] + [("cards/bad.yaml", b"name: [\n"), ("cards/bin.yaml", b"\x00\x01")]


def test_two_cores_give_what_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_FILES", 4)
    result = parallel.parse_blobs(BLOBS)
    assert result == [parse_file(data, path) for path, data in BLOBS]
    assert [p.file for p in result] == [path for path, _ in BLOBS]
    with pytest.raises(ChildProcessError):  # the child was waited for: none is left
        os.waitpid(-1, os.WNOHANG)


def test_a_threaded_process_does_not_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_FILES", 4)
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(parallel._usable()))
    thread.start()
    thread.join()
    assert seen == [False]

