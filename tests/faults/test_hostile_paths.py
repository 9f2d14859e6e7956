"""A relative checkpoint resolves against the file of the card retrieved (or of its `@user`
override), as fairseq2 reads it. A path that stays inside from the card that writes it can
lead outside from a card that inherits it, or from an override elsewhere: the sync refuses
such a commit, and a fetch judges the path where it resolves, never reading the file outside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assetcards.locations import Locations
from tests.gitutil import write
from tests.storeutil import card_upstream, run_cards

SECRET = b"not yours"
OUTSIDE = ("'checkpoint' path '../../w.pt' leads outside the card repository")

# (files under the store's cards/ or a root, the card fetched): each path is inside the store
# from the card that writes it.
CASES = {
    "base-two-levels-down": ({"a/b/fam.yaml": "name: fam\nmodel_family: llama\n"
                                              "checkpoint: ../../w.pt\n",
                              "leaf.yaml": "name: leaf\nbase: fam\nmodel_arch: x\n"}, "leaf"),
    "chain-through-a-middle-card": ({"a/b/fam.yaml": "name: fam\nmodel_family: llama\n"
                                                     "checkpoint: ../../w.pt\n",
                                     "a/b/mid.yaml": "name: mid\nbase: fam\n",
                                     "leaf.yaml": "name: leaf\nbase: mid\n"}, "leaf"),
    "override-elsewhere": ({"a/b/fam.yaml": "name: fam\nmodel_family: llama\n"
                                            "checkpoint: ../../w.pt\n",
                            "gpu.yaml": "name: fam@gpu\nnum_shards: 1\n"}, "fam@gpu"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_path_inside_from_its_card_but_outside_from_a_reader_is_never_pinned(
        case: str, tmp_path: Path) -> None:
    files, _ = CASES[case]
    write(tmp_path / "w.pt", SECRET.decode())
    bare, _ = card_upstream(tmp_path, files)
    added = run_cards("store", "add", "team", str(bare))
    assert added.returncode == 1
    assert f"cards/a/b/fam.yaml:3:1: fam: {OUTSIDE} from " in added.stderr
    assert "Traceback" not in added.stdout + added.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_fetch_never_reads_outside_from_the_card_retrieved(
        case: str, tmp_path: Path, locations: Locations) -> None:
    """Loose cards are read unvalidated: the fetch itself refuses."""
    files, name = CASES[case]
    root = locations.user / "deep"  # w.pt two levels above the card retrieved: the user root
    for rel, text in files.items():
        write(root / rel, text)
    victim = locations.user.parent / "w.pt"
    victim.write_bytes(SECRET)
    fetched = run_cards("fetch", name)
    assert (fetched.returncode, fetched.stdout) == (1, "")
    assert fetched.stderr.startswith(f"error: The card {name.split('@')[0]!r} cannot be "
                                     f"fetched: its {OUTSIDE}")
    assert "Traceback" not in fetched.stderr
    assert victim.read_bytes() == SECRET


def test_a_user_override_in_the_root_moves_the_path_outside(locations: Locations) -> None:
    """An `@user` card at the top of the user root changes the directory every relative path
    of the card resolves against: `../w.pt`, inside from `models/`, leaves the root."""
    write(locations.system / "models" / "m.yaml", "name: m\nmodel_family: llama\n"
          "checkpoint: ../w.pt\n")
    write(locations.user / "mine.yaml", "name: m@user\ndescription: mine\n")
    victim = locations.user.parent / "w.pt"
    victim.write_bytes(SECRET)
    fetched = run_cards("fetch", "m")
    assert (fetched.returncode, fetched.stdout) == (1, "")
    assert "'checkpoint' path '../w.pt' leads outside the card repository" in fetched.stderr
    assert victim.read_bytes() == SECRET
