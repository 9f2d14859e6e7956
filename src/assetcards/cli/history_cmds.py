"""`cards log|diff`: the history of cards."""

from __future__ import annotations

from typing import Any

import click

from ..sources.gitstore import get_store, list_stores
from ..stores.history import CardChange, FieldChange, card_log, store_diff
from .common import emit_json, json_option, locations, make_store


def _format_value(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:97] + "..."


def _echo_fields(changes: list[FieldChange], indent: str = "    ") -> None:
    for f in changes:
        if f.kind == "added":
            click.secho(f"{indent}+ {f.key}: {_format_value(f.new)}", fg="green")
        elif f.kind == "removed":
            click.secho(f"{indent}- {f.key}: {_format_value(f.old)}", fg="red")
        else:
            click.echo(f"{indent}~ {f.key}: {_format_value(f.old)} -> {_format_value(f.new)}")


@click.command("log")
@click.argument("name")
@click.option("--store", "store_name", help="The store holding the card (default: the one "
              "the card comes from).")
@click.option("--rev", help="Start from this revision instead of the pin.")
@click.option("-p", "--patch", is_flag=True, help="Show the field changes of each commit.")
@click.option("-n", "--max-count", type=click.IntRange(min=0), default=0,
              help="Look at most at this many commits.")
@json_option
def log_cmd(name: str, store_name: str | None, rev: str | None, patch: bool, max_count: int,
            as_json: bool) -> None:
    """List the commits that changed card NAME: date, author, subject, commit id."""
    store = get_store(locations(), store_name) if store_name else _store_of(name)
    changes = card_log(store, name, rev, max_count)
    if as_json:
        emit_json([c.to_json() for c in changes])
        return
    for change in changes:
        _echo_change(change, patch)


def _echo_change(change: CardChange, patch: bool) -> None:
    c = change.commit
    click.echo(f"{c.oid[:12]} {c.date[:10]} {c.author:<20} {c.subject}"
               + ("" if change.kind == "changed" else f" [{change.kind}]"))
    if patch:
        _echo_fields(change.fields)


def _store_of(name: str) -> Any:
    from ..errors import AssetCardNotFoundError

    card = make_store().retrieve_card(name)
    if card.provenance.kind != "git":
        raise AssetCardNotFoundError(f"card {name!r} does not come from a git store "
                                     f"({card.provenance}); it has no history")
    return get_store(locations(), card.provenance.source, card.provenance.scope or "all")


@click.command("diff")
@click.argument("store_name", required=False)
@click.argument("old", required=False)
@click.argument("new", required=False)
@json_option
def diff_cmd(store_name: str | None, old: str | None, new: str | None, as_json: bool) -> None:
    """List cards added, removed and changed between two commits of a store.

    Default: every store, from its previous pin to its current pin (what the last sync did).
    """
    if store_name:
        stores = [get_store(locations(), store_name)]
    else:
        if old or new:
            raise click.UsageError("name the store to compare commits: cards diff STORE OLD NEW")
        stores = [s for s in list_stores(locations()) if s.state.previous_commit]
    diffs = [store_diff(s, old, new) for s in stores]
    if as_json:
        emit_json([d.to_json() for d in diffs])
        return
    if not diffs:
        click.echo("No store has a previous pin yet.")
    for d in diffs:
        click.secho(f"{d.store}: {d.old[:12]} -> {d.new[:12]}", bold=True)
        for name in d.added:
            click.secho(f"  + {name}", fg="green")
        for name in d.removed:
            click.secho(f"  - {name}", fg="red")
        for name, fields in d.changed.items():
            click.echo(f"  ~ {name}")
            _echo_fields(fields)
        if not (d.added or d.removed or d.changed):
            click.echo("  no card changed")
