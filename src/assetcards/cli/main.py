"""The `cards` entry point: a lazy command group and the one place errors become exit codes.

Exit codes: 0 success, 1 a user error or failed check, 2 usage, 3 an unexpected error (a
crash log is written), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
from typing import Any

import click

from ..errors import AssetError, AssetMetadataError
from .common import emit_json, error_json, wants_json

# command name -> "module:attribute" under assetcards.cli; modules load only when used.
COMMANDS = {
    "list": "cards_cmds:list_cmd",
    "show": "cards_cmds:show_cmd",
    "store": "store_cmds:store_group",
    "sync": "store_cmds:sync_cmd",
    "pin": "pin_cmds:pin_cmd",
    "unpin": "pin_cmds:unpin_cmd",
    "lock": "pin_cmds:lock_cmd",
    "log": "history_cmds:log_cmd",
    "diff": "history_cmds:diff_cmd",
    "validate": "validate_cmds:validate_cmd",
    "hooks": "hooks_cmds:hooks_group",
    "new": "new_cmds:new_cmd",
    "fetch": "fetch_cmds:fetch_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(f"assetcards.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"assetcards.cli.{module_name}":
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="assetcards", prog_name="cards")  # metadata read when asked
def cli() -> None:
    """Keep ML asset cards (fairseq2 format) in versioned git stores.

    Cards are read from the system root ($FAIRSEQ2_ASSET_DIR, /etc/fairseq2/assets), the user
    root ($FAIRSEQ2_USER_ASSET_DIR, ~/.config/fairseq2/assets) and, when fairseq2 is
    installed, the cards fairseq2 bundles.
    """


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code. No traceback reaches the user: an unexpected
    exception prints one line and writes a crash log (exit code 3). With --json, errors are
    JSON on standard output too: {"error": {"kind": ..., "message": ...}}."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = wants_json(args)
    _tolerate_unprintable()
    try:
        # With standalone_mode off, click returns the code a command gave to ctx.exit().
        code = cli.main(args=args, prog_name="cards", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        return _report(as_json, "interrupted", "Interrupted.", 130, prefix="")
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if as_json:
            emit_json(error_json("usage", exc.format_message()))
        exc.show()
        return exc.exit_code
    except AssetError as exc:
        extra: dict[str, Any] = ({"problems": [p.to_json() for p in exc.problems]}
                                 if isinstance(exc, AssetMetadataError) else {})
        return _report(as_json, error_kind(exc), str(exc), exc.exit_code, extra=extra)
    except BrokenPipeError:
        return 1
    except OSError as exc:
        return _report(as_json, "os-error", str(exc), 1)
    except Exception as exc:
        return _crashed(args, exc, as_json)
    return code if isinstance(code, int) else 0


def error_kind(exc: BaseException) -> str:
    """A stable name for the kind of EXC: its class, in kebab case (`store-error`)."""
    name = type(exc).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _report(as_json: bool, kind: str, message: str, code: int, prefix: str = "error: ",
            extra: dict[str, Any] | None = None) -> int:
    if as_json:
        emit_json(error_json(kind, message, **(extra or {})))
    click.echo(f"{prefix}{message}", err=True)
    return code


def _crashed(args: list[str], exc: Exception, as_json: bool) -> int:
    from .crash import CRASH_EXIT_CODE, write_crash_log

    log = write_crash_log(args, exc)
    where = f"details in {log}" if log is not None else "no crash log could be written"
    message = f"an unexpected error occurred ({type(exc).__name__}); {where}"
    extra = {"crash_log": str(log) if log is not None else None}
    return _report(as_json, "unexpected", message, CRASH_EXIT_CODE, extra=extra)


def _tolerate_unprintable() -> None:
    """Text that the terminal's encoding cannot show is escaped, never an exception."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()
