"""Helpers shared by the commands: the store from the environment, output in text or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..locations import Locations

if TYPE_CHECKING:
    from ..store import StandardAssetStore

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def locations() -> Locations:
    return Locations.from_env()


def make_store() -> StandardAssetStore:
    from ..store import store_from_env

    return store_from_env(locations())

