"""Moving a store's pin to a validated commit, and what is wrong with a commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..card.rules import CARD_LOCAL, CardSet, validate
from ..errors import (
    AssetMetadataError,
    Problem,
)
from ..git import check_ref, check_url
from ..sources.gitstore import (
    Store,
    card_dir_at,
    keep_commit,
    manifest_at,
)
from .checkout import materialize
from .state import (
    PINNED_REF,
    StoreState,
    check_store_name,
    write_state,
)


def move_pin(store: Store, commit: str, cards: int, **changes: Any) -> StoreState:
    """Pin STORE at COMMIT: keep it reachable, put its files and its index in place, then
    switch the state file in one atomic step, with CHANGES to other fields of the state (a
    `cards pin` holds the store in the same write). Returns the new state."""
    paths, state, repo = store.paths, store.state, store.repo
    keep_commit(repo, commit)
    card_dir = card_dir_at(repo, commit)
    store.index(commit)  # usually built already, by the validation of COMMIT
    materialize(paths, repo, commit, card_dir)
    try:
        repo.update_ref(PINNED_REF, commit)
        new_state = replace(state, commit=commit, tree=repo.tree_of(commit), card_dir=card_dir,
                            cards=cards, synced_at=time.time(), verified_at=time.time(),
                            previous_commit=state.commit if state.commit != commit else
                            state.previous_commit, **changes)
        write_state(paths, new_state)
    except Exception:
        # The pin did not move: put the old commit's files back so that the checkout (what a
        # fairseq2 reading the root sees) agrees with the pin again.
        if paths.state_file.exists() and state.commit != commit:
            with contextlib.suppress(Exception):
                materialize(paths, repo, state.commit, state.card_dir)
        raise
    store.prune_indexes([c for c in (commit, new_state.previous_commit) if c])
    return new_state


def commit_problems(store: Store, commit: str,
                    tracked: Sequence[Store]) -> tuple[CardSet, list[Problem]]:
    """COMMIT's cards and what keeps it from being pinned: the built-in rules, the commit's
    own manifest rules, and duplicates with every other TRACKED store at its pin. A missing
    base and a relative path inherited across directories (rules.CARD_LOCAL) are not among
    them: they concern only the cards involved (a missing base says so when retrieved, as in
    fairseq2, whose own card set has one); `cards validate` and the hooks report them."""
    try:
        manifest = manifest_at(store.repo, commit)
    except AssetMetadataError as exc:  # a manifest that cannot be read: nothing else can
        return CardSet(store.name, []), exc.problems
    cards = store.card_set(commit)
    others = [s.card_set() for s in tracked if s.paths != store.paths]
    return cards, [p for p in validate(cards, others, manifest) if p.code not in CARD_LOCAL]


def check_add_args(name: str, url: str, ref: str | None) -> None:
    check_store_name(name)
    check_url(url)
    if ref is not None:
        check_ref(ref)


def problems_error(store: str, commit: str, problems: Sequence[Any]) -> AssetMetadataError:
    return AssetMetadataError(
        problems,
        f"store {store!r}: commit {commit[:12]} has invalid cards; not pinned:\n"
        + "\n".join(p.format() for p in problems),
    )
