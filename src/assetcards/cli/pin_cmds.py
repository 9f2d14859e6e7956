"""`cards pin|unpin|lock`: holding stores at a revision, and lock files of every pin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..sources import lockfile
from ..sources.gitstore import list_stores
from ..stores.ops import pin_store, unpin_store
from .common import locations, lock_timeout_option, notify, scope_of

scope_options = [
    click.option("--system", is_flag=True, help="The store in the system root."),
    click.option("--user", is_flag=True, help="The store in the user root."),
]


def _with_scope(func: Any) -> Any:
    for option in reversed(scope_options):
        func = option(func)
    return func


@click.command("pin")
@click.argument("name")
@click.argument("rev")
@_with_scope
@lock_timeout_option
def pin_cmd(name: str, rev: str, system: bool, user: bool, lock_timeout: float) -> None:
    """Hold store NAME at REV (a tag, a branch or a commit id); sync leaves it there."""
    store = pin_store(locations(), name, rev, scope=scope_of(system, user),
                      lock_timeout=lock_timeout, notify=notify)
    click.echo(f"Pinned store {store.name} at {store.state.commit} ({rev}); `cards unpin "
               f"{store.name}` lets sync move it again.")


@click.command("unpin")
@click.argument("name")
@_with_scope
@lock_timeout_option
def unpin_cmd(name: str, system: bool, user: bool, lock_timeout: float) -> None:
    """Let `cards sync` move store NAME again."""
    store = unpin_store(locations(), name, scope=scope_of(system, user),
                        lock_timeout=lock_timeout, notify=notify)
    click.echo(f"Unpinned store {store.name}; it stays at {store.state.commit[:12]} until the "
               "next sync.")


@click.command("lock")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path(lockfile.DEFAULT_LOCKFILE), show_default=True,
              help="Where to write the lock file.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Do not write: exit 1, listing the differences, if the pins differ from "
                   "this lock file.")
@click.pass_context
def lock_cmd(ctx: click.Context, output: Path, check_file: Path | None) -> None:
    """Write a lock file pinning every store (URL, ref, commit), or check one."""
    current = lockfile.entries_of(list_stores(locations()))
    if check_file is not None:
        diffs = lockfile.differences(lockfile.read(check_file), current)
        if diffs:
            click.echo(f"The stores differ from {check_file}:", err=True)
            for line in diffs:
                click.echo(f"  {line}", err=True)
            click.echo(f"Run `cards sync --lockfile {check_file}` to restore them.", err=True)
            ctx.exit(1)
        click.echo(f"The stores match {check_file}.")
        return
    lockfile.write(output, current)
    click.echo(f"Wrote {output} ({len(current)} store(s)).")
