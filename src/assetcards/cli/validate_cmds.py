"""`cards validate`, `cards hooks install` and `cards new`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..checks import targets as checks
from ..git import is_bare_repo
from .common import json_option, locations


def _read_updates(text: str) -> list[tuple[str, str, str]]:
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--staged", is_flag=True, help="Check the cards staged in the git index.")
@click.option("--rev", metavar="REV", help="Check the cards of a commit.")
@click.option("--against", "against", multiple=True, metavar="STORE_OR_URL",
              help="Another store whose card names must not collide (a directory, a "
                   "repository or a git URL; repeatable).")
@click.option("--no-tracked", is_flag=True,
              help="Do not compare names with the stores tracked on this machine.")
@click.option("--pre-receive", is_flag=True, hidden=True,
              help="Run as a pre-receive hook: read ref updates from standard input.")
@json_option
@click.pass_context
def validate_cmd(ctx: click.Context, paths: tuple[Path, ...], staged: bool, rev: str | None,
                 against: tuple[str, ...], no_tracked: bool, pre_receive: bool,
                 as_json: bool) -> None:
    """Check card files: syntax, names, bases, checkpoints, duplicates, the store's rules.

    PATHs are files or directories of the working tree (default: the store of the current
    directory). Every problem is reported; the exit code is 1 if there is any."""
    if sum([bool(paths), staged, rev is not None, pre_receive]) > 1:
        raise click.UsageError("give PATHs, --staged or --rev, not several of them")
    locs = locations()
    cwd = Path.cwd()
    if pre_receive:
        root = cwd if is_bare_repo(cwd) else checks.git_root(cwd)
        cache = checks.ParseCache.for_repo(locs)
        report = checks.check_push(root, _read_updates(sys.stdin.read()), locs, cache)
    else:
        cache = None
        if staged or rev is not None:
            root = checks.git_root(cwd) if not is_bare_repo(cwd) else cwd
            cache = checks.ParseCache.for_repo(locs)
            targets = [checks.staged_target(cwd, cache) if staged
                       else checks.rev_target(cwd, rev or "HEAD", cache)]
        else:
            targets = checks.path_targets(list(paths))
        reports = []
        for target in targets:
            others = checks.against_sets(target, against, locs, not no_tracked, cache)
            report = checks.check(target, others)
            reports.append(checks.with_display_paths(report, target.root))
        report = checks.merge_reports(reports)
    style = "json" if as_json else (
        "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    text = checks.format_report(report, style)
    if text:
        click.echo(text)
    for note in report.notes:
        click.echo(note, err=True)
    if not as_json:
        click.echo(checks.summary(report), err=True)
    if not report.ok:
        ctx.exit(1)


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


@click.command("new")
@click.argument("name")
@click.option("--base", help="The card this one inherits from.")
@click.option("--family", help="The model family (model_family), for a new model card.")
@click.option("--store", type=click.Path(path_type=Path, file_okay=False), default=".",
              show_default=True, help="The card repository to write into.")
def new_cmd(name: str, base: str | None, family: str | None, store: Path) -> None:
    """Write a new card NAME with placeholders for what it needs; fill them in, then run
    `cards validate`."""
    from ..checks.scaffold import new_card
    from ..sources.gitstore import tracked_card_sets

    others = tracked_card_sets(locations())
    path = new_card(name, store, base, family, others)
    click.echo(f"wrote {path}")
    click.echo(f"fill in every TODO, then run: cards validate {path}", err=True)
