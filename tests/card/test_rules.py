"""One test per check of assetcards.card.rules, each with its exact message and line."""

from __future__ import annotations

import pytest

from assetcards.card.manifest import parse_manifest
from assetcards.card.parse import parse_file
from assetcards.card.rules import CardSet, checkpoint_problem, validate


def card_set(label: str, files: dict[str, str]) -> CardSet:
    return CardSet(label, [parse_file(text.encode(), path) for path, text in files.items()])


def problems(files: dict[str, str], others: tuple[CardSet, ...] = (), manifest: str = "",
             only: set[str] | None = None) -> list[str]:
    parsed = parse_manifest(manifest.encode()) if manifest else None
    return [p.format() for p in validate(card_set("here", files), others, parsed, only)]


FAMILY = "name: fam\nmodel_family: llama\n"


def test_valid_cards_have_no_problem() -> None:
    files = {"cards/a.yaml": FAMILY + "---\nname: a\nbase: fam\nmodel_arch: x\n"
             "checkpoint: https://example.com/a.pt\n---\nname: a@gpu\nbase: a\n"}
    assert problems(files) == []


def test_yaml_syntax_error() -> None:
    assert problems({"a.yaml": "name: a\nx: [1, 2\n"}) == [
        "a.yaml:3:1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence)"]


def test_document_not_a_mapping() -> None:
    assert problems({"a.yaml": "name: a\n---\n- 1\n- 2\n"}) == [
        "a.yaml:3:1: document is a list, not a mapping (a card is a mapping of fields)"]


def test_missing_name() -> None:
    assert problems({"a.yaml": "x: 1\n"}) == ["a.yaml:1:1: card has no 'name' field"]


def test_malformed_name() -> None:
    assert problems({"a.yaml": "x: 1\nname: 'bad name'\n"}) == [
        "a.yaml:2:1: bad name: name 'bad name' is not valid: use letters, digits, '_', '-' "
        "and '.', with an optional '@env' suffix"]


def test_model_card_without_checkpoint() -> None:
    assert problems({"a.yaml": "description: d\nname: a\nmodel_family: llama\n"}) == [
        "a.yaml:2:1: a: model card has no 'checkpoint' (add a URI or a path relative to "
        "the card file)"]


def test_checkpoint_not_needed_on_a_card_used_as_base_nor_on_overrides() -> None:
    files = {"a.yaml": FAMILY + "---\nname: a\nbase: fam\ncheckpoint: a.pt\n---\n"
             "name: a@gpu\nmodel_arch: y\n"}
    assert problems(files) == []


def test_checkpoint_inherited_through_base_counts() -> None:
    files = {"a.yaml": FAMILY + "checkpoint: w.pt\n---\nname: a\nbase: fam\n"}
    assert problems(files) == []


def test_missing_base() -> None:
    assert problems({"a.yaml": "name: a\n\nbase: nope\n"}) == [
        "a.yaml:3:1: a: base card 'nope' does not exist here or in any tracked store"]


def test_base_found_in_another_store() -> None:
    other = card_set("other", {"o.yaml": FAMILY})
    assert problems({"a.yaml": "name: a\nbase: fam\ncheckpoint: a.pt\n"}, (other,)) == []


def test_base_not_a_name() -> None:
    assert problems({"a.yaml": "name: a\nbase: [x]\n"}) == [
        "a.yaml:2:1: a: 'base' must be a card name, not list"]


def test_base_cycle() -> None:
    files = {"a.yaml": "name: a\nbase: b\n---\nname: b\nbase: a\n"}
    assert problems(files) == [
        "a.yaml:2:1: a: base chain loop: a -> b -> a",
        "a.yaml:5:1: b: base chain loop: b -> a -> b",
    ]


def test_override_without_plain_card() -> None:
    assert problems({"a.yaml": "name: a@gpu\nx: 1\n"}) == [
        "a.yaml:1:1: a@gpu: override card 'a@gpu' has no card 'a' to override"]


@pytest.mark.parametrize(("value", "message"), [
    ("ftp://host/x.pt", "'checkpoint' uses the scheme 'ftp'; use one of az, file, gs, hf, hg, "
                        "http, https, s3 or a relative path"),
    ("https:x.pt", "'checkpoint' 'https:x.pt' is not a well-formed URI (expected https://...)"),
    ("C:/x.pt", "'checkpoint' 'C:/x.pt' is a Windows path; use a POSIX path, a file:// URI or "
                "a path relative to the card file"),
    ("../../x.pt", "'checkpoint' path '../../x.pt' leads outside the card repository"),
    (" x.pt", "'checkpoint' contains control characters or surrounding spaces"),
])
def test_bad_checkpoint(value: str, message: str) -> None:
    files = {"cards/a.yaml": f"name: a\nmodel_arch: x\ncheckpoint: {value!r}\n"}
    assert problems(files) == [f"cards/a.yaml:3:1: a: {message}"]


def test_checkpoint_values() -> None:
    assert checkpoint_problem(5) == ("'checkpoint' must be a non-empty string (a URI or a "
                                     "path)")
    assert checkpoint_problem("/data/ckpt/model.pt", "cards/a.yaml") is None  # as in fairseq2
    assert checkpoint_problem("../w.pt", "cards/a.yaml") is None
    assert checkpoint_problem("file:///data/w.pt") is None
    assert checkpoint_problem("C:/w.pt") is not None


def test_duplicate_within_the_store_names_every_place() -> None:
    files = {"a.yaml": "name: x\n", "b.yaml": "y: 1\nname: x\n"}
    assert problems(files) == [
        "a.yaml:1:1: x: duplicate card name 'x': also defined in here: b.yaml:1",
        "b.yaml:2:1: x: duplicate card name 'x': also defined in here: a.yaml:1",
    ]


def test_duplicate_across_stores() -> None:
    other = card_set("system-store", {"cards/o.yaml": "name: z\n---\nname: x\n"})
    assert problems({"a.yaml": "name: x\n"}, (other,)) == [
        "a.yaml:1:1: x: duplicate card name 'x': also defined in system-store: cards/o.yaml:3"]


def test_manifest_required_field() -> None:
    manifest = '[rules.model]\nrequired = ["model_arch"]\n'
    files = {"a.yaml": "name: a\nmodel_family: llama\ncheckpoint: a.pt\n"}
    assert problems(files, manifest=manifest) == [
        "a.yaml:1:1: a: model card has no 'model_arch' (the store requires it for model cards)"]


def test_manifest_required_field_not_asked_of_family_cards() -> None:
    manifest = '[rules.model]\nrequired = ["model_arch"]\n'
    files = {"a.yaml": FAMILY + "---\nname: a\nbase: fam\nmodel_arch: x\ncheckpoint: a.pt\n"}
    assert problems(files, manifest=manifest) == []


def test_manifest_allowed_values() -> None:
    manifest = '[rules.all.allowed]\nlicense = ["mit", "apache-2.0"]\n'
    assert problems({"a.yaml": "name: a\nlicense: gpl\n"}, manifest=manifest) == [
        "a.yaml:2:1: a: 'license' is 'gpl'; the store allows 'mit', 'apache-2.0'"]


def test_placeholders() -> None:
    files = {"a.yaml": "name: a\ncheckpoint: TODO\ndescription: 'TODO: say what'\n"}
    assert problems(files) == [
        "a.yaml:2:1: a: field 'checkpoint' is a placeholder; fill it in",
        "a.yaml:3:1: a: field 'description' is a placeholder; fill it in",
    ]


def test_only_files_reports_those_files_with_the_rest_as_context() -> None:
    files = {"a.yaml": "name: x\n", "b.yaml": "name: x\n", "c.yaml": "name: c\nbase: x\n"}
    assert problems(files, only={"c.yaml"}) == []
    assert problems(files, only={"b.yaml"}) == [
        "b.yaml:1:1: x: duplicate card name 'x': also defined in here: a.yaml:1"]


def test_removed_names_report_their_users_in_unchanged_files() -> None:
    files = {"a.yaml": "name: a2\n", "b.yaml": "name: b\nbase: a\n", "c.yaml": "name: a@gpu\n"}
    parsed = card_set("here", files)
    found = [p.format() for p in validate(parsed, only_files={"a.yaml"}, removed_names={"a"})]
    assert found == [
        "b.yaml:2:1: b: base card 'a' does not exist here or in any tracked store; did you "
        "mean 'a2'?",
        "c.yaml:1:1: a@gpu: override card 'a@gpu' has no card 'a' to override"]
