"""`cards validate`, `cards new` and `cards hooks install` as real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO_ROOT
from ..gitutil import git, make_repo, make_upstream

CARDS = shutil.which("cards") or str(Path(sys.executable).parent / "cards")
BAD = "name: b\nbase: nope\n"


def cards(cwd: Path, *args: str, env: dict[str, str] | None = None,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CARDS, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_validate_the_project_store() -> None:
    result = cards(REPO_ROOT, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith("ok: ")


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    make_repo(tmp_path, {"cards/a.yaml": BAD, "cards/b.yaml": "name: [\n"})
    result = cards(tmp_path, "validate")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "cards/a.yaml:2:1: b: base card 'nope' does not exist here or in any tracked store",
        "cards/b.yaml:2:1: YAML syntax error: did not find expected node content (while "
        "parsing a flow node)"]
    assert result.stderr == "2 problems in 1 card in 2 files\n"


def test_validate_paths_relative_to_the_current_directory(tmp_path: Path) -> None:
    make_repo(tmp_path, {"cards/x/a.yaml": BAD})
    result = cards(tmp_path / "cards", "validate", "x")
    assert result.stdout.startswith("x/a.yaml:2:1: b: ")


def test_validate_json_and_github_annotations(tmp_path: Path) -> None:
    make_repo(tmp_path, {"cards/a.yaml": BAD})
    result = cards(tmp_path, "validate", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["problems"][0]["code"] == "missing-base"
    result = cards(tmp_path, "validate", env={"GITHUB_ACTIONS": "true"})
    assert result.stdout == ("::error file=cards/a.yaml,line=2,col=1,title=card b::base card "
                             "'nope' does not exist here or in any tracked store\n")


def test_validate_staged_rev_and_against(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"cards/a.yaml": "name: a\n"})
    other = make_repo(tmp_path / "o", {"cards/o.yaml": "name: a\n"})
    assert cards(repo, "validate", "--rev", "HEAD").returncode == 0
    result = cards(repo, "validate", "--rev", "HEAD", "--against", str(other))
    assert result.returncode == 1
    assert f"also defined in {other}: cards/o.yaml:1" in result.stdout
    (repo / "cards" / "b.yaml").write_text(BAD)
    assert cards(repo, "validate", "--staged").returncode == 0
    git(repo, "add", "cards/b.yaml")
    assert cards(repo, "validate", "--staged").returncode == 1


def test_usage_and_user_errors(tmp_path: Path) -> None:
    make_repo(tmp_path)
    result = cards(tmp_path, "validate", "--staged", "--rev", "HEAD")
    assert result.returncode == 2 and "not several of them" in result.stderr
    result = cards(tmp_path, "validate", "nope.yaml")
    assert (result.returncode, result.stderr) == (1, "error: nope.yaml: no such file or "
                                                     "directory\n")
    result = cards(tmp_path, "validate", "--against", "ext::sh -c id")
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_new_writes_a_card_that_passes_once_filled_in(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "cards", tmp_path / "cards")
    shutil.copy(REPO_ROOT / "assetcards.toml", tmp_path)
    result = cards(tmp_path, "new", "llama3_1_8b", "--base", "llama3")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "cards" / "llama" / "llama3_1_8b.yaml"
    assert result.stdout == "wrote cards/llama/llama3_1_8b.yaml\n"
    check = cards(tmp_path, "validate")
    assert check.stdout.splitlines() == [
        "cards/llama/llama3_1_8b.yaml:3:1: llama3_1_8b: field 'model_arch' is a placeholder; "
        "fill it in",
        "cards/llama/llama3_1_8b.yaml:4:1: llama3_1_8b: field 'checkpoint' is a placeholder; "
        "fill it in",
        "cards/llama/llama3_1_8b.yaml:5:1: llama3_1_8b: field 'description' is a placeholder; "
        "fill it in"]
    path.write_text(path.read_text().replace("model_arch: TODO", "model_arch: llama3_1_8b")
                    .replace("checkpoint: TODO", "checkpoint: https://example.com/w.pt")
                    .replace("'TODO: one line about this card'", "Llama 3.1 8B"))
    assert cards(tmp_path, "validate").returncode == 0
    again = cards(tmp_path, "new", "llama3_1_8b", "--base", "llama3")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_hooks_install_refuses_a_foreign_hook(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    result = cards(tmp_path, "hooks", "install", "--repo", str(repo))
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert result.returncode == 0 and os.access(hook, os.X_OK)
    assert sys.executable in hook.read_text()
    hook.write_text("#!/bin/sh\necho mine\n")
    result = cards(tmp_path, "hooks", "install", "--repo", str(repo))
    assert result.returncode == 1 and "is not an assetcards hook; use --force" in result.stderr
    assert cards(tmp_path, "hooks", "install", "--repo", str(repo), "--force").returncode == 0
    assert (repo / ".git" / "hooks" / "pre-commit.legacy").read_text() == "#!/bin/sh\necho mine\n"


def test_names_are_checked_against_tracked_stores_but_not_a_checkout_of_them(
        tmp_path: Path) -> None:
    bare, work = make_upstream(tmp_path, {"cards/s.yaml": "name: shared\n"})
    added = cards(tmp_path, "store", "add", "team", f"file://{bare}")
    assert added.returncode == 0, added.stderr
    ok = cards(work, "validate")  # a clone of the tracked store: not its own duplicate
    assert ok.returncode == 0, ok.stdout + ok.stderr
    other = make_repo(tmp_path / "other", {"cards/x.yaml": "name: shared\n"})
    result = cards(other, "validate")
    assert result.stdout == ("cards/x.yaml:1:1: shared: duplicate card name 'shared': also "
                             "defined in team: cards/s.yaml:1\n")
    assert cards(other, "validate", "--no-tracked").returncode == 0
