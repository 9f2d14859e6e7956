"""Helpers shared by the commands: the store from the environment, output in text or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..locations import Locations
from ..settings import Range, SettingError, parse_float

if TYPE_CHECKING:
    from ..sources.assetstore import StandardAssetStore

F = TypeVar("F", bound=Callable[..., Any])


class Bounded(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A number option inside a Range: `nan`, `inf`, negative or huge values are a usage
    error naming the option, the value and the accepted range (settings.parse_float)."""

    name = "number"

    def __init__(self, accepted: Range) -> None:
        self.accepted = accepted

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, float) and self.accepted.contains(value):
            return value
        try:
            return parse_float("value", str(value), self.accepted)
        except SettingError:
            self.fail(f"{str(value)!r} is not {self.accepted.describe()}", param, ctx)


MAX_WAIT = 86400.0
# Seconds to wait for a lock: 0 (do not wait) up to a day.
LOCK_SECONDS = Bounded(Range(0, MAX_WAIT, unit="of seconds"))
# A network timeout: more than 0, up to a day.
TIMEOUT_SECONDS = Bounded(Range(0, 86400, low_open=True, unit="of seconds"))


def notify(message: str) -> None:
    """Tell the user what a command is waiting for or doing (standard error)."""
    click.echo(message, err=True)


def scope_of(system: bool, user: bool) -> str:
    """The scope --system/--user ask for ("all" with neither)."""
    if system and user:
        raise click.UsageError("--system and --user exclude each other")
    return "system" if system else "user" if user else "all"


lock_timeout_option = click.option(
    "--lock-timeout", type=LOCK_SECONDS, default=60.0, show_default=True, metavar="SECONDS",
    help="Seconds to wait for another process holding a store's lock.")


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (`--json` before any `--`)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def error_json(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one shape of an error printed as JSON: {"error": {"kind", "message", ...}}."""
    return {"error": {"kind": kind, "message": message, **extra}}


def locations() -> Locations:
    return Locations.from_env()


def make_store() -> StandardAssetStore:
    from ..sources.assetstore import store_from_env

    return store_from_env(locations())

