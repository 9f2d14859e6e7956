"""`cards list` and `cards show`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..card.model import AssetCard
from ..sources.listing import list_cards
from .common import emit_json, json_option, make_store, scope_of

SCOPES = click.Choice(["all", "system", "user"])
F = TypeVar("F", bound=Callable[..., Any])


def scope_options(func: F) -> F:
    """--system/--user, as every command has them, and the older --scope (hidden, deprecated)."""
    func = click.option("--scope", "old_scope", type=SCOPES, hidden=True,
                        help="Deprecated: use --system or --user.")(func)
    func = click.option("--user", is_flag=True, help="Only the user root.")(func)
    return click.option("--system", is_flag=True, help="Only the system root.")(func)


def chosen_scope(system: bool, user: bool, old_scope: str | None) -> str:
    """The scope of --system/--user, or of the deprecated --scope (not both)."""
    if old_scope is not None and (system or user):
        raise click.UsageError("--scope and --system/--user exclude each other; use the latter")
    return old_scope if old_scope is not None else scope_of(system, user)


@click.command("list")
@scope_options
@click.option("--kind", type=click.Choice(["model", "tokenizer", "dataset", "other"]),
              help="Only cards of this kind.")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, system: bool, user: bool, old_scope: str | None,
             kind: str | None, as_json: bool) -> None:
    """List every card, grouped by where it comes from. Broken cards are listed as errors."""
    listings = list_cards(make_store(), chosen_scope(system, user, old_scope), kind)
    failed = any(e.error for lst in listings for e in lst.entries) or any(
        lst.problems for lst in listings)
    if as_json:
        emit_json([lst.to_json() for lst in listings])
    else:
        for listing in listings:
            click.secho(f"{listing.label} ({listing.scope})", bold=True)
            for entry in listing.entries:
                if entry.error:
                    click.echo(f"  {entry.name:<32} " + click.style("error: ", fg="red")
                               + entry.error)
                    continue
                line = f"  {entry.name:<32} {entry.kind:<10} {entry.description}".rstrip()
                if entry.overridden_by:
                    line += f"  [overridden by {', '.join(entry.overridden_by)}]"
                click.echo(line)
            if listing.same_as_above:
                click.echo(f"  ({len(listing.same_as_above)} card(s) identical to those listed "
                           "above, not repeated)")
            for problem in listing.problems:
                click.echo("  " + click.style("error: ", fg="red") + problem.format())
        if not listings:
            click.echo("No cards found. Add a store with `cards store add NAME URL`.")
    if failed:
        ctx.exit(1)


def card_to_json(card: AssetCard) -> dict[str, Any]:
    return {
        "name": card.name,
        "kind": card.kind(),
        "fields": card.fields(),
        "provenance": card.provenance.to_dict(),
        "base_chain": [{"name": c.name, "provenance": c.provenance.to_dict()}
                       for c in card.base_chain()[1:]],
        "overrides": [p.to_dict() for p in card.overrides],
    }


@click.command("show")
@click.argument("name")
@click.option("--env", "envs", multiple=True, help="Apply NAME@ENV overrides (repeatable).")
@scope_options
@click.option("--rev", help="Read the git stores at this revision (tag, branch, commit id, "
              "or HEAD~N where HEAD is the pin).")
@json_option
def show_cmd(name: str, envs: tuple[str, ...], system: bool, user: bool,
             old_scope: str | None, rev: str | None, as_json: bool) -> None:
    """Show the card NAME with every inherited field, its base chain and its provenance."""
    card = make_store().retrieve_card(name, envs=list(envs) or None,
                                      scope=chosen_scope(system, user, old_scope), revision=rev)
    if as_json:
        emit_json(card_to_json(card))
        return
    click.secho(f"{card.name} ({card.kind()})", bold=True)
    fields = card.fields()
    width = max((len(k) for k in fields), default=0)
    for key, value in fields.items():
        click.echo(f"  {key:<{width}}  {value}")
    click.echo(f"from: {card.provenance}")
    for base in card.base_chain()[1:]:
        click.echo(f"base: {base.name} ({base.provenance})")
    for override in card.overrides:
        click.echo(f"override: {override}")
