"""The `cards` entry point: a lazy command group and the one place errors become exit codes.

Exit codes: 0 success, 1 a user error or failed check, 2 usage, 130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from ..errors import AssetError

# command name -> "module:attribute" under assetcards.cli; modules load only when used.
COMMANDS = {
    "list": "cards_cmds:list_cmd",
    "show": "cards_cmds:show_cmd",
    "store": "store_cmds:store_group",
    "sync": "store_cmds:sync_cmd",
    "pin": "history_cmds:pin_cmd",
    "unpin": "history_cmds:unpin_cmd",
    "lock": "history_cmds:lock_cmd",
    "log": "history_cmds:log_cmd",
    "diff": "history_cmds:diff_cmd",
    "validate": "validate_cmds:validate_cmd",
    "hooks": "validate_cmds:hooks_group",
    "new": "validate_cmds:new_cmd",
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
    root ($FAIRSEQ2_USER_ASSET_DIR, ~/.config/fairseq2/assets) and the cards bundled with
    assetcards.
    """


def main(argv: list[str] | None = None) -> int:
    try:
        # With standalone_mode off, click returns the code a command gave to ctx.exit().
        code = cli.main(args=argv, prog_name="cards", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except AssetError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return code if isinstance(code, int) else 0


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()
