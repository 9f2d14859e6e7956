"""Any bytes given to the parser and then the validator yield cards or problems: never another
exception. Random bytes, and bytes built from YAML's own pieces (indicators, anchors, aliases,
tags, nesting, odd encodings), which reach far deeper into the parser than noise does. Then
what else comes from outside: file names, assetcards.toml values, settings and option
values."""

from __future__ import annotations

import os

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetcards.card.manifest import MANIFEST_NAME, Manifest, parse_manifest
from assetcards.card.parse import ParsedFile, parse_file
from assetcards.card.rules import CardSet, validate
from assetcards.checks import targets as checks
from assetcards.cli.main import main
from assetcards.errors import AssetError, Problem
from assetcards.settings import Range, SettingError, parse_float
from assetcards.sources.providers import FileAssetMetadataProvider
from assetcards.sources.source import DirectorySource
from tests.faults.helpers import SOAK

EXAMPLES = 3000 if SOAK else 300

PIECES = [b"name: ", b"base: ", b"checkpoint: ", b"model_family: llama\n", b"x", b"a@b",
          b"---\n", b"...\n", b"- ", b"? ", b": ", b"[", b"]", b"{", b"}", b",", b"&a ", b"*a",
          b"&b ", b"*b", b"<<: *a\n", b"!!python/object:os.system ", b"!!str ", b"!!binary ",
          b"!tag ", b"--- !!set\n", b"--- !!omap\n", b"!!pairs ", b"!!set ", b"!!map ",
          b"!!seq ", b"!!timestamp ", b"!!null ", b"--- !!binary ", b"%YAML 1.1\n", b"%TAG ! tag:x,2000:\n", b"|\n", b">-\n", b"'", b'"',
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


# -- file names -------------------------------------------------------------------------------

_names = st.binary(min_size=1, max_size=24).filter(  # a hidden file is never a card file
    lambda b: b"/" not in b and b"\x00" not in b and not b.startswith(b".")).map(
    lambda b: b + b".yaml")


@settings(max_examples=EXAMPLES // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_names, min_size=1, max_size=4, unique=True))
def test_any_file_name_is_read_listed_and_reported(tmp_path_factory: pytest.TempPathFactory,
                                                   names: list[bytes]) -> None:
    root = tmp_path_factory.mktemp("names")
    for raw in names:
        with open(os.path.join(os.fsencode(root), raw), "wb") as handle:
            handle.write(b"name: x\n")
    parsed = DirectorySource(root).parse()
    report = checks.check(checks.directory_target(root))
    for style in ("text", "json", "github"):
        checks.format_report(report, style).encode("utf-8")  # printable, storable
    provider = FileAssetMetadataProvider(root, cache_dir=tmp_path_factory.mktemp("cache"))
    assert sorted(provider.get_names()) in ([], ["x"])
    assert len(parsed) == len(names)


# -- assetcards.toml values -------------------------------------------------------------------

_toml_values = st.recursive(
    st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3), max_leaves=8)


@settings(max_examples=EXAMPLES // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["cards", "against", "rules", "x"]), _toml_values,
                       max_size=3))
def test_any_manifest_value_is_read_or_refused(tmp_path_factory: pytest.TempPathFactory,
                                               store: dict[str, object]) -> None:
    root = tmp_path_factory.mktemp("manifest")
    (root / "cards").mkdir()
    (root / "cards" / "a.yaml").write_text("name: a\n")
    text = tomli_w.dumps({"store": store})
    (root / MANIFEST_NAME).write_text(text)
    try:
        parse_manifest(text.encode(), MANIFEST_NAME)
        target = checks.directory_target(root)
        checks.check(target)
    except AssetError:
        pass


# -- settings and option values ---------------------------------------------------------------


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=30))
def test_any_setting_text_is_a_number_in_range_or_a_setting_error(text: str) -> None:
    accepted = Range(0, 86400, low_open=True, unit="of seconds")
    try:
        value = parse_float("SOME_TIMEOUT", text, accepted)
    except SettingError as exc:
        assert str(exc).startswith("SOME_TIMEOUT must be a number of seconds from 0")
    else:
        assert 0 < value <= 86400


@settings(max_examples=EXAMPLES // 3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=20).filter(
    lambda t: not t.startswith("-") or t.lstrip("-")[:1].isdigit()))
def test_any_lock_timeout_is_used_or_a_usage_error(value: str) -> None:
    code = main(["sync", "--lock-timeout", value])
    assert code in (0, 2)
