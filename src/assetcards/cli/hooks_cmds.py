"""`cards hooks install`: the git hooks that validate cards."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..checks import targets as checks
from ..git import is_bare_repo


@click.group("hooks")
def hooks_group() -> None:
    """Git hooks that validate cards."""


@hooks_group.command("install")
@click.option("--repo", "repo_path", type=click.Path(path_type=Path, file_okay=False),
              default=".", show_default=True, help="The repository to install into.")
@click.option("--hook", "names", multiple=True, type=click.Choice(checks.HOOK_NAMES),
              help="Which hook (default: pre-commit, or pre-receive in a bare repository).")
@click.option("--force", is_flag=True, help="Replace a hook that is not ours (kept as .legacy).")
def install_cmd(repo_path: Path, names: tuple[str, ...], force: bool) -> None:
    """Install the card-checking git hooks into a repository."""
    if not names:
        names = ("pre-receive",) if is_bare_repo(repo_path) else ("pre-commit",)
    for name in names:
        path = checks.install_hook(repo_path, name, sys.executable, force)
        click.echo(f"installed {name} hook: {path}")
