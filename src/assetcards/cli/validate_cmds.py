"""`cards validate`."""

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
