"""`cards store add|list|remove` and `cards sync`."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

import click

from ..sources.gitstore import Store, list_stores
from ..sources.lockfile import read as read_lockfile
from ..stores.ops import add_store, remove_store
from ..stores.sync import SyncOptions, SyncResult, sync_stores, sync_to_lockfile
from .common import emit_json, json_option, locations, lock_timeout_option, notify, scope_of


@click.group("store")
def store_group() -> None:
    """Add, list and remove git stores of cards."""


@store_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--ref", help="Branch or tag to track (default: the remote's default branch).")
@click.option("--system", is_flag=True, help="Add to the system root instead of the user root.")
@lock_timeout_option
@json_option
def add_cmd(name: str, url: str, ref: str | None, system: bool, lock_timeout: float,
            as_json: bool) -> None:
    """Clone the card repository URL as store NAME and pin it to the tip of its ref.

    URL: https, ssh, git or file URL, or a local path.
    """
    progress = notify if sys.stderr.isatty() and not as_json else None
    store, added = add_store(locations(), name, url, ref, scope="system" if system else "user",
                             lock_timeout=lock_timeout, notify=notify, progress=progress)
    if as_json:
        emit_json(_store_json(store) | {"added": added})
        return
    state = store.state
    verb = "Added" if added else "Already tracked:"
    click.echo(f"{verb} store {store.name} ({store.scope}): {state.url} {state.ref} at "
               f"{state.commit[:12]}, {state.cards} card(s), in {store.paths.checkout}")


def _store_json(store: Store) -> dict[str, Any]:
    state = store.state
    return {"name": store.name, "scope": store.scope, "url": state.url, "ref": state.ref,
            "commit": state.commit, "cards": state.cards, "held": state.held,
            "synced_at": _time(state.synced_at), "path": str(store.paths.checkout)}


def _time(stamp: float) -> str | None:
    if not stamp:
        return None
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat(
        timespec="seconds")


@store_group.command("list")
@click.option("--system", is_flag=True, help="Only the system root.")
@click.option("--user", is_flag=True, help="Only the user root.")
@json_option
def list_cmd(system: bool, user: bool, as_json: bool) -> None:
    """Show every store: scope, URL, ref, pinned commit, card count, last sync."""
    stores = list_stores(locations(), scope_of(system, user))
    if as_json:
        emit_json([_store_json(s) for s in stores])
        return
    if not stores:
        click.echo("No stores. Add one with `cards store add NAME URL`.")
        return
    for s in stores:
        held = f" (held at {s.state.held})" if s.state.held else ""
        click.echo(f"{s.name:<20} {s.scope:<6} {s.state.commit[:12]} {s.state.cards:>6} cards  "
                   f"{s.state.ref:<12} {s.state.url}  synced {_time(s.state.synced_at)}{held}")


@store_group.command("remove")
@click.argument("name")
@click.option("--system", is_flag=True, help="The store in the system root.")
@click.option("--user", is_flag=True, help="The store in the user root.")
@lock_timeout_option
def remove_cmd(name: str, system: bool, user: bool, lock_timeout: float) -> None:
    """Remove store NAME: its checkout, its repository and its state."""
    store = remove_store(locations(), name, scope=scope_of(system, user),
                         lock_timeout=lock_timeout, notify=notify)
    click.echo(f"Removed store {store.name} ({store.scope}).")


@click.command("sync")
@click.argument("names", nargs=-1)
@click.option("--system", is_flag=True, help="Only stores in the system root.")
@click.option("--user", is_flag=True, help="Only stores in the user root.")
@click.option("--offline", is_flag=True, help="Do not fetch; check and repair checkouts only.")
@click.option("--verify", is_flag=True,
              help="Compare every file of each checkout with the pin (otherwise done at most "
                   "hourly; directories are compared at every sync).")
@click.option("--allow-rewrite", is_flag=True,
              help="Follow an upstream whose history was rewritten (force-pushed).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=4, show_default=True,
              help="Stores to sync at once.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--lockfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Pin every store to the commit this lock file names (cloning missing "
                   "stores).")
@lock_timeout_option
@json_option
@click.pass_context
def sync_cmd(ctx: click.Context, names: tuple[str, ...], system: bool, user: bool,
             offline: bool, verify: bool, allow_rewrite: bool, jobs: int,
             no_progress: bool,
             lockfile: Path | None, lock_timeout: float, as_json: bool) -> None:
    """Fetch every store (or NAMES), validate, and move each pin to the tip of its ref.

    Exit code 1 if any store could not be synced (unreachable, rewritten, invalid cards).
    """
    from tqdm import tqdm

    scope = scope_of(system, user)
    show_bar = not (no_progress or as_json or not sys.stderr.isatty())
    bar = tqdm(desc="sync", unit="store", file=sys.stderr, disable=not show_bar, leave=False)

    def done(result: SyncResult) -> None:
        bar.update(1)
        bar.set_postfix_str(result.store)

    options = SyncOptions(offline=offline, verify=verify, allow_rewrite=allow_rewrite,
                          lock_timeout=lock_timeout, jobs=jobs, notify=lambda m: bar.write(m, file=sys.stderr),
                          on_done=done)
    try:
        if lockfile is not None:
            if names or system or user:
                raise click.UsageError("--lockfile syncs the stores of the lock file; do not "
                                       "name stores or a scope")
            results = sync_to_lockfile(locations(), read_lockfile(lockfile), options)
        else:
            results = sync_stores(locations(), names, scope, options)
    finally:
        bar.close()
    if as_json:
        emit_json([r.to_json() for r in results])
    else:
        _report(results)
    if any(not r.ok for r in results):
        ctx.exit(1)


def _report(results: list[SyncResult]) -> None:
    if not results:
        click.echo("No stores to sync. Add one with `cards store add NAME URL`.")
    for r in results:
        old = (r.old or "")[:12]
        new = (r.new or "")[:12]
        color = "green" if r.ok else "red"
        head = click.style(f"{r.store}: {r.status}", fg=color)
        moved = f" {old} -> {new}" if r.status == "updated" else f" at {old or new}"
        click.echo(f"{head}{moved}" + (f"  ({r.message})" if r.message else ""))
        for label, names in (("added", r.added), ("changed", r.changed), ("removed", r.removed)):
            if names:
                click.echo(f"  {label}: {', '.join(names)}")
        for problem in r.problems:
            click.echo(f"  {problem.format()}")
