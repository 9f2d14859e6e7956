"""No traceback reaches a user: an unexpected exception prints one line and writes a crash log
(exit code 3); with --json every error is JSON on standard output; option values that are not
numbers, not finite or out of range are usage errors naming the option."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..storeutil import CARDS

# A real `cards` process whose command table gained one command that fails unexpectedly.
_BOOM = """
import sys
import click
from assetcards.cli import main

@click.command("boom")
@click.option("--json", "as_json", is_flag=True)
@click.argument("rest", nargs=-1)
def boom(as_json, rest):
    raise RuntimeError("boom \\udcff " + " ".join(rest))

main.LazyGroup._load = staticmethod(lambda name, _load=main.LazyGroup._load: (
    boom if name == "boom" else _load(name)))
sys.exit(main.main(sys.argv[1:]))
"""
LINE = re.compile(r"^error: an unexpected error occurred \(RuntimeError\); details in (\S+)$")


def _boom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BOOM, "boom", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CARDS, *args], capture_output=True, text=True, timeout=60,
                            env=env)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_an_unexpected_exception_prints_one_line_and_writes_a_crash_log() -> None:
    result = _boom()
    assert result.returncode == 3
    assert result.stdout == ""
    match = LINE.match(result.stderr.strip())
    assert match is not None and result.stderr.count("\n") == 1, result.stderr
    log = Path(match.group(1))
    assert log.parent == Path(os.environ["FAIRSEQ2_CACHE_DIR"]) / "logs"
    assert log.name.startswith("crash-") and log.suffix == ".log"
    assert (log.stat().st_mode & 0o777) == 0o600
    text = log.read_text()
    assert "command: 'cards boom'" in text
    assert f"python: {sys.version.split()[0]}" in text
    assert re.search(r"^git: git version \d", text, re.M)
    for name in ("assetcards", "PyYAML", "click", "filelock", "tqdm", "tomli-w"):
        assert re.search(rf"^{name}: \S+", text, re.M), name
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom \\udcff" in text


def test_an_unexpected_exception_with_json_is_json_on_stdout() -> None:
    result = _boom("--json")
    assert result.returncode == 3
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "unexpected"
    assert Path(error["crash_log"]).is_file()
    assert error["message"] == (f"an unexpected error occurred (RuntimeError); details in "
                                f"{error['crash_log']}")


def test_a_crash_log_goes_to_the_temporary_directory_when_the_cache_is_unusable(
        tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = _boom(env={**os.environ, "FAIRSEQ2_CACHE_DIR": str(blocker / "cache")})
    assert result.returncode == 3
    match = LINE.match(result.stderr.strip())
    assert match is not None, result.stderr
    log = Path(match.group(1))
    assert log.parent.name == f"assetcards-logs-{os.getuid()}"
    assert "RuntimeError" in log.read_text()
    log.unlink()


def test_errors_with_json_keep_one_shape() -> None:
    missing = _run("show", "no_such_card", "--json")
    assert missing.returncode == 1
    error = json.loads(missing.stdout)["error"]
    assert error["kind"] == "asset-card-not-found"
    assert "no_such_card" in error["message"]
    usage = _run("sync", "--lock-timeout", "nan", "--json")
    assert usage.returncode == 2
    error = json.loads(usage.stdout)["error"]
    assert (sorted(error), error["kind"]) == (["kind", "message"], "usage")
    assert error["message"].startswith("Invalid value for '--lock-timeout': ")
    assert "'nan'" in error["message"] and "seconds" in error["message"]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "1e999", "abc", "",
                                   "86401", "0x10", "1_0e"])
@pytest.mark.parametrize("command", [["sync"], ["store", "add", "s", "https://example.com/x"],
                                     ["pin", "s", "HEAD"], ["unpin", "s"], ["fetch", "x"]])
def test_a_bad_lock_timeout_is_a_usage_error(command: list[str], value: str) -> None:
    """The wording may differ between commands; the option, the value and the exit code not."""
    result = _run(*command, "--lock-timeout", value)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: Invalid value for '--lock-timeout': "), last
    assert repr(value) in last and "seconds" in last


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e999", "x"])
def test_a_bad_network_timeout_is_a_usage_error(value: str) -> None:
    result = _run("fetch", "x", "--timeout", value)
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: Invalid value for '--timeout': "), last
    assert repr(value) in last and "seconds" in last



def test_a_crash_log_masks_credentials_in_urls() -> None:
    result = _boom("https://user:s3cret@example.com/x.git")
    match = LINE.match(result.stderr.strip())
    assert match is not None, result.stderr
    text = Path(match.group(1)).read_text()
    assert "s3cret" not in text and "user:" not in text
    assert "command: 'cards boom https://***@example.com/x.git'" in text
