"""The checkpoint cache against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from assetcards.card.model import AssetCard
from assetcards.checkpoints.download import (
    DownloadEvent,
    DownloadOptions,
    cache_entry,
    download_checkpoint,
    fetch_checkpoint,
)
from assetcards.errors import AssetCardError, DownloadError, LockTimeoutError
from assetcards.locations import Locations
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.providers import FileAssetMetadataProvider

from ..http_server import FileServer, refused_url, serve

DATA = bytes(range(256)) * 400  # 100 KiB
DIGEST = hashlib.sha256(DATA).hexdigest()
QUICK = DownloadOptions(timeout=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_card(checkpoint: str, **fields: Any) -> AssetCard:
    return AssetCard("tiny", {"name": "tiny", "model_family": "mlp", "checkpoint": checkpoint,
                              **fields})


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve({"/tiny.pt": DATA}) as running:
        yield running


class Events(list[DownloadEvent]):
    def __call__(self, event: DownloadEvent) -> None:
        self.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self]


def fetch(card: AssetCard, locations: Locations, events: Events | None = None,
          **options: Any) -> Any:
    opts = DownloadOptions(**{"timeout": 5.0, **options})
    return fetch_checkpoint(card, locations=locations, options=opts, on_event=events)


# -- local files ----------------------------------------------------------------------------


def test_file_uri_is_used_in_place(tmp_path: Path, locations: Locations) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(DATA)
    result = fetch(model_card(weights.as_uri()), locations)
    assert (result.path, result.files, result.cached, result.downloaded) == (
        weights, (weights,), False, False)
    assert not locations.cache.exists()


def test_relative_path_resolves_against_the_card_file(tmp_path: Path,
                                                      locations: Locations) -> None:
    cards = tmp_path / "cards" / "sub"
    cards.mkdir(parents=True)
    (cards / "tiny.yaml").write_text("name: tiny\nmodel_family: mlp\ncheckpoint: ../w/t.pt\n")
    (tmp_path / "cards" / "w").mkdir()
    (tmp_path / "cards" / "w" / "t.pt").write_bytes(DATA)
    store = StandardAssetStore([FileAssetMetadataProvider(tmp_path / "cards")])
    path = download_checkpoint(store.retrieve_card("tiny"), locations=locations, options=QUICK)
    assert path == tmp_path / "cards" / "w" / "t.pt"


def test_missing_local_file_names_card_and_uri(tmp_path: Path, locations: Locations) -> None:
    uri = (tmp_path / "nope.pt").as_uri()
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations)
    assert str(info.value) == (f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: "
                               f"there is no file {tmp_path / 'nope.pt'}.")


def test_local_file_verified_on_request(tmp_path: Path, locations: Locations) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(DATA)
    card = model_card(weights.as_uri(), checkpoint_sha256="0" * 64)
    assert fetch(card, locations).path == weights  # not hashed unless asked
    with pytest.raises(DownloadError) as info:
        fetch(card, locations, verify=True)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {weights.as_uri()}: its SHA-256 "
        f"is {DIGEST}, but the card's checkpoint_sha256 is {'0' * 64}.")
    assert weights.read_bytes() == DATA  # never deletes a user's own file


def test_card_without_checkpoint(locations: Locations) -> None:
    card = AssetCard("bare", {"name": "bare", "model_family": "mlp"})
    with pytest.raises(DownloadError) as info:
        fetch(card, locations)
    assert str(info.value) == ("The card 'bare' has no 'checkpoint' field, so there is nothing "
                               "to fetch (card from inproc inproc).")


def test_unsupported_scheme(locations: Locations) -> None:
    with pytest.raises(DownloadError) as info:
        fetch(model_card("s3://bucket/w.pt"), locations)
    assert str(info.value) == (
        "Cannot fetch the checkpoint of the card 'tiny' from s3://bucket/w.pt: the scheme 's3' "
        "is not supported (use file://, http://, https:// or a relative path).")


# -- HTTP -----------------------------------------------------------------------------------


def test_http_download_lands_in_the_cache_once(server: FileServer,
                                                locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    events = Events()
    first = fetch(model_card(uri, checkpoint_sha256=DIGEST.upper()), locations, events)
    entry = cache_entry(locations, uri)
    assert first.path == entry / "tiny.pt" and first.path.read_bytes() == DATA
    assert (first.cached, first.downloaded) == (True, True)
    assert entry.parent == locations.cache / "checkpoints"
    assert json.loads((entry / "entry.json").read_text()) == {
        "uri": uri, "files": {"tiny.pt": {"uri": uri, "sha256": DIGEST, "size": len(DATA)}}}
    assert sorted(p.name for p in entry.iterdir()) == [".lock", "entry.json", "tiny.pt"]
    assert events.kinds() == ["downloading"]
    second = fetch(model_card(uri), locations, events)
    assert (second.path, second.downloaded) == (first.path, False)
    assert server.count() == 1


def test_checksum_mismatch_deletes_the_download(server: FileServer,
                                                locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri, checkpoint_sha256=wrong), locations)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: its SHA-256 is {DIGEST}, "
        f"but the card's checkpoint_sha256 is {wrong}; the download was deleted.")
    assert sorted(p.name for p in cache_entry(locations, uri).iterdir()) == [".lock"]


def test_malformed_checksum_field(server: FileServer, locations: Locations) -> None:
    with pytest.raises(AssetCardError) as info:
        fetch(model_card(server.url("/tiny.pt"), checkpoint_sha256="abc"), locations)
    assert str(info.value) == ("The field 'checkpoint_sha256' of the card 'tiny' must be a "
                               "SHA-256 digest (64 hex digits), not 'abc' (inproc inproc).")


def test_404(server: FileServer, locations: Locations) -> None:
    uri = server.url("/missing.pt")
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations)
    assert str(info.value) == (f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: "
                               "HTTP 404 Not Found.")


def test_refused_connection(locations: Locations) -> None:
    uri = refused_url("/tiny.pt")
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations)
    assert str(info.value) == (f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: "
                               "the connection was refused.")


def test_a_hanging_server_times_out(server: FileServer, locations: Locations) -> None:
    server.plan.hang = True
    uri = server.url("/tiny.pt")
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations, timeout=0.3)
    assert str(info.value) == (f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: "
                               "no response within 0.3 seconds.")
    assert time.monotonic() - started < 10


def test_dropped_connection_resumes_with_range(server: FileServer,
                                               locations: Locations) -> None:
    server.plan.drops = 1
    events = Events()
    result = fetch(model_card(server.url("/tiny.pt"), checkpoint_sha256=DIGEST), locations,
                   events)
    assert result.path.read_bytes() == DATA
    assert server.ranges("/tiny.pt") == [None, f"bytes={len(DATA) // 2}-"]
    assert server.plan.if_ranges == [None, server.validators(DATA)["ETag"]]
    assert events.kinds() == ["downloading", "resuming"]
    assert events[1].message == (f"The connection dropped after {len(DATA) // 2} of "
                                 f"{len(DATA)} bytes; resuming {server.url('/tiny.pt')} "
                                 "(attempt 2).")


def test_dropped_connection_restarts_when_the_server_cannot_resume(
        server: FileServer, locations: Locations) -> None:
    server.plan.drops = 1
    server.plan.ranges = False
    events = Events()
    result = fetch(model_card(server.url("/tiny.pt"), checkpoint_sha256=DIGEST), locations,
                   events)
    assert result.path.read_bytes() == DATA
    assert events.kinds() == ["downloading", "resuming", "restarting"]
    assert server.count() == 2  # the drop; the resume, answered with the whole file (200)


def test_an_interrupted_download_is_resumed_by_the_next_call(server: FileServer,
                                                              locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    server.plan.drops = 2
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations, retries=0)
    half = len(DATA) // 2
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: the connection dropped "
        f"after {half} of {len(DATA)} bytes, 1 times; run again to resume.")
    entry = cache_entry(locations, uri)
    parts = [p for p in entry.iterdir() if p.name.endswith(".part")]
    assert len(parts) == 1 and parts[0].name.startswith(f"tiny.pt.{os.getpid()}-")
    assert not (entry / "tiny.pt").exists()  # never visible before it is complete
    events = Events()
    result = fetch(model_card(uri, checkpoint_sha256=DIGEST), locations, events)
    assert result.path.read_bytes() == DATA
    assert server.ranges("/tiny.pt")[1:] == [f"bytes={half}-", f"bytes={half + half // 2}-"]
    assert events[0].message == f"Resuming {uri} at byte {half}."
    assert not [p for p in entry.iterdir() if p.name.endswith(".part")]


# -- cache states ---------------------------------------------------------------------------


def test_force_downloads_again(server: FileServer, locations: Locations) -> None:
    card = model_card(server.url("/tiny.pt"))
    fetch(card, locations)
    assert fetch(card, locations, force=True).downloaded
    assert server.count() == 2


def test_verify_replaces_a_corrupt_cached_file(server: FileServer,
                                               locations: Locations) -> None:
    card = model_card(server.url("/tiny.pt"))
    path = fetch(card, locations).path
    path.write_bytes(b"x" * len(DATA))  # same size: only a re-hash can tell
    assert fetch(card, locations).downloaded is False
    events = Events()
    assert fetch(card, locations, events, verify=True).downloaded
    assert path.read_bytes() == DATA
    assert events.kinds() == ["corrupt", "downloading"]
    assert events[0].message == (
        f"The cached {path} does not match: its SHA-256 is {sha(b'x' * len(DATA))}, but the "
        f"card's checkpoint_sha256 is {DIGEST}; downloading it again.")
    events.clear()
    fetch(card, locations, events, verify=True)
    assert events.kinds() == ["verified"]


def test_a_changed_card_checksum_downloads_again(server: FileServer,
                                                 locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    server.plan.files["/tiny.pt"] = b"old weights"
    fetch(model_card(uri, checkpoint_sha256=sha(b"old weights")), locations)
    server.plan.files["/tiny.pt"] = DATA
    result = fetch(model_card(uri, checkpoint_sha256=DIGEST), locations)
    assert result.downloaded and result.path.read_bytes() == DATA


def test_offline_uses_the_cache_and_names_what_is_missing(server: FileServer,
                                                          locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    offline = DownloadOptions.from_env({"FAIRSEQ2_OFFLINE": "1"})
    assert offline.offline
    with pytest.raises(DownloadError) as info:
        fetch_checkpoint(model_card(uri), locations=locations, options=offline)
    assert str(info.value) == (
        "Cannot fetch the checkpoint of the card 'tiny': offline mode is on (FAIRSEQ2_OFFLINE=1 "
        f"or --offline) and the cache has no copy of {uri}; cache entry: "
        f"{cache_entry(locations, uri)}.")
    assert server.count() == 0
    fetch(model_card(uri), locations)
    result = fetch_checkpoint(model_card(uri), locations=locations, options=offline)
    assert result.path.read_bytes() == DATA and server.count() == 1


def test_offline_verify_of_a_corrupt_file_fails(server: FileServer,
                                                locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    fetch(model_card(uri), locations).path.write_bytes(b"junk")
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations, offline=True, verify=True)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: the cached copy does not "
        f"match: its SHA-256 is {sha(b'junk')}, but the card's checkpoint_sha256 is {DIGEST}; "
        "it was deleted, and offline mode is on.")


# -- shards ---------------------------------------------------------------------------------


SHARDS = [bytes([i]) * (1000 + i) for i in range(3)]


def test_sharded_http_checkpoint_fetches_every_shard(locations: Locations) -> None:
    files = {f"/m/consolidated.{i:02d}.pth": data for i, data in enumerate(SHARDS)}
    with serve(files) as running:
        template = running.url("/m/consolidated.{shard_idx:02d}.pth")
        card = model_card(template, num_shards=3,
                          checkpoint_sha256={1: sha(SHARDS[1]), "2": sha(SHARDS[2])})
        result = fetch(card, locations)
        assert result.path == cache_entry(locations, template)
        assert [f.name for f in result.files] == [f"consolidated.{i:02d}.pth" for i in range(3)]
        assert [f.read_bytes() for f in result.files] == SHARDS
        assert running.count() == 3
        fetch(card, locations)
        assert running.count() == 3


def test_sharded_checksums_as_a_list(locations: Locations) -> None:
    with serve({f"/s{i}": data for i, data in enumerate(SHARDS)}) as running:
        digests = [sha(d) for d in SHARDS]
        digests[2] = "0" * 64
        card = model_card(running.url("/s{shard_idx}"), num_shards=3, checkpoint_sha256=digests)
        with pytest.raises(DownloadError) as info:
            fetch(card, locations)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {running.url('/s2')}: its SHA-256 "
        f"is {sha(SHARDS[2])}, but the card's checkpoint_sha256 is {'0' * 64}; the download "
        "was deleted.")


def test_sharded_relative_paths(tmp_path: Path, locations: Locations) -> None:
    for i, data in enumerate(SHARDS):
        (tmp_path / f"part-{i:02d}.pt").write_bytes(data)
    card = AssetCard("tiny", {"name": "tiny", "model_family": "mlp", "num_shards": 3,
                              "checkpoint": "part-{shard_idx:02d}.pt"}, base_path=tmp_path)
    result = fetch(card, locations)
    assert result.files == tuple(tmp_path / f"part-{i:02d}.pt" for i in range(3))
    assert result.path == tmp_path


def test_placeholder_without_shard_count(locations: Locations) -> None:
    with pytest.raises(AssetCardError) as info:
        fetch(model_card("https://example.org/c.{shard_idx}.pt"), locations)
    assert str(info.value) == ("The checkpoint of the card 'tiny' has a {shard_idx} placeholder "
                               "but the card has no 'num_shards' field (inproc inproc).")


def test_shard_count_without_placeholder(locations: Locations) -> None:
    with pytest.raises(AssetCardError) as info:
        fetch(model_card("https://example.org/c.pt", num_shards=2), locations)
    assert str(info.value) == ("The card 'tiny' has num_shards: 2, but its checkpoint has no "
                               "{shard_idx} placeholder (inproc inproc).")


def test_declared_sizes_per_shard(locations: Locations) -> None:
    with serve({f"/s{i}": data for i, data in enumerate(SHARDS)}) as running:
        sizes = [len(d) for d in SHARDS]
        card = model_card(running.url("/s{shard_idx}"), num_shards=3, checkpoint_size=sizes)
        assert [f.read_bytes() for f in fetch(card, locations).files] == SHARDS
        wrong = model_card(running.url("/s{shard_idx}"), num_shards=3,
                           checkpoint_size={"2": 5})
        with pytest.raises(DownloadError) as info:
            fetch(wrong, locations, force=True)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {running.url('/s2')}: the server "
        f"says the file has {len(SHARDS[2])} bytes, but the card's checkpoint_size is 5.")


def test_sizes_of_the_wrong_shape_are_card_errors(locations: Locations) -> None:
    card = model_card("https://example.org/s{shard_idx}", num_shards=2, checkpoint_size=[1])
    with pytest.raises(AssetCardError) as info:
        fetch(card, locations)
    assert str(info.value) == ("The card 'tiny' cannot be fetched: its 'checkpoint_size' must "
                               "give one size per shard (2) (inproc inproc).")


def test_an_empty_file_is_fetched(locations: Locations) -> None:
    with serve({"/empty.pt": b""}) as running:
        result = fetch(model_card(running.url("/empty.pt"), checkpoint_size=0), locations)
    assert result.path.read_bytes() == b""


# -- locking --------------------------------------------------------------------------------


def hold_lock(entry: Path, pid: int) -> FileLock:
    entry.mkdir(parents=True)
    lock = FileLock(str(entry / ".lock"), thread_local=False)
    lock.acquire()
    (entry / ".lock.holder").write_text(f"{pid} somehost\n")
    return lock


def test_waits_for_the_lock_holder_and_says_so(server: FileServer,
                                               locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    entry = cache_entry(locations, uri)
    events = Events()
    held = threading.Event()

    def hold_until_waited_for() -> None:  # another thread: filelock refuses a same-thread wait
        lock = hold_lock(entry, 4242)
        held.set()
        while not events:
            time.sleep(0.01)
        (entry / ".lock.holder").unlink()
        lock.release()

    holder = threading.Thread(target=hold_until_waited_for)
    holder.start()
    held.wait(5)
    result = fetch(model_card(uri), locations, events)
    holder.join()
    assert result.path.read_bytes() == DATA
    assert events[0] == DownloadEvent(
        "waiting", "tiny", uri, f"Waiting for process 4242 on somehost, which is fetching {uri} "
        f"(lock {entry / '.lock'}).", 4242)
    assert server.count() == 1


def test_gives_up_after_the_lock_timeout(server: FileServer, locations: Locations) -> None:
    uri = server.url("/tiny.pt")
    entry = cache_entry(locations, uri)
    lock = hold_lock(entry, 4242)
    try:
        with pytest.raises(LockTimeoutError) as info:
            fetch(model_card(uri), locations, lock_timeout=0.2)
    finally:
        lock.release()
    assert str(info.value) == (
        "Gave up waiting after 0.2 s for process 4242 on somehost, which is fetching the "
        f"checkpoint of the card 'tiny' from {uri} (lock {entry / '.lock'}).")
    assert server.count() == 0


# -- options and output ---------------------------------------------------------------------


def test_options_from_the_environment() -> None:
    env = {"FAIRSEQ2_OFFLINE": "true", "FAIRSEQ2_DOWNLOAD_TIMEOUT": "2.5",
           "FAIRSEQ2_NO_PROGRESS": "1"}
    assert DownloadOptions.from_env(env) == DownloadOptions(offline=True, timeout=2.5)
    assert DownloadOptions.from_env({"FAIRSEQ2_OFFLINE": "0"}).offline is False
    assert DownloadOptions.from_env({}, force=True).force is True
    with pytest.raises(DownloadError) as info:
        DownloadOptions.from_env({"FAIRSEQ2_DOWNLOAD_TIMEOUT": "soon"})
    assert str(info.value) == ("FAIRSEQ2_DOWNLOAD_TIMEOUT must be a number of seconds from 0 (excluded) to 86400 (included), not 'soon'.")


def test_core_prints_nothing_without_a_progress_bar(server: FileServer, locations: Locations,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fetch(model_card(server.url("/tiny.pt")), locations)
    assert capsys.readouterr() == ("", "")


def test_progress_bar_when_asked(server: FileServer, locations: Locations,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    fetch(model_card(server.url("/tiny.pt")), locations, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "tiny.pt:   0%|" in captured.err and "B/s]" in captured.err


def test_an_unwritable_cache_is_reported(server: FileServer, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    locations = Locations(tmp_path / "s", tmp_path / "u", blocker)
    uri = server.url("/tiny.pt")
    with pytest.raises(DownloadError) as info:
        fetch(model_card(uri), locations)
    assert str(info.value) == (
        f"Cannot fetch the checkpoint of the card 'tiny' from {uri}: cannot write the cache "
        f"entry {cache_entry(locations, uri)} (Not a directory).")
