"""Any bytes given to the parser and then the validator yield cards or problems: never another
exception. Random bytes, and bytes built from YAML's own pieces (indicators, anchors, aliases,
tags, nesting, odd encodings), which reach far deeper into the parser than noise does."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetcards.errors import Problem
from assetcards.manifest import Manifest
from assetcards.parse import ParsedFile, parse_file
from assetcards.validate import CardSet, validate
from tests.faults.helpers import SOAK

EXAMPLES = 3000 if SOAK else 300

PIECES = [b"name: ", b"base: ", b"checkpoint: ", b"model_family: llama\n", b"x", b"a@b",
          b"---\n", b"...\n", b"- ", b"? ", b": ", b"[", b"]", b"{", b"}", b",", b"&a ", b"*a",
          b"&b ", b"*b", b"<<: *a\n", b"!!python/object:os.system ", b"!!str ", b"!!binary ",
          b"!tag ", b"%YAML 1.1\n", b"%TAG ! tag:x,2000:\n", b"|\n", b">-\n", b"'", b'"',
          b"\\x00", b"\\u263a", b"#", b"\n", b"  ", b"\t", b"\r\n", b"\xef\xbb\xbf",
          b"\xff\xfe", b"\x00", b"\x85", b"\xe2\x80\xa8", b"~", b"null", b"1e309", b".inf",
          b"2024-01-01", b"0x1F", b"../../x", b"file:///etc/passwd", b"http://", b"TODO"]

yaml_like = st.lists(st.sampled_from(PIECES) | st.binary(max_size=8), max_size=60).map(
    b"".join)


def _check(data: bytes) -> None:
    parsed = parse_file(data, "cards/fuzz.yaml")
    assert isinstance(parsed, ParsedFile)
    other = parse_file(b"name: a\nmodel_family: llama\ncheckpoint: x.pt\n", "cards/a.yaml")
    problems = validate(CardSet("fuzz", [parsed]), [CardSet("other", [other])], Manifest())
    assert all(isinstance(p, Problem) and p.format() for p in problems)
    for card in parsed.cards:
        assert isinstance(card.name, str) and card.name


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_parse_and_validate(data: bytes) -> None:
    _check(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_like)
def test_yaml_like_bytes_parse_and_validate(data: bytes) -> None:
    _check(data)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30),
       st.sampled_from(["name", "base", "checkpoint", "model_family", "checkpoint_sha256"]))
def test_any_field_value_validates(value: object, key: str) -> None:
    doc = {"name": "card", "model_family": "llama", "checkpoint": "x.pt", key: value}
    _check(yaml.safe_dump(doc).encode())
