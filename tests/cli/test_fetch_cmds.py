"""`cards fetch`, in process and as real processes (two at once, and on a terminal)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assetcards.checkpoints.download import cache_entry
from assetcards.cli.main import main
from assetcards.locations import Locations

from ..http_server import FileServer, serve

DATA = bytes(range(256)) * 400
DIGEST = hashlib.sha256(DATA).hexdigest()
CARDS = """\
name: tiny
model_family: mlp
checkpoint: {uri}
checkpoint_sha256: {digest}
---
name: gone
model_family: mlp
checkpoint: {missing}
"""


@pytest.fixture
def server(locations: Locations) -> Iterator[FileServer]:
    with serve({"/tiny.pt": DATA}) as running:
        locations.system.mkdir(parents=True)
        (locations.system / "tiny.yaml").write_text(CARDS.format(
            uri=running.url("/tiny.pt"), digest=DIGEST, missing=running.url("/gone.pt")))
        yield running


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["fetch", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fetch_prints_the_path(server: FileServer, locations: Locations,
                               capsys: pytest.CaptureFixture[str]) -> None:
    uri = server.url("/tiny.pt")
    path = cache_entry(locations, uri) / "tiny.pt"
    assert run(capsys, "tiny") == (0, f"{path}\n", f"Downloading {uri}.\n")
    assert path.read_bytes() == DATA
    assert run(capsys, "--offline", "tiny") == (0, f"{path}\n", "")
    assert server.count() == 1


def test_offline_says_what_is_missing(server: FileServer, locations: Locations,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    uri = server.url("/tiny.pt")
    expected = (1, "", "error: Cannot fetch the checkpoint of the card 'tiny': offline mode is "
                f"on (FAIRSEQ2_OFFLINE=1 or --offline) and the cache has no copy of {uri}; "
                f"cache entry: {cache_entry(locations, uri)}.\n")
    assert run(capsys, "--offline", "tiny") == expected
    monkeypatch.setenv("FAIRSEQ2_OFFLINE", "1")
    assert run(capsys, "tiny") == expected
    assert server.count() == 0


def test_errors_name_the_card_and_the_uri(server: FileServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "gone") == (1, "", (
        f"Downloading {server.url('/gone.pt')}.\nerror: Cannot fetch the checkpoint of the "
        f"card 'gone' from {server.url('/gone.pt')}: HTTP 404 Not Found.\n"))


def test_json_force_and_verify(server: FileServer, locations: Locations,
                               capsys: pytest.CaptureFixture[str]) -> None:
    uri = server.url("/tiny.pt")
    path = cache_entry(locations, uri) / "tiny.pt"
    code, out, _ = run(capsys, "--json", "tiny")
    assert code == 0 and json.loads(out) == [{
        "name": "tiny", "uri": uri, "path": str(path), "files": [str(path)], "cached": True,
        "downloaded": True}]
    path.write_bytes(b"y" * len(DATA))
    code, out, err = run(capsys, "--verify", "tiny")
    assert (code, out) == (0, f"{path}\n")
    assert err.startswith(f"The cached {path} does not match: its SHA-256 is ")
    assert path.read_bytes() == DATA
    assert run(capsys, "--force", "--offline", "tiny") == (1, "", (
        f"error: Cannot fetch the checkpoint of the card 'tiny' from {uri}: a forced download "
        "is impossible in offline mode.\n"))
    assert run(capsys, "--force", "tiny")[0] == 0
    assert server.count() == 3


# -- real processes -------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "env", "code", "message"), [
    (["--timeout", "nan"], {}, 2, "Error: Invalid value for '--timeout': 'nan' is not "
                                  "a number of seconds from 0 (excluded) to 86400 (included)\n"),
    (["--lock-timeout", "inf"], {}, 2, "Error: Invalid value for '--lock-timeout': 'inf' is "
                                       "not a number of seconds from 0 (included) to 86400 (included)\n"),
    ([], {"FAIRSEQ2_DOWNLOAD_TIMEOUT": "nan"}, 1,
     "error: FAIRSEQ2_DOWNLOAD_TIMEOUT must be a number of seconds from 0 (excluded) to 86400 (included), not 'nan'.\n"),
    ([], {"ASSETCARDS_MAX_DOWNLOAD_BYTES": "lots"}, 1,
     "error: ASSETCARDS_MAX_DOWNLOAD_BYTES must be a whole number of bytes from 1 (included) "
     "to 1125899906842624 (included), not 'lots'.\n"),
])
def test_bad_settings_are_named(server: FileServer, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch, args: list[str],
                                env: dict[str, str], code: int, message: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run(capsys, "tiny", *args)
    assert result[0] == code and result[2].endswith(message) and server.count() == 0


def cards_process(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assetcards.cli.main", "fetch", *args],
                            text=True, stdout=subprocess.PIPE, **kwargs)


def test_two_processes_download_once_and_the_second_says_it_waits(
        server: FileServer, locations: Locations) -> None:
    gate = server.plan.gate = threading.Event()
    watchdog = threading.Timer(30, gate.set)  # never hang the suite, whatever happens
    watchdog.start()
    first = cards_process("--no-progress", "tiny", stderr=subprocess.PIPE)
    while server.count() == 0 and first.poll() is None:
        gate.wait(0.02)  # until the first process holds the lock and is downloading
    second = cards_process("--no-progress", "tiny", stderr=subprocess.PIPE)
    assert second.stderr is not None
    waiting = second.stderr.readline()
    gate.set()
    watchdog.cancel()
    out1, err1 = first.communicate(timeout=30)
    out2, err2 = second.communicate(timeout=30)
    entry = cache_entry(locations, server.url("/tiny.pt"))
    assert waiting.startswith(f"Waiting for process {first.pid} on ")
    assert waiting.endswith(f"which is fetching {server.url('/tiny.pt')} "
                            f"(lock {entry / '.lock'}).\n")
    assert (first.returncode, second.returncode) == (0, 0)
    assert out1 == out2 == f"{entry / 'tiny.pt'}\n"
    assert (err1, err2) == (f"Downloading {server.url('/tiny.pt')}.\n", "")
    assert server.count() == 1
    assert (entry / "tiny.pt").read_bytes() == DATA


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run `cards fetch ARGS` with stderr on a pseudo-terminal: stdout and the terminal text."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = cards_process(*args, stderr=follower, stdin=subprocess.DEVNULL,
                         env={**os.environ, **(env or {})})
    os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = proc.communicate(timeout=60)
    reader.join(10)
    os.close(leader)
    return out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_when_wanted(server: FileServer,
                                                         locations: Locations) -> None:
    _, shown = on_a_terminal("tiny")
    assert "tiny.pt:   0%|" in shown and "B/s]" in shown
    _, hidden = on_a_terminal("--no-progress", "--force", "tiny")
    assert "%|" not in hidden and "Downloading" in hidden
    _, hidden = on_a_terminal("--force", "tiny", env={"FAIRSEQ2_NO_PROGRESS": "1"})
    assert "%|" not in hidden and "Downloading" in hidden
    assert server.count() == 3
