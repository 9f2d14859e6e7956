"""`cards fetch`: download (or find) the checkpoint of model cards and print where it is."""

from __future__ import annotations

from typing import Any

import click

from ..checkpoints.download import Checkpoint, DownloadEvent, DownloadOptions, fetch_checkpoint
from .common import LOCK_SECONDS, TIMEOUT_SECONDS, emit_json, json_option, locations, make_store


def _say(event: DownloadEvent) -> None:
    click.echo(event.message, err=True)


def _options(force: bool, offline: bool, verify: bool, no_progress: bool,
             timeout: float | None, lock_timeout: float | None) -> DownloadOptions:
    changes: dict[str, Any] = {"force": force, "verify": verify}
    if offline:
        changes["offline"] = True
    if no_progress:
        changes["progress"] = False
    if timeout is not None:
        changes["timeout"] = timeout
    if lock_timeout is not None:
        changes["lock_timeout"] = lock_timeout
    return DownloadOptions.from_env(**changes)


def _to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "name": checkpoint.card,
        "uri": checkpoint.uri,
        "path": str(checkpoint.path),
        "files": [str(f) for f in checkpoint.files],
        "cached": checkpoint.cached,
        "downloaded": checkpoint.downloaded,
    }


@click.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even if the cache has it.")
@click.option("--offline", is_flag=True,
              help="Use the cache only (also: FAIRSEQ2_OFFLINE=1); say what is missing.")
@click.option("--verify", is_flag=True,
              help="Re-hash cached files against their checksum; download again on mismatch.")
@click.option("--no-progress", is_flag=True,
              help="No progress bar (also: FAIRSEQ2_NO_PROGRESS=1; off when not a terminal).")
@click.option("--timeout", type=TIMEOUT_SECONDS, metavar="SECONDS",
              help="Network timeout (default: FAIRSEQ2_DOWNLOAD_TIMEOUT or 60).")
@click.option("--lock-timeout", type=LOCK_SECONDS, metavar="SECONDS",
              help="Give up waiting for another process after this long (default: wait).")
@json_option
def fetch_cmd(names: tuple[str, ...], force: bool, offline: bool, verify: bool,
              no_progress: bool, timeout: float | None, lock_timeout: float | None,
              as_json: bool) -> None:
    """Fetch the checkpoint of each card NAME and print its local path.

    A sharded checkpoint prints the directory that holds its shards."""
    options = _options(force, offline, verify, no_progress, timeout, lock_timeout)
    store = make_store()
    where = locations()
    results = []
    for name in names:
        card = store.retrieve_card(name)
        checkpoint = fetch_checkpoint(card, locations=where, options=options, on_event=_say)
        results.append(checkpoint)
        if not as_json:
            click.echo(str(checkpoint.path))
    if as_json:
        emit_json([_to_json(c) for c in results])
