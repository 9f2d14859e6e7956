"""assetcards.checks.scaffold: the fields of a new card and where it is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from assetcards.checks.scaffold import card_fields, new_card, render
from assetcards.errors import AssetError, AssetNotFoundError, UnsafeInputError

from ..gitutil import write_files


def test_fields_of_a_new_model_of_a_family() -> None:
    assert card_fields("m", None, None, "llama", ["tokenizer"]) == {
        "name": "m", "model_family": "llama", "model_arch": "TODO", "checkpoint": "TODO",
        "tokenizer": "TODO", "description": "TODO: one line about this card"}


def test_fields_inherited_from_the_base_are_not_repeated() -> None:
    base = {"model_family": "llama", "model_arch": "x"}
    assert card_fields("m", base, "fam", "llama") == {
        "name": "m", "base": "fam", "checkpoint": "TODO",
        "description": "TODO: one line about this card"}


def test_new_card_layout_and_refusals(tmp_path: Path) -> None:
    write_files(tmp_path, {"assetcards.toml": '[store]\ncards = "cards"\n',
                           "cards/t.yaml": "name: taken\n"})
    path = new_card("tok", tmp_path)
    assert path == tmp_path / "cards" / "tok.yaml"
    assert path.read_text() == render({"name": "tok",
                                       "description": "TODO: one line about this card"})
    assert new_card("m", tmp_path, family="mistral") == tmp_path / "cards/mistral/m.yaml"
    with pytest.raises(AssetError, match="a card named 'taken' already exists: cards/t.yaml:1"):
        new_card("taken", tmp_path)
    with pytest.raises(AssetNotFoundError, match="base card 'nope' does not exist"):
        new_card("x", tmp_path, base="nope")
    with pytest.raises(UnsafeInputError, match="is not valid"):
        new_card("../x", tmp_path)
    with pytest.raises(UnsafeInputError, match="family '../up' is not valid"):
        new_card("y", tmp_path, family="../up")
