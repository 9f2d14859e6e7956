"""Hostile input, end to end through the `cards` CLI as a real process: each is refused with a
clear message and exit code 1 (2 for a usage error), never a Python traceback, and nothing
outside the store is read, written or followed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assetcards.locations import Locations
from assetcards.stores.state import StorePaths, read_state
from tests.faults.helpers import cards
from tests.gitutil import git, make_upstream
from tests.storeutil import card_upstream, model

BOMB = (b"name: bomb\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(b"%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n"
                   % ((bytes([c]),) * 2 + (bytes([c - 1]),) * 10) for c in range(98, 106)))
DEEP = b"name: deep\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n"
DEEP_BLOCK = b"name: deep\n" + b"".join(b"  " * i + b"k%d:\n" % i for i in range(300))

# file content -> the problem `cards validate` and `cards store add` must report
HOSTILE_FILES: dict[str, tuple[bytes, str]] = {
    "alias-bomb": (BOMB, "YAML aliases expand to more than 100000 nodes (an alias bomb?)"),
    "recursive-alias": (b"name: loop\nx: &x [*x]\n", "recursive YAML alias is not allowed"),
    "huge": (b"name: huge\nblob: " + b"x" * (9 * 1024 * 1024) + b"\n",
             "over the limit of 8388608"),
    "binary": (bytes(range(256)) * 8, "not a YAML text file"),
    "python-tag": (b"name: evil\nx: !!python/object/apply:os.system ['touch PWNED']\n",
                   "unsafe or unknown YAML tag '!!python/object/apply:os.system'"),
    "python-name": (b"name: evil\nx: !!python/name:os.system\n",
                    "unsafe or unknown YAML tag '!!python/name:os.system'"),
    "deep-flow": (DEEP, "nested deeper than 64 levels"),
    "deep-block": (DEEP_BLOCK, "nested deeper than 64 levels"),
    "slash-name": (b"name: ../../etc/passwd\n", "name '../../etc/passwd' is not valid"),
    "control-name": (b'name: "bad\\x1b[31mname"\n', "is not valid"),
    "newline-name": (b'name: "two\\nlines"\n', "is not valid"),
    "escaping-checkpoint": (model("escape", checkpoint="../../../../etc/passwd").encode(),
                            "'checkpoint' path '../../../../etc/passwd' leads outside the "
                            "card repository"),
    # top-level YAML tags: a document that is not a plain mapping is not a card
    "set-document": (b"--- !!set\n? name\n? x\n", "document is tagged !!set, not a mapping"),
    "empty-set-document": (b"--- !!set {}\n", "document is tagged !!set, not a mapping"),
    "omap-document": (b"--- !!omap\n- name: a\n- x: 1\n", "document is a list, not a mapping"),
    "pairs-document": (b"--- !!pairs\n- name: a\n", "document is a list, not a mapping"),
    "binary-document": (b"--- !!binary aGVsbG8=\n", "document is a scalar, not a mapping"),
    "timestamp-document": (b"--- !!timestamp 2001-01-01\n", "document is a scalar, not a mapping"),
    "binary-name": (b"name: !!binary aGVsbG8=\n", "'name' must be a string, not bytes"),
    "set-base": (b"name: a\nbase: !!set {b}\n", "'base' must be a card name, not set"),
    # values PyYAML's constructors fail on with exceptions other than YAMLError
    "impossible-date": (b"name: t\nreleased: 2024-13-45\n",
                        "'2024-13-45' is not a valid !!timestamp value; quote it"),
    "empty-int": (b"name: t\nx: [1, {y: !!int }]\n", "'' is not a valid !!int value"),
    "empty-timestamp": (b"name: !!timestamp \n", "'' is not a valid !!timestamp value"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_FILES))
def test_hostile_card_file(kind: str, tmp_path: Path, locations: Locations) -> None:
    data, problem = HOSTILE_FILES[kind]
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "card.yaml").write_bytes(data)
    checked = cards("validate", "--no-tracked", "--json", str(loose / "card.yaml"))
    assert checked.returncode == 1, checked.stdout
    assert problem in checked.stdout
    bare, _ = make_upstream(tmp_path, {"cards/card.yaml": data, "cards/ok.yaml": model("fine")})
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "has invalid cards; not pinned" in added.stderr and problem in added.stderr
    assert read_state(StorePaths(locations.user, "team")) is None
    assert not (locations.user / "team").exists()
    assert not Path("PWNED").exists() and not (tmp_path / "PWNED").exists()


def test_hostile_loose_cards_are_listed_as_errors(tmp_path: Path, locations: Locations) -> None:
    locations.user.mkdir(parents=True)
    for kind, (data, _) in HOSTILE_FILES.items():
        (locations.user / f"{kind}.yaml").write_bytes(data)
    (locations.user / "ok.yaml").write_text(model("fine"))
    listed = cards("list", "--scope", "user", "--json")
    assert listed.returncode == 1
    entries = [e for lst in json.loads(listed.stdout) for e in lst["cards"]]
    problems = [p["message"] for lst in json.loads(listed.stdout) for p in lst["problems"]]
    assert sorted(e["name"] for e in entries if not e["error"]) == ["escape", "fine"]
    for kind, (_, problem) in HOSTILE_FILES.items():
        if kind not in ("escaping-checkpoint", "set-base"):  # read; validation refuses them
            assert any(problem in p for p in problems), kind
    assert cards("show", "fine").returncode == 0


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "-rf", ".hidden", "a..b", "x\ny",
                                  "a\x1bb", "", "a" * 101])
def test_hostile_store_names(name: str, tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    result = cards("store", "add", "--", name, str(bare))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: store name {name!r} is not allowed")
    assert not any(locations.user.glob("*")) or not list(
        (locations.user / ".assetcards" / "stores").glob("*.json"))
    for args in (["sync", "--", name], ["pin", "--", name, "HEAD"], ["store", "remove", "--", name]):
        other = cards(*args)
        assert other.returncode == 1 and "Traceback" not in other.stderr, args


@pytest.mark.parametrize("url", ["ext::sh -c touch% PWNED", "fd::3", "-oProxyCommand=touch PWNED",
                                 "--upload-pack=touch PWNED", "EXT::sh", "x::y/z",
                                 "javascript://x", "file:///tmp/x\n--upload-pack=y", " file:///x"])
def test_hostile_urls(url: str, tmp_path: Path, locations: Locations) -> None:
    os.chdir(tmp_path)
    result = cards("store", "add", "--", "team", url)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(f"error: URL {url!r}") or result.stderr.startswith(
        "error: URL scheme")
    assert not (tmp_path / "PWNED").exists()
    assert read_state(StorePaths(locations.user, "team")) is None


@pytest.mark.parametrize("ref", ["--upload-pack=touch PWNED", "-x", "main..other", "a b",
                                 "refs/heads/../x", "main.lock", "@{-1}", "x:y"])
def test_option_like_and_invalid_refs(ref: str, tmp_path: Path, locations: Locations) -> None:
    os.chdir(tmp_path)
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    result = cards("store", "add", "team", str(bare), f"--ref={ref}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {ref!r} is not a valid git ref name")
    assert not (tmp_path / "PWNED").exists()
    assert cards("store", "add", "team", str(bare)).returncode == 0
    for args in (["pin", "team", ref], ["show", "alpha", f"--rev={ref}"],
                 ["log", "team", f"--rev={ref}"]):
        other = cards(*args)
        assert other.returncode in (1, 2), (args, other.stdout)
        assert other.stderr.startswith(("error:", "Usage:")), (args, other.stderr)
    assert not (tmp_path / "PWNED").exists()


def test_symlink_in_a_store_is_never_materialized_or_followed(
        tmp_path: Path, locations: Locations) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: stolen\ndescription: read through a symlink\n")
    work = tmp_path / "work"
    bare, work = make_upstream(tmp_path, {"cards/ok.yaml": model("fine")})
    (work / "cards" / "link.yaml").symlink_to(secret)
    (work / "cards" / "dir").symlink_to(tmp_path)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "symlinks")
    git(work, "push", "-q", "origin", "main")
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 0, added.stderr
    checkout = locations.user / "team"
    assert not any(p.is_symlink() for p in checkout.rglob("*"))
    assert sorted(p.name for p in (checkout / "cards").iterdir()) == ["ok.yaml"]
    listed = json.loads(cards("list", "--json").stdout)
    names = [e["name"] for lst in listed for e in lst["cards"]]
    assert "stolen" not in names and "fine" in names
    assert cards("show", "stolen").returncode == 1


def test_fetch_never_reads_a_checkpoint_outside_the_store(tmp_path: Path,
                                                          locations: Locations) -> None:
    """A card whose relative checkpoint escapes its store: validation refuses the commit, so
    it is never pinned; and a loose card with such a path is refused by validation too."""
    (tmp_path / "outside.pt").write_bytes(b"not yours")
    card = model("escape", checkpoint="../../../outside.pt") + "---\n" + "name: nested\nbase: escape\n"
    bare, _ = card_upstream(tmp_path, {"m.yaml": card})
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "'checkpoint' path '../../../outside.pt' leads outside the card repository" in \
        added.stderr
    locations.user.mkdir(parents=True, exist_ok=True)
    (locations.user / "m.yaml").write_text(card)  # a loose card is read unvalidated
    for name in ("escape", "nested"):
        fetched = cards("fetch", name)
        assert fetched.returncode == 1
        assert fetched.stderr.startswith("error: The card ")
        assert "'checkpoint' path '../../../outside.pt' leads outside the card repository" in \
            fetched.stderr
        assert fetched.stdout == ""
    inside = locations.user / "w.pt"
    inside.write_bytes(b"mine")
    (locations.user / "ok.yaml").write_text(model("inside", checkpoint="./w.pt"))
    assert cards("fetch", "inside").stdout.strip() == str(inside)


def test_usage_errors_exit_2() -> None:
    for args in (["sync", "--jobs", "0"], ["store", "add"], ["no-such-command"],
                 ["sync", "--system", "--user"]):
        result = cards(*args)
        assert result.returncode == 2, args
        assert "Usage:" in result.stderr or "Error:" in result.stderr


# -- file names, manifest values, environment variables, option values ------------------------

ODD_NAMES = [b"bad\xff.yaml", b"ctl\x1b[31m.yaml", b"new\nline.yaml", b"tab\t.yaml",
             b"back\\slash.yaml", b"del\x7f.yaml"]


def _raw_control(text: str) -> bool:
    return any(ord(c) < 32 and c not in "\n" or ord(c) == 127 for c in text)


@pytest.mark.parametrize("raw", ODD_NAMES, ids=lambda b: b.decode("ascii", "backslashreplace"))
def test_odd_file_names_are_reported_escaped_never_read(raw: bytes, tmp_path: Path,
                                                        locations: Locations) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "ok.yaml").write_text(model("fine"))
    with open(os.path.join(os.fsencode(loose), raw), "wb") as handle:
        handle.write(model("odd").encode())
    checked = cards("validate", "--no-tracked", "--json", str(loose))
    assert checked.returncode == 1
    problems = json.loads(checked.stdout)["problems"]
    assert [p["code"] for p in problems] == ["bad-file-name"]
    assert not _raw_control(problems[0]["file"]) and "\\udc" not in checked.stdout
    locations.user.mkdir(parents=True)
    with open(os.path.join(os.fsencode(locations.user), raw), "wb") as handle:
        handle.write(model("odd").encode())
    (locations.user / "ok.yaml").write_text(model("fine"))
    listed = cards("list", "--scope", "user")
    assert listed.returncode == 1 and not _raw_control(listed.stdout.replace("\n", ""))
    assert cards("show", "fine").returncode == 0
    assert cards("show", "odd").returncode == 1
    bare, _ = make_upstream(tmp_path, {"cards/ok.yaml": model("fine")})
    work = tmp_path / "upstream-work"
    with open(os.path.join(os.fsencode(work / "cards"), raw), "wb") as handle:
        handle.write(model("odd").encode())
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "odd name")
    git(work, "push", "-q", "origin", "main")
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "has invalid cards; not pinned" in added.stderr
    assert read_state(StorePaths(locations.user, "team")) is None


@pytest.mark.parametrize("value", ['cards = "a\\u0000b"', 'cards = "a\\u001bb"',
                                   'cards = "/etc"', 'cards = "../x"', "cards = 5",
                                   'cards = "x/../../y"', 'against = "x"', "against = [1]",
                                   "against = [[]]", "store = 1"])
def test_hostile_manifest_values(value: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "cards").mkdir(parents=True)
    (repo / "cards" / "a.yaml").write_text(model("fine"))
    head = "" if value.startswith(("store =", "[")) else "[store]\n"
    (repo / "assetcards.toml").write_text(head + value + "\n")
    os.chdir(repo)
    checked = cards("validate", "--no-tracked")
    assert checked.returncode == 1, checked.stderr
    assert checked.stderr.startswith("error: assetcards.toml:"), checked.stderr
    assert not _raw_control(checked.stderr.replace("\n", ""))


@pytest.mark.parametrize(("variable", "value", "command"), [
    ("ASSETCARDS_GIT_TIMEOUT", "abc", ["store", "add", "s", "https://example.invalid/x.git"]),
    ("ASSETCARDS_GIT_TIMEOUT", "nan", ["store", "add", "s", "https://example.invalid/x.git"]),
    ("ASSETCARDS_GIT_TIMEOUT", "inf", ["store", "add", "s", "https://example.invalid/x.git"]),
    ("ASSETCARDS_GIT_TIMEOUT", "-1", ["store", "add", "s", "https://example.invalid/x.git"]),
    ("FAIRSEQ2_DOWNLOAD_TIMEOUT", "nan", ["fetch", "x"]),
    ("FAIRSEQ2_DOWNLOAD_TIMEOUT", "inf", ["fetch", "x"]),
    ("FAIRSEQ2_DOWNLOAD_TIMEOUT", "0", ["fetch", "x"]),
    ("FAIRSEQ2_DOWNLOAD_TIMEOUT", "abc", ["fetch", "x"]),
])
def test_bad_numeric_settings_name_the_variable(variable: str, value: str,
                                                command: list[str]) -> None:
    env = {**os.environ, variable: value}
    result = cards(*command, env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: {variable}"), result.stderr
    assert repr(value) in result.stderr
    assert cards("list", env=env).returncode == 0  # a command that does not use it works


@pytest.mark.parametrize(("target", "kind"), [("fifo", "a FIFO"), ("/dev/zero",
                                                                    "a character device"),
                                               ("dir", "a directory")])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_unread(
        tmp_path: Path, target: str, kind: str) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    if target == "dir":
        (tmp_path / "dir").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    message = f"error: {path}: lock file is {kind}, not a regular file; nothing was read"
    for args, env in ((["list"], {"ASSETCARDS_LOCKFILE": path}),
                      (["sync", "--lockfile", path], {}), (["lock", "--check", path], {})):
        result = cards(*args, env={**os.environ, **env}, timeout=30)
        if target == "dir" and args[0] != "list":  # the options take files only
            assert result.returncode == 2 and "is a directory" in result.stderr
            continue
        assert (result.returncode, result.stderr.strip()) == (1, message), args


@pytest.mark.parametrize("variable", ["FAIRSEQ2_ASSET_DIR", "FAIRSEQ2_USER_ASSET_DIR"])
@pytest.mark.parametrize("target", ["file", "fifo", "/dev/null"])
def test_a_root_that_is_not_a_directory_is_empty(tmp_path: Path, variable: str,
                                                 target: str) -> None:
    (tmp_path / "file").write_text("name: a\n")
    os.mkfifo(tmp_path / "fifo")
    path = target if target.startswith("/") else str(tmp_path / target)
    result = cards("list", "--json", env={**os.environ, variable: path}, timeout=30)
    assert result.returncode == 0, result.stderr
    assert all(listing["problems"] == [] for listing in json.loads(result.stdout))


@pytest.mark.parametrize("args", [["sync", "--jobs", "nan"], ["sync", "--jobs", "1e3"],
                                  ["sync", "--jobs", "-1"], ["log", "x", "-n", "-1"],
                                  ["log", "x", "-n", "1.5"], ["fetch", "x", "--timeout", "nan"],
                                  ["sync", "--lock-timeout", "inf"]])
def test_odd_option_values_are_usage_errors(args: list[str]) -> None:
    result = cards(*args)
    assert result.returncode == 2, (args, result.stderr)
    assert result.stderr.splitlines()[-1].startswith("Error: Invalid value for"), result.stderr
