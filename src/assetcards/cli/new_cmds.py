"""`cards new`: a new card file with placeholders for what it needs."""

from __future__ import annotations

from pathlib import Path

import click

from ..checks.scaffold import new_card
from ..sources.gitstore import tracked_card_sets
from .common import locations


@click.command("new")
@click.argument("name")
@click.option("--base", help="The card this one inherits from.")
@click.option("--family", help="The model family (model_family), for a new model card.")
@click.option("--store", type=click.Path(path_type=Path, file_okay=False), default=".",
              show_default=True, help="The card repository to write into.")
def new_cmd(name: str, base: str | None, family: str | None, store: Path) -> None:
    """Write a new card NAME with placeholders for what it needs; fill them in, then run
    `cards validate`."""
    others = tracked_card_sets(locations())
    path = new_card(name, store, base, family, others)
    click.echo(f"wrote {path}")
    click.echo(f"fill in every TODO, then run: cards validate {path}", err=True)
