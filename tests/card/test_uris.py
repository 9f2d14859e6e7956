"""The one URI parser and set of limits that validation and the download share."""

from __future__ import annotations

import pytest

from assetcards.card import uris
from assetcards.card.parse import parse_file
from assetcards.card.rules import CardSet, validate


def codes(text: str, path: str = "cards/a.yaml") -> list[tuple[str, str]]:
    found = validate(CardSet("here", [parse_file(text.encode(), path)]))
    return [(p.key, p.code) for p in found]


def test_problems_carry_codes_that_callers_decide_on() -> None:
    outside = uris.checkpoint_problem("../../w.pt", "cards/a.yaml")
    assert outside is not None and outside.code == uris.CHECKPOINT_OUTSIDE
    assert uris.checkpoint_problem("/data/w.pt") is None  # a local file, as in fairseq2
    windows = uris.checkpoint_problem("C:\\data\\w.pt")
    assert windows is not None and windows.code == uris.CHECKPOINT_ABSOLUTE
    assert uris.checkpoint_problem("../w.pt", "cards/a.yaml") is None
    malformed = uris.checkpoint_problem("http://[::1/x.pt")
    assert malformed is not None and malformed.code == uris.BAD_CHECKPOINT


def test_validation_reports_the_same_codes() -> None:
    model = "name: a\nmodel_family: llama\n"
    assert codes(model + "checkpoint: ../../w.pt\n") == [("checkpoint", "checkpoint-outside")]
    assert codes(model + "checkpoint: 'http://h/{shard_idx!r}'\nnum_shards: 0\n") == [
        ("checkpoint", "bad-shards"), ("num_shards", "bad-shards")]
    assert codes(model + "checkpoint: http://h/w.pt\ncheckpoint_size: [1, -1]\n") == [
        ("checkpoint_size", "bad-checkpoint-size")]
    assert codes(model + "checkpoint: 'http://h/{shard_idx:05d}.pt'\nnum_shards: 4096\n"
                 "checkpoint_size: {0: 10, 3: 20}\n") == []


@pytest.mark.parametrize("template", ["{shard_idx}", "{shard_idx:02d}", "{shard_idx:3}",
                                      "{shard_idx:032d}", "{{literal}}-{shard_idx}"])
def test_templates_that_stay_short_are_allowed(template: str) -> None:
    assert uris.template_problem("http://h/" + template) is None


@pytest.mark.parametrize("template", ["{shard_idx:033d}", "{shard_idx:>9}", "{shard_idx!s}",
                                      "{shard_idx:{x}}", "{shard_idx[0]}", "{}", "{rank}"])
def test_templates_that_could_grow_or_reach_attributes_are_refused(template: str) -> None:
    problem = uris.template_problem("http://h/" + template)
    assert problem is not None and problem.code == uris.BAD_SHARDS


@pytest.mark.parametrize(("uri", "name"), [
    ("http://h/a/consolidated.00.pth", "consolidated.00.pth"),
    ("http://h/a/%2Fetc%2Fpasswd", "checkpoint"),
    ("http://h/a/..%2F..%2Fw.pt", "checkpoint.pt"),
    ("http://h/a/w%00.bin", "checkpoint.bin"),
    ("http://h/a/", "checkpoint"),
    ("http://h/a/.hidden", "checkpoint.hidden"),
    ("http://h/a/" + "x" * 201, "checkpoint"),
    ("http://h/a/w.pt.1-abc.part", "checkpoint"),
    ("http://h/a/entry.json", "checkpoint.json"),
    ("http://h/a/w.pt?x=1#y", "w.pt"),
])
def test_cache_file_names(uri: str, name: str) -> None:
    assert uris.cache_file_name(uri, "checkpoint") == name


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "0", "-1", "abc", "", "86400.5"])
def test_seconds_are_finite_positive_and_bounded(text: str) -> None:
    with pytest.raises(ValueError) as info:
        uris.seconds(text, "X")
    assert str(info.value) == f"X must be a number of seconds from 0 (excluded) to 86400 (included), not {text!r}."


def test_seconds_and_bytes_that_are_fine() -> None:
    assert uris.seconds(" 2.5 ", "X") == 2.5 and uris.seconds("86400", "X") == 86400
    assert uris.byte_count("1000", "X") == 1000
    with pytest.raises(ValueError):
        uris.byte_count("1e3", "X")
