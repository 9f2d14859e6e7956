"""Network faults, on 127.0.0.1 only: a host that refuses connections, a remote that accepts
and never answers (bounded by ASSETCARDS_GIT_TIMEOUT), and offline mode, which never touches
the network at all."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from assetcards.locations import Locations
from assetcards.sources.gitstore import get_store
from assetcards.stores.ops import add_store
from assetcards.stores.state import StorePaths, read_state
from tests.faults.conftest import GitDaemon, HangingServer, free_port
from tests.faults.helpers import advance, cards, expected_names, generation_upstream
from tests.http_server import serve

TIMEOUT = "2"  # seconds, for every network call of git


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "ASSETCARDS_GIT_TIMEOUT": TIMEOUT, **extra}


def _read_names(store: str) -> list[str]:
    result = cards("list", "--json")
    assert result.returncode == 0, result.stderr
    return sorted(e["name"] for lst in json.loads(result.stdout) for e in lst["cards"]
                  if e["name"].startswith(store + "_"))


def _sync(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict[str, str]],
                                                                   float]:
    started = time.monotonic()
    result = cards("sync", "--json", "--no-progress", *args, env=env or _env())
    elapsed = time.monotonic() - started
    return result.returncode, {r["store"]: r for r in json.loads(result.stdout)}, elapsed


def test_unreachable_host_on_add(tmp_path: Path, locations: Locations) -> None:
    for url in (f"git://127.0.0.1:{free_port()}/cards.git",
                f"http://127.0.0.1:{free_port()}/cards.git"):
        result = cards("store", "add", "team", url, env=_env())
        assert result.returncode == 1
        assert result.stderr.startswith("error: git ls-remote failed in ")
        assert "127.0.0.1" in result.stderr and "onnect" in result.stderr  # (c|C)onnection
        assert read_state(StorePaths(locations.user, "team")) is None
        assert not (locations.user / "team").exists()
        assert not (locations.user / ".assetcards" / "git" / "team.git").exists()


def test_unreachable_host_on_sync_keeps_the_pin_and_others_sync(
        tmp_path: Path, locations: Locations, git_daemon: GitDaemon) -> None:
    generation_upstream(tmp_path, "far")  # tmp_path/up-far.git, served by the daemon
    bare, work = generation_upstream(tmp_path, "near")
    assert cards("store", "add", "far", git_daemon.url("up-far.git")).returncode == 0
    add_store(locations, "near", str(bare))
    new = advance(work, "near", 1)
    git_daemon.stop()  # the host now refuses connections
    code, results, elapsed = _sync()
    assert code == 1
    assert results["near"]["status"] == "updated" and results["near"]["new"] == new
    far = results["far"]
    assert far["status"] == "failed"
    assert far["message"].startswith(f"cannot fetch main from {git_daemon.url('up-far.git')}: ")
    assert "Connection refused" in far["message"] and far["message"].endswith("; kept the pin")
    assert _read_names("far") == expected_names("far", 0)
    assert elapsed < 20


def test_hanging_remote_is_bounded_by_the_timeout(
        tmp_path: Path, locations: Locations, git_daemon: GitDaemon) -> None:
    generation_upstream(tmp_path, "slow")
    bare, work = generation_upstream(tmp_path, "near")
    assert cards("store", "add", "slow", git_daemon.url("up-slow.git")).returncode == 0
    add_store(locations, "near", str(bare))
    pinned = get_store(locations, "slow").state.commit
    new = advance(work, "near", 1)
    git_daemon.stop()
    server = HangingServer(git_daemon.port)  # same host and port: it accepts, never answers
    try:
        code, results, elapsed = _sync()
        assert server.connections, "the sync never reached the hanging remote"
    finally:
        server.close()
    assert code == 1
    assert results["near"]["status"] == "updated" and results["near"]["new"] == new
    slow = results["slow"]
    assert slow["status"] == "failed" and slow["old"] == slow["new"] == pinned
    assert f"did not finish within {TIMEOUT} s (the remote may be unreachable or hanging)" in \
        slow["message"]
    assert elapsed < 20, f"a {TIMEOUT} s timeout took {elapsed:.1f} s"
    assert _read_names("slow") == expected_names("slow", 0)
    assert cards("sync", "--no-progress", env=_env()).returncode == 1  # and again, no lock left


def test_hanging_remote_on_add(hanging_server: HangingServer, locations: Locations) -> None:
    for url in (f"git://127.0.0.1:{hanging_server.port}/cards.git",
                f"http://127.0.0.1:{hanging_server.port}/cards.git"):
        started = time.monotonic()
        result = cards("store", "add", "team", url, env=_env())
        assert time.monotonic() - started < 20
        assert result.returncode == 1
        assert f"did not finish within {TIMEOUT} s" in result.stderr
        assert read_state(StorePaths(locations.user, "team")) is None
    assert len(hanging_server.connections) >= 2


def test_offline_mode_never_touches_the_network(
        tmp_path: Path, locations: Locations, git_daemon: GitDaemon) -> None:
    generation_upstream(tmp_path, "team")
    assert cards("store", "add", "team", git_daemon.url("up-team.git")).returncode == 0
    git_daemon.stop()
    hanging = HangingServer(git_daemon.port)
    try:
        started = time.monotonic()
        # a long timeout: had offline mode touched the hanging remote, this took a minute
        result = cards("sync", "--offline", "--json", env=_env(ASSETCARDS_GIT_TIMEOUT="60"))
        assert time.monotonic() - started < 10
        _offline_checks(tmp_path, locations, result)
        assert not hanging.connections
    finally:
        hanging.close()


def _offline_checks(tmp_path: Path, locations: Locations,
                    result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0
    [entry] = json.loads(result.stdout)
    assert entry["status"] == "offline" and entry["message"] == "offline: kept the pinned commit"
    assert _read_names("team") == expected_names("team", 0)
    # checkpoints: offline is the cache or a clear error naming what is missing
    with serve({"/w.pt": b"weights" * 100}) as server:
        (locations.user / "ckpt.yaml").parent.mkdir(parents=True, exist_ok=True)
        (locations.user / "ckpt.yaml").write_text(
            "name: ckpt\nmodel_family: llama\nmodel_arch: tiny\n"
            f"checkpoint: {server.url('/w.pt')}\n")
        missing = cards("fetch", "ckpt", "--offline")
        assert missing.returncode == 1
        assert "offline mode is on" in missing.stderr and server.url("/w.pt") in missing.stderr
        missing_env = cards("fetch", "ckpt", env=dict(os.environ, FAIRSEQ2_OFFLINE="1"))
        assert missing_env.returncode == 1 and "offline mode is on" in missing_env.stderr
        assert server.count() == 0
        assert cards("fetch", "ckpt").returncode == 0
        assert server.count() == 1
        cached = cards("fetch", "ckpt", "--offline")
        assert cached.returncode == 0 and server.count() == 1
