"""cards sync: moving pins, refusing bad commits, locks between real processes, faults."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assetcards.errors import LockTimeoutError, StoreError
from assetcards.locations import Locations
from assetcards.locks import hold
from assetcards.sources.assetstore import StandardAssetStore
from assetcards.sources.gitprovider import GitAssetMetadataProvider
from assetcards.sources.gitstore import get_store
from assetcards.stores.checkout import checkout_commit
from assetcards.stores.ops import add_store
from assetcards.stores.state import read_state
from assetcards.stores.sync import SyncOptions, sync_stores
from tests.gitutil import commit_files, git, push
from tests.storeutil import CARDS, card_upstream, model, run_cards


def _names(locations: Locations) -> list[str]:
    return StandardAssetStore.from_locations(locations, bundled=False).retrieve_names()


def test_sync_moves_the_pin_and_reports_card_changes(tmp_path: Path,
                                                     locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha"), "b.yaml": model("beta")})
    store, _ = add_store(locations, "team", str(bare))
    old = store.state.commit
    new = commit_files(work, {"cards/a.yaml": model("alpha", description="v2"),
                              "cards/c.yaml": model("gamma")}, remove=("cards/b.yaml",))
    push(work)
    [result] = sync_stores(locations)
    assert (result.status, result.old, result.new) == ("updated", old, new)
    assert (result.added, result.changed, result.removed) == (["gamma"], ["alpha"], ["beta"])
    state = read_state(store.paths)
    assert state is not None and state.commit == new and state.previous_commit == old
    assert state.cards == 2
    assert checkout_commit(store.paths) == new
    assert _names(locations) == ["alpha", "gamma"]


def test_nothing_new_upstream_is_unchanged(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    before = read_state(store.paths)
    [result] = sync_stores(locations)
    after = read_state(store.paths)
    assert result.status == "unchanged" and result.ok
    assert before is not None and after is not None
    assert after.commit == before.commit and after.synced_at > before.synced_at


def test_invalid_upstream_commit_is_never_pinned(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    good = store.state.commit
    bad = commit_files(work, {"cards/b.yaml": "name: beta\nmodel_family: llama\n"})
    push(work)
    [result] = sync_stores(locations)
    assert result.status == "rejected" and not result.ok
    assert result.new == bad
    assert [p.format() for p in result.problems] == [
        "cards/b.yaml:1:1: beta: model card has no 'checkpoint' (add a URI or a path relative "
        "to the card file)"]
    state = read_state(store.paths)
    assert state is not None and state.commit == good
    assert _names(locations) == ["alpha"]
    cli = run_cards("sync")
    assert cli.returncode == 1
    assert "team: rejected at" in cli.stdout
    assert "cards/b.yaml:1:1: beta: model card has no 'checkpoint'" in cli.stdout


def test_duplicate_with_another_store_is_rejected(tmp_path: Path, locations: Locations) -> None:
    one, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")}, name="one")
    two, work = card_upstream(tmp_path, {"b.yaml": model("beta")}, name="two")
    add_store(locations, "one", str(one))
    add_store(locations, "two", str(two))
    commit_files(work, {"cards/c.yaml": model("alpha", description="clash")})
    push(work)
    results = {r.store: r for r in sync_stores(locations)}
    assert results["one"].status == "unchanged"
    assert results["two"].status == "rejected"
    [problem] = results["two"].problems
    assert problem.message == ("duplicate card name 'alpha': also defined in one: "
                               "cards/a.yaml:1")


def test_unreachable_remote_keeps_pin_and_others_still_sync(tmp_path: Path,
                                                            locations: Locations) -> None:
    gone, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")}, name="gone")
    fine, work = card_upstream(tmp_path, {"b.yaml": model("beta")}, name="fine")
    add_store(locations, "gone", str(gone))
    add_store(locations, "fine", str(fine))
    commit_files(work, {"cards/c.yaml": model("gamma")})
    push(work)
    os.rename(gone, tmp_path / "moved.git")
    results = {r.store: r for r in sync_stores(locations)}
    assert results["fine"].status == "updated"
    assert results["gone"].status == "failed"
    assert results["gone"].message.startswith(f"cannot fetch main from {gone}: git fetch failed")
    assert results["gone"].message.endswith("; kept the pin")
    assert "alpha" in _names(locations)


def test_offline_does_not_fetch(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    commit_files(work, {"cards/b.yaml": model("beta")})
    push(work)
    [result] = sync_stores(locations, options=SyncOptions(offline=True))
    assert result.status == "offline" and result.ok
    assert read_state(store.paths).commit == store.state.commit  # type: ignore[union-attr]
    assert git(store.paths.git_dir, "rev-parse", "refs/assetcards/upstream") == \
        store.state.commit


def test_force_push_is_not_followed_by_default(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    commit_files(work, {"cards/b.yaml": model("beta")})
    push(work)
    store, _ = add_store(locations, "team", str(bare))
    pinned = store.state.commit
    git(work, "reset", "-q", "--hard", "HEAD~1")
    rewritten = commit_files(work, {"cards/c.yaml": model("gamma")})
    push(work, "--force", "main")
    git(bare, "reflog", "expire", "--expire=now", "--all")
    git(bare, "gc", "-q", "--prune=now")
    [result] = sync_stores(locations)
    assert result.status == "rewrite-refused"
    assert "upstream history was rewritten" in result.message
    assert "--allow-rewrite" in result.message
    assert read_state(store.paths).commit == pinned  # type: ignore[union-attr]
    assert _names(locations) == ["alpha", "beta"]
    [result] = sync_stores(locations, options=SyncOptions(allow_rewrite=True))
    assert result.status == "updated" and result.new == rewritten
    git(store.paths.git_dir, "gc", "-q", "--prune=now")
    old = GitAssetMetadataProvider(store.paths, "user", commit=pinned)
    assert old.get_names() == ["alpha", "beta"]


def test_lock_timeout_names_the_holder(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    with hold(store.paths.lock, "test", 5, command="test holder"):
        result = run_cards("sync", "--lock-timeout", "0.5")
        [res] = sync_stores(locations, options=SyncOptions(lock_timeout=0.2))
    assert result.returncode == 1
    assert "store team: waiting for the lock held by process" in result.stderr
    assert f"process {os.getpid()} on" in result.stderr
    assert "gave up after 0.5 s waiting for the lock held by process" in result.stdout
    assert res.status == "failed" and "(test holder, since" in res.message
    with hold(store.paths.lock, "test", 5), pytest.raises(LockTimeoutError):
        from assetcards.stores.ops import remove_store

        remove_store(locations, "team", lock_timeout=0.2)


def test_lock_of_a_killed_process_blocks_nobody(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    code = ("import sys, time; from pathlib import Path; from assetcards.locks import hold\n"
            "with hold(Path(sys.argv[1]), 'x', 5):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(store.paths.lock)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    [result] = sync_stores(locations, options=SyncOptions(lock_timeout=2))
    assert result.status == "unchanged"


def test_symlinked_lock_file_is_refused(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    victim = tmp_path / "victim"
    victim.write_text("precious")
    store.paths.lock.unlink()
    store.paths.lock.symlink_to(victim)
    [result] = sync_stores(locations)
    assert result.status == "failed"
    assert "is a symbolic link; refusing to use it" in result.message
    assert victim.read_text() == "precious"


def test_two_concurrent_syncs_one_waits_and_does_no_duplicate_work(
        tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    new = commit_files(work, {"cards/b.yaml": model("beta")})
    push(work)
    errs = [tmp_path / f"sync{i}.err" for i in range(2)]
    waiting = "store team: waiting for the lock held by process"
    with hold(store.paths.lock, "test", 5, command="test holder"):
        procs = [subprocess.Popen([CARDS, "sync", "--json"], stdout=subprocess.PIPE,
                                  stderr=err.open("w"), text=True) for err in errs]
        deadline = time.monotonic() + 60  # both wait for us before we let go
        while not all(waiting in err.read_text() for err in errs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.02)
    outputs = [(p.communicate(timeout=60)[0], err.read_text())
               for p, err in zip(procs, errs, strict=True)]
    assert [p.returncode for p in procs] == [0, 0]
    results = sorted((json.loads(out)[0] for out, _ in outputs), key=lambda r: r["status"])
    assert [r["status"] for r in results] == ["unchanged", "updated"]
    assert results[0]["message"] == "synced by another process while we waited"
    assert results[1]["new"] == new
    assert read_state(store.paths).commit == new  # type: ignore[union-attr]


def test_many_stores_sync_in_parallel(tmp_path: Path, locations: Locations) -> None:
    works = []
    for i in range(6):
        bare, work = card_upstream(tmp_path, {"a.yaml": model(f"card{i}")}, name=f"up{i}")
        add_store(locations, f"s{i}", str(bare))
        commit_files(work, {"cards/b.yaml": model(f"extra{i}")})
        push(work)
        works.append(work)
    seen: list[str] = []
    results = sync_stores(locations, options=SyncOptions(jobs=3, on_done=lambda r: seen.append(
        r.store)))
    assert [r.status for r in results] == ["updated"] * 6
    assert sorted(seen) == [f"s{i}" for i in range(6)]
    assert len(_names(locations)) == 12


@pytest.mark.parametrize("jobs", [1, 3])
def test_an_unexpected_error_fails_one_store_and_no_other(
        jobs: int, tmp_path: Path, locations: Locations,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong inside one store's sync (here: a bug, stood in for by an exception
    nobody expects) is that store's `failed` status, with a message; the others sync."""
    import assetcards.stores.sync as sync_module

    tips = {}
    for name in ("a", "b", "c"):
        bare, work = card_upstream(tmp_path, {"a.yaml": model(f"{name}_one")}, name=f"up-{name}")
        add_store(locations, name, str(bare))
        tips[name] = commit_files(work, {"cards/b.yaml": model(f"{name}_two")})
        push(work)
    real_update = sync_module._update

    def update(store, tip, others, result):  # type: ignore[no-untyped-def]
        if store.name == "b":
            raise RuntimeError("boom")
        return real_update(store, tip, others, result)

    monkeypatch.setattr(sync_module, "_update", update)
    pin_b = get_store(locations, "b").state.commit
    results = sync_stores(locations, options=SyncOptions(jobs=jobs))
    assert [(r.store, r.status) for r in results] == [("a", "updated"), ("b", "failed"),
                                                      ("c", "updated")]
    assert results[1].message == "unexpected error (RuntimeError: boom); kept the pin"
    assert results[1].old == results[1].new == pin_b == get_store(locations, "b").state.commit
    assert [results[0].new, results[2].new] == [tips["a"], tips["c"]]


def test_kill_during_sync_leaves_store_readable_and_next_sync_completes(
        tmp_path: Path, locations: Locations) -> None:
    many = {f"c{i}.yaml": model(f"card{i}") for i in range(300)}
    bare, work = card_upstream(tmp_path, many)
    store, _ = add_store(locations, "team", str(bare))
    old = store.state.commit
    new = commit_files(work, {f"cards/d{i}.yaml": model(f"more{i}") for i in range(300)})
    push(work)
    rng = random.Random(7)
    for _trial in range(4):
        proc = subprocess.Popen([CARDS, "sync"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.05, 0.6))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        state = read_state(store.paths)
        assert state is not None and state.commit in (old, new)
        names = _names(locations)
        assert len(names) == (300 if state.commit == old else 600)
    [result] = sync_stores(locations, options=SyncOptions(lock_timeout=5))
    assert result.ok
    final = get_store(locations, "team")
    assert final.state.commit == new and checkout_commit(final.paths) == new
    assert list(final.paths.staging_dir.iterdir()) == []
    assert not final.paths.legacy_tmp_dir.exists()


def test_hand_edited_checkout_is_restored_by_sync(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    (store.paths.checkout / ".assetcards-store").unlink()
    (store.paths.checkout / "cards" / "a.yaml").unlink()
    [result] = sync_stores(locations, options=SyncOptions(offline=True))
    assert result.message == "restored the checkout to the pinned commit"
    assert (store.paths.checkout / "cards" / "a.yaml").is_file()


def test_sync_of_unknown_store_is_an_error(locations: Locations) -> None:
    result = run_cards("sync", "nope")
    assert result.returncode == 1
    assert result.stderr == "error: no store named 'nope'; see `cards store list`\n"


def test_damaged_state_file_is_a_clear_error(tmp_path: Path, locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    store.paths.state_file.write_text('{"commit": "nope"}')
    with pytest.raises(StoreError, match="is damaged"):
        sync_stores(locations)


def test_cli_sync_output(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    new = commit_files(work, {"cards/b.yaml": model("beta")})
    push(work)
    result = run_cards("sync", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"team: updated {store.state.commit[:12]} -> {new[:12]}\n"
                             "  added: beta\n")


def test_a_moved_head_alone_is_named_as_such(tmp_path: Path, locations: Locations) -> None:
    bare, work = card_upstream(tmp_path, {"a.yaml": model("alpha")})
    first = git(work, "rev-parse", "HEAD")
    commit_files(work, {"cards/b.yaml": model("beta")})
    push(work)
    store, _ = add_store(locations, "team", str(bare))
    git(store.paths.git_dir, "update-ref", "refs/assetcards/pinned", first)
    [result] = sync_stores(locations, options=SyncOptions(offline=True))
    assert result.message == "restored the repository's HEAD to the pinned commit"


def test_in_place_edits_are_found_by_verify_or_the_hourly_check(tmp_path: Path,
                                                                locations: Locations) -> None:
    import dataclasses

    from assetcards.stores.state import write_state

    bare, _ = card_upstream(tmp_path, {"a.yaml": model("alpha"), "b.yaml": model("beta")})
    store, _ = add_store(locations, "team", str(bare))
    card = store.paths.checkout / "cards" / "a.yaml"
    pinned_text = card.read_text()
    with open(card, "r+") as handle:  # an edit in place: no directory changes
        handle.seek(0)
        handle.write(pinned_text.replace("alpha", "ALPHA"))
    [routine] = sync_stores(locations, options=SyncOptions(offline=True))
    assert routine.message == "offline: kept the pinned commit"
    assert "ALPHA" in card.read_text()  # a routine sync only compares directories
    [verified] = sync_stores(locations, options=SyncOptions(offline=True, verify=True))
    assert verified.message == "restored the checkout to the pinned commit"
    assert card.read_text() == pinned_text
    with open(card, "r+") as handle:
        handle.write("#")
    state = read_state(store.paths)
    assert state is not None
    write_state(store.paths, dataclasses.replace(state, verified_at=state.verified_at - 3601))
    [hourly] = sync_stores(locations, options=SyncOptions(offline=True))
    assert hourly.message == "restored the checkout to the pinned commit"
    assert card.read_text() == pinned_text


def test_added_or_removed_files_are_found_at_every_sync(tmp_path: Path,
                                                        locations: Locations) -> None:
    bare, _ = card_upstream(tmp_path, {"sub/a.yaml": model("alpha")})
    store, _ = add_store(locations, "team", str(bare))
    (store.paths.checkout / "cards" / "sub" / "extra.yaml").write_text(model("intruder"))
    [result] = sync_stores(locations, options=SyncOptions(offline=True))
    assert result.message == "restored the checkout to the pinned commit"
    assert not (store.paths.checkout / "cards" / "sub" / "extra.yaml").exists()
    (store.paths.checkout / "top.yaml").write_text(model("intruder"))
    [result] = sync_stores(locations, options=SyncOptions(offline=True))
    assert result.message == "restored the checkout to the pinned commit"
    assert not (store.paths.checkout / "top.yaml").exists()
