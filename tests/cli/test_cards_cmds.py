"""`cards list`, `cards show`, `--version`, `--help` and exit codes.

The cards a fairseq2 installation bundles are part of the default set: here a stand-in fairseq2
(tests/fs2site.py, never imported) bundles this project's example cards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assetcards import __version__
from assetcards.cli.main import COMMANDS, main
from assetcards.locations import Locations
from tests import fs2site

CARDS = Path(sys.executable).parent / "cards"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_exe(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    return subprocess.run([str(CARDS), *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture
def roots(locations: Locations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Locations:
    fs2site.with_example_cards(tmp_path, monkeypatch)
    write(locations.system / "team.yaml", """
        name: team_model
        base: llama3_8b
        description: Our fine-tune
        checkpoint: ckpt/team.pt
        ---
        name: team_tok
        tokenizer_family: llama
        tokenizer: tok.model
        description: Our tokenizer
        ---
        name: team_data
        dataset_family: generic_instruction
        description: Our data
        ---
        name: team_model@gpu
        batch: 64
        """)
    write(locations.user / "mine.yaml", """
        name: team_model@user
        description: My fine-tune
        ---
        name: mine
        model_family: llama
        model_arch: llama3_8b
        checkpoint: https://example.com/mine.pt
        """)
    return locations


# -- cards list ------------------------------------------------------------------------------


def test_list_groups_cards_by_source(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, err = run(capsys, "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"directory {roots.user} (user)"
    assert lines[1].split() == ["mine", "model"]
    assert lines[2] == f"directory {roots.system} (system)"
    assert lines[3].split() == ["team_data", "dataset", "Our", "data"]
    assert lines[4].split() == ["team_model", "model", "My", "fine-tune", "[overridden", "by",
                                "team_model@gpu,", "team_model@user]"]
    assert lines[5].split() == ["team_tok", "tokenizer", "Our", "tokenizer"]
    assert lines[6] == "package fairseq2.assets.cards (system)"
    assert any(line.split()[:2] == ["llama3_8b", "model"] for line in lines[7:])
    assert any(line.split()[:2] == ["flores200", "dataset"] for line in lines[7:])
    assert "@" not in "".join(line.split()[0] for line in lines if line.startswith("  "))


def test_list_scope_and_kind(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, _ = run(capsys, "list", "--scope", "user")
    assert code == 0
    assert out.splitlines() == [f"directory {roots.user} (user)",
                                "  mine                             model"]
    code, out, _ = run(capsys, "list", "--scope", "system", "--kind", "tokenizer")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert names == ["team_tok", "llama3_tokenizer"]
    assert "(user)" not in out
    code, out, _ = run(capsys, "list", "--kind", "dataset")
    names = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert sorted(names) == ["flores200", "librispeech_asr", "team_data"]


def test_list_json(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [(s["scope"], s["source"]) for s in data] == [
        ("user", f"directory {roots.user}"), ("system", f"directory {roots.system}"),
        ("system", "package fairseq2.assets.cards")]
    team = {c["name"]: c for c in data[1]["cards"]}["team_model"]
    assert team == {"name": "team_model", "kind": "model", "description": "My fine-tune",
                    "overridden_by": ["team_model@gpu", "team_model@user"], "error": None}
    assert all(s["problems"] == [] for s in data)


def test_list_shows_a_broken_card_as_an_error_and_the_good_ones(
        capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    write(roots.system / "broken.yaml", "name: broken_base\nbase: nowhere\n")
    write(roots.system / "syntax.yaml", "name: [\n")
    write(roots.user / "dup.yaml", "name: team_tok\ntokenizer_family: other\n")
    code, out, err = run(capsys, "list")
    assert code == 1
    assert "Traceback" not in out + err
    lines = out.splitlines()
    assert any(line.split()[:2] == ["mine", "model"] for line in lines)
    assert any(line.split()[:2] == ["team_model", "model"] for line in lines)
    assert any(line.split()[:2] == ["llama3_8b", "model"] for line in lines)
    broken = next(line for line in lines if line.split()[0] == "broken_base")
    assert broken.split(None, 1)[1] == (
        f"error: The card 'broken_base' (directory {roots.system}: {roots.system}/broken.yaml:1) "
        "has base 'nowhere', which was not found: No card named 'nowhere'. (1 problem(s) in "
        "card files may hide it; run `cards list` to see them.)")
    dup = [line for line in lines if line.split()[0] == "team_tok"]
    assert len(dup) == 2 and all("error: " in line and "duplicate card name 'team_tok'" in line
                                 for line in dup)
    assert ("  error: syntax.yaml:2:1: YAML syntax error: did not find expected node content "
            "(while parsing a flow node)") in lines
    data = json.loads(run(capsys, "list", "--json")[1])
    problems = [p for s in data for p in s["problems"]]
    assert [(p["file"], p["line"], p["col"], p["code"]) for p in problems] == [
        ("syntax.yaml", 2, 1, "syntax")]


def test_list_shows_an_override_of_no_card(capsys: pytest.CaptureFixture[str],
                                           roots: Locations) -> None:
    write(roots.user / "typo.yaml", "name: team_modle@user\nbatch: 2\n")
    code, out, _ = run(capsys, "list", "--scope", "user")
    assert code == 1
    line = next(line for line in out.splitlines() if "team_modle" in line)
    assert line.split(None, 1) == ["team_modle@user", "error: override of 'team_modle', which is "
                                   "not a card in any source; did you mean 'team_model', "
                                   "'team_tok', 'team_data'?"]


def test_list_with_no_cards(capsys: pytest.CaptureFixture[str], locations: Locations) -> None:
    code, out, _ = run(capsys, "list", "--scope", "user")
    assert code == 0
    assert out == "No cards found. Add a store with `cards store add NAME URL`.\n"


# -- cards show ------------------------------------------------------------------------------


def test_show(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, err = run(capsys, "show", "team_model")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "team_model (model)"
    fields = dict(line.split(None, 1) for line in lines[1:] if line.startswith("  "))
    assert fields["name"] == "team_model"
    assert fields["description"] == "My fine-tune"
    assert fields["model_family"] == "llama"  # from llama3, two bases up
    assert fields["checkpoint"] == "ckpt/team.pt"
    assert "base" not in fields and "batch" not in fields
    assert lines[-4:] == [
        f"from: directory {roots.system}: {roots.system}/team.yaml:1",
        "base: llama3_8b (package fairseq2.assets.cards: llama/llama3.yaml:11)",
        "base: llama3 (package fairseq2.assets.cards: llama/llama3.yaml:2)",
        f"override: directory {roots.user}: {roots.user}/mine.yaml:1",
    ]


def test_show_env(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, _ = run(capsys, "show", "team_model", "--env", "gpu")
    assert code == 0
    assert "  batch" in out
    assert f"override: directory {roots.system}: {roots.system}/team.yaml:15" in out


def test_show_json(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, _ = run(capsys, "show", "team_model", "--env", "gpu", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["name"] == "team_model" and data["kind"] == "model"
    assert data["fields"]["batch"] == 64
    assert data["fields"]["description"] == "My fine-tune"
    assert data["fields"]["tokenizer_family"] == "llama"
    assert data["provenance"] == {"kind": "directory", "source": str(roots.system),
                                  "file": str(roots.system / "team.yaml"), "line": 1,
                                  "scope": "system"}
    assert data["base_chain"] == [
        {"name": "llama3_8b", "provenance": {"kind": "package",
                                             "source": "fairseq2.assets.cards",
                                             "file": "llama/llama3.yaml", "line": 11,
                                             "scope": "system"}},
        {"name": "llama3", "provenance": {"kind": "package", "source": "fairseq2.assets.cards",
                                          "file": "llama/llama3.yaml", "line": 2,
                                          "scope": "system"}}]
    assert [o["file"] for o in data["overrides"]] == [str(roots.system / "team.yaml"),
                                                       str(roots.user / "mine.yaml")]


def test_show_scope(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, err = run(capsys, "show", "team_model", "--scope", "user")
    assert code == 1 and out == ""
    assert err == "error: No card named 'team_model' in the user scope.\n"


def test_show_unknown_card(capsys: pytest.CaptureFixture[str], roots: Locations) -> None:
    code, out, err = run(capsys, "show", "team_modle")
    assert code == 1 and out == ""
    assert err == ("error: No card named 'team_modle'; did you mean 'team_model', 'team_tok', "
                   "'team_data'?\n")


def test_show_base_cycle(capsys: pytest.CaptureFixture[str], locations: Locations) -> None:
    write(locations.system / "loop.yaml", "name: a\nbase: b\n---\nname: b\nbase: a\n")
    code, _, err = run(capsys, "show", "a")
    assert (code, err) == (1, "error: The base chain of the card 'a' loops: a -> b -> a.\n")


# -- the executable, version, help, exit codes ---------------------------------------------------


def test_version() -> None:
    proc = run_exe("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"cards, version {__version__}\n",
                                                           "")


@pytest.mark.parametrize("command", ["", *sorted(COMMANDS)])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    code, out, err = run(capsys, *args)
    if command and "Usage:" not in out:  # a command whose module is not there yet
        pytest.skip(f"cards {command} is not available")
    assert code == 0, err
    assert out.startswith(f"Usage: cards {command}".rstrip() + " ")
    assert run(capsys, *(a.replace("--help", "-h") for a in args))[0] == 0


def test_list_and_show_help_describe_their_options(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "list", "--help")[1]
    for option in ("--system", "--user", "--kind", "--json"):
        assert option in out
    assert "--scope" not in out  # deprecated, hidden; still accepted
    out = run(capsys, "show", "--help")[1]
    for option in ("NAME", "--env", "--system", "--user", "--json"):
        assert option in out


def test_list_and_show_take_system_and_user_like_every_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["list"], ["show", "llama3_8b"]):
        assert run(capsys, *command, "--user", "--json")[1] == run(
            capsys, *command, "--scope", "user", "--json")[1]
        assert run(capsys, *command, "--system", "--json")[1] == run(
            capsys, *command, "--scope", "system", "--json")[1]
        code, _, err = run(capsys, *command, "--system", "--user")
        assert code == 2 and "--system and --user exclude each other" in err
        code, _, err = run(capsys, *command, "--scope", "user", "--system")
        assert code == 2 and "--scope and --system/--user exclude each other" in err


@pytest.mark.parametrize(("args", "message"), [
    (["show"], "Error: Missing argument 'NAME'."),
    (["list", "--scope", "nope"], "Error: Invalid value for '--scope': 'nope' is not one of "
     "'all', 'system', 'user'."),
    (["list", "--kind", "nope"], "Error: Invalid value for '--kind': 'nope' is not one of"),
    (["list", "--nope"], "Error: No such option '--nope'."),
    (["nope"], "Error: No such command 'nope'."),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str],
                             message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_executable_exit_codes_and_no_traceback(roots: Locations) -> None:
    ok = run_exe("show", "team_model", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == "team_model"
    missing = run_exe("show", "nope_nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error: No card named 'nope_nope'.\n"
    usage = run_exe("list", "--scope", "everywhere")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    write(roots.system / "bad.yaml", "name: x\nx: !!python/object/apply:os.system ['true']\n")
    listed = run_exe("list")
    assert listed.returncode == 1, listed.stderr
    assert "team_model" in listed.stdout and "Traceback" not in listed.stdout + listed.stderr
    assert ("error: bad.yaml:2:4: unsafe or unknown YAML tag '!!python/object/apply:os.system' "
            "is not allowed in a card") in listed.stdout


def test_executable_on_a_fresh_machine_with_no_configuration(tmp_path: Path) -> None:
    """No roots, no HOME configuration: the cards fairseq2 bundles are listed and shown (and
    nothing else: assetcards' example cards are not part of the default set)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_COLOR": "1",
           "FAIRSEQ2_ASSET_DIR": str(tmp_path / "etc")}
    listed = subprocess.run([str(CARDS), "list"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert (listed.returncode, listed.stdout) == (
        0, "No cards found. Add a store with `cards store add NAME URL`.\n")
    site = fs2site.fake_fairseq2(tmp_path / "site", copy_from=fs2site.REPO_ROOT / "cards")
    env["PYTHONPATH"] = str(site)
    listed = subprocess.run([str(CARDS), "list"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("package fairseq2.assets.cards (system)\n")
    shown = subprocess.run([str(CARDS), "show", "llama3_8b_instruct"], capture_output=True,
                           text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "base: llama3_8b (package fairseq2.assets.cards: llama/llama3.yaml:11)" in shown.stdout
    assert fs2site.IMPORTED not in listed.stderr + shown.stderr
