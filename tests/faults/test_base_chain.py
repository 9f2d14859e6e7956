"""One limit on base chains for validating and reading: a chain that validation accepts can be
read (`cards show`), and a longer one is reported by validation with its file and line instead
of passing and failing later."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from assetcards.card.model import MAX_BASE_DEPTH
from assetcards.locations import Locations
from assetcards.stores.state import StorePaths, read_state

from ..gitutil import make_repo, make_upstream
from ..storeutil import CARDS
from .helpers import cards


def _chain_file(count: int) -> str:
    """COUNT cards in one file, card k based on card k-1 (card k's chain holds k+1 cards);
    card k starts on line 4k+2."""
    docs = ["name: c0\ndescription: root\n"]
    docs += [f"name: c{k}\nbase: c{k - 1}\n" for k in range(1, count)]
    return "".join(f"---\n{d}\n" for d in docs)


def _problem(k: int, shown: str = "cards/chain.yaml") -> dict[str, object]:
    past = k - MAX_BASE_DEPTH
    return {"file": shown, "line": 4 * k + 3, "col": 1, "card": f"c{k}",
            "key": "base", "code": "base-too-deep",
            "message": f"base chain is longer than {MAX_BASE_DEPTH} cards, which readers "
                       f"refuse: c{k} -> c{k - 1} -> ... -> c{past + 2} -> c{past + 1} -> "
                       f"c{past} (cards/chain.yaml:{4 * past + 2}); make it shorter"}


def _shown(root: Path) -> str:
    return os.path.relpath(root / "cards" / "chain.yaml").replace(os.sep, "/")


def _store(tmp_path: Path, count: int) -> Path:
    root = Path(os.environ["FAIRSEQ2_ASSET_DIR"])
    (root / "cards").mkdir(parents=True)
    (root / "cards" / "chain.yaml").write_text(_chain_file(count))
    return root


def test_a_chain_at_the_limit_validates_and_reads(tmp_path: Path) -> None:
    root = _store(tmp_path, MAX_BASE_DEPTH)
    checked = cards("validate", "--no-tracked", str(root))
    assert checked.returncode == 0, checked.stdout
    shown = cards("show", f"c{MAX_BASE_DEPTH - 1}", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["fields"]["description"] == "root"


def test_one_card_past_the_limit_is_reported_and_not_read(tmp_path: Path) -> None:
    root = _store(tmp_path, MAX_BASE_DEPTH + 1)
    checked = cards("validate", "--no-tracked", "--json", str(root))
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["problems"] == [_problem(MAX_BASE_DEPTH, _shown(root))]
    shown = cards("show", f"c{MAX_BASE_DEPTH}")
    assert shown.returncode == 1
    assert f"longer than {MAX_BASE_DEPTH} cards" in shown.stderr


@pytest.mark.parametrize("source", ["directory", "commit"])
def test_a_5000_deep_chain_is_reported_card_by_card(tmp_path: Path, source: str) -> None:
    count = 5000
    if source == "directory":
        root = _store(tmp_path, count)
        checked = cards("validate", "--no-tracked", "--json", str(root), timeout=120)
    else:
        repo = make_repo(tmp_path / "repo", {"cards/chain.yaml": _chain_file(count)})
        checked = subprocess.run([CARDS, "validate", "--no-tracked", "--json", "--rev", "HEAD"],
                                 cwd=repo, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1
    problems = json.loads(checked.stdout)["problems"]
    assert len(problems) == count - MAX_BASE_DEPTH
    shown = _shown(root) if source == "directory" else "cards/chain.yaml"
    assert problems[0] == _problem(MAX_BASE_DEPTH, shown)
    assert problems[-1] == _problem(count - 1, shown)


def test_an_override_does_not_count_as_a_card_of_the_chain(tmp_path: Path) -> None:
    root = _store(tmp_path, MAX_BASE_DEPTH)
    last = f"c{MAX_BASE_DEPTH - 1}"
    (root / "cards" / "override.yaml").write_text(f"name: {last}@user\ndescription: mine\n")
    checked = cards("validate", "--no-tracked", str(root))
    assert checked.returncode == 0, checked.stdout


def test_store_add_refuses_a_chain_past_the_limit(tmp_path: Path,
                                                  locations: Locations) -> None:
    bare, _ = make_upstream(tmp_path, {"cards/chain.yaml": _chain_file(MAX_BASE_DEPTH + 1)})
    added = cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert "has invalid cards; not pinned" in added.stderr
    assert (f"cards/chain.yaml:{4 * MAX_BASE_DEPTH + 3}:1: c{MAX_BASE_DEPTH}: base chain is "
            f"longer than {MAX_BASE_DEPTH} cards") in added.stderr
    assert read_state(StorePaths(locations.user, "team")) is None
