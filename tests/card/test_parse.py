"""Parsing card files: every bad input becomes a Problem with file, line and column."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetcards.card.parse import (
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    check_name,
    is_card_path,
    parse_file,
)
from assetcards.sources.source import STORE_MARKER, DirectorySource


def problems_of(text: str | bytes, file: str = "cards/a.yaml") -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    result = parse_file(data, file)
    assert not result.cards, result.cards
    return [p.format() for p in result.problems]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# -- good input --------------------------------------------------------------------------------


def test_several_documents_per_file_with_lines() -> None:
    data = dedent("""
        name: a
        model_family: llama
        ---
        # a comment
        name: b@gpu
        nested:
          x: [1, 2]
        """)
    result = parse_file(data.encode(), "f.yaml")
    assert result.problems == []
    assert [(c.name, c.file, c.line, c.col) for c in result.cards] == [
        ("a", "f.yaml", 1, 1), ("b@gpu", "f.yaml", 5, 1)]
    assert result.cards[0].metadata == {"name": "a", "model_family": "llama"}
    assert result.cards[1].metadata["nested"] == {"x": [1, 2]}
    assert result.cards[1].key_line("nested") == 6
    assert result.cards[1].key_line("absent") == 5


@pytest.mark.parametrize("data", [b"", b"# only a comment\n", b"\n\n"])
def test_a_file_without_documents_is_no_problem(data: bytes) -> None:
    result = parse_file(data, "f.yaml")
    assert result.cards == [] and result.problems == []


@pytest.mark.parametrize("data", [b"---\n---\n", b"---\n...\n", b"~\n", b"---\n# note\n"])
def test_an_empty_document_is_a_problem(data: bytes) -> None:
    """fairseq2 (0.3 and 0.8) refuses a whole directory for one empty document."""
    result = parse_file(data, "f.yaml")
    assert result.cards == []
    assert [p.code for p in result.problems] and {p.code for p in result.problems} == {
        "empty-document"}


def test_empty_documents_between_cards_are_reported_and_the_cards_kept() -> None:
    result = parse_file(b"---\nname: a\n---\n---\n\n---\nname: b\n---\n", "f.yaml")
    assert [c.name for c in result.cards] == ["a", "b"]
    assert [(p.line, p.code) for p in result.problems] == [
        (4, "empty-document"), (6, "empty-document"), (9, "empty-document")]


def test_byte_order_mark_and_utf16_are_read() -> None:
    assert [c.name for c in parse_file(b"\xef\xbb\xbfname: a\n", "f.yaml").cards] == ["a"]
    assert [c.name for c in parse_file("name: a\n".encode("utf-16"), "f.yaml").cards] == ["a"]


# -- YAML syntax ---------------------------------------------------------------------------------


def test_syntax_error_has_line_and_column() -> None:
    assert problems_of("name: a\nx: [1, 2\n") == [
        "cards/a.yaml:3:1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence)"]
    assert problems_of("name: a\n  bad: indent\n") == [
        "cards/a.yaml:2:6: YAML syntax error: mapping values are not allowed in this context"]
    assert problems_of("name: a\n\tx: 1\n") == [
        "cards/a.yaml:2:1: YAML syntax error: found a tab character that violates indentation "
        "(while scanning a plain scalar)"]


def test_syntax_error_keeps_the_cards_before_it() -> None:
    result = parse_file(b"name: a\n---\nname: [\n", "f.yaml")
    assert [c.name for c in result.cards] == ["a"]
    assert [p.code for p in result.problems] == ["syntax"]
    assert result.problems[0].line == 4


# -- shape ---------------------------------------------------------------------------------------


def test_document_that_is_not_a_mapping() -> None:
    assert problems_of("- 1\n- 2\n") == [
        "cards/a.yaml:1:1: document is a list, not a mapping (a card is a mapping of fields)"]
    result = parse_file(b"name: a\n---\nhello\n", "f.yaml")
    assert [c.name for c in result.cards] == ["a"]
    assert [p.format() for p in result.problems] == [
        "f.yaml:3:1: document is a scalar, not a mapping (a card is a mapping of fields)"]


def test_missing_name() -> None:
    assert problems_of("model_family: llama\n") == ["cards/a.yaml:1:1: card has no 'name' field"]
    assert problems_of("---\nx: 1\n") == ["cards/a.yaml:2:1: card has no 'name' field"]


@pytest.mark.parametrize(("text", "message"), [
    ("x: 1\nname: 'a b'\n", "cards/a.yaml:2:1: a b: name 'a b' is not valid: use letters, "
     "digits, '_', '-' and '.', with an optional '@env' suffix"),
    ("name: a@b@c\n", "cards/a.yaml:1:1: a@b@c: name 'a@b@c' is not valid: use letters, digits, "
     "'_', '-' and '.', with an optional '@env' suffix"),
    ("name: a/b\n", "cards/a.yaml:1:1: a/b: name 'a/b' is not valid: use letters, digits, "
     "'_', '-' and '.', with an optional '@env' suffix"),
    ("name: '@user'\n", "cards/a.yaml:1:1: @user: name '@user' is not valid: use letters, "
     "digits, '_', '-' and '.', with an optional '@env' suffix"),
    ("name: ''\n", "cards/a.yaml:1:1: 'name' is empty"),
    ("name: 12\n", "cards/a.yaml:1:1: 'name' must be a string, not int"),
    ("name:\n", "cards/a.yaml:1:1: 'name' must be a string, not NoneType"),
    ("name: [a]\n", "cards/a.yaml:1:1: 'name' must be a string, not list"),
    ("x: 1\n\nname: " + "n" * 201 + "\n",
     "cards/a.yaml:3:1: " + "n" * 201 + ": 'name' is longer than 200 characters"),
])
def test_malformed_name(text: str, message: str) -> None:
    assert problems_of(text) == [message]


@pytest.mark.parametrize("name", ["a", "llama3_8b", "nllb-200", "qwen2.5", "A.b-c_9@gpu",
                                  "x@user"])
def test_well_formed_names(name: str) -> None:
    assert check_name(name) is None
    assert [c.name for c in parse_file(f"name: {name}\n".encode(), "f.yaml").cards] == [name]


def test_non_string_keys_are_reported_where_they_stand() -> None:
    assert problems_of("name: a\n1: x\n") == ["cards/a.yaml:2:1: a: field name 1 is not a string"]
    assert problems_of("name: a\nx: 1\ntrue: y\n") == [
        "cards/a.yaml:3:1: a: field name True is not a string"]


def test_unhashable_key() -> None:
    assert problems_of("name: a\n? [1, 2]\n: x\n") == [
        "cards/a.yaml:2:3: field name is not a string (a list or mapping used as a key)"]


# -- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("name: a\nx: !!python/object/apply:os.system ['echo owned']\n",
     "cards/a.yaml:2:4: unsafe or unknown YAML tag '!!python/object/apply:os.system' is not "
     "allowed in a card"),
    ("name: a\nx: !!python/name:os.system\n",
     "cards/a.yaml:2:4: unsafe or unknown YAML tag '!!python/name:os.system' is not allowed in "
     "a card"),
    ("name: a\nx: !!python/object:os.Foo {a: 1}\n",
     "cards/a.yaml:2:4: unsafe or unknown YAML tag '!!python/object:os.Foo' is not allowed in "
     "a card"),
    ("name: a\nx: !custom value\n",
     "cards/a.yaml:2:4: unsafe or unknown YAML tag '!custom' is not allowed in a card"),
])
def test_unsafe_tags_are_refused(text: str, message: str, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    assert problems_of(text.replace("echo owned", f"touch {marker}")) == [message]
    assert not marker.exists()


def test_file_over_the_size_limit() -> None:
    data = b"name: a\ndescription: " + b"x" * 200 + b"\n"
    result = parse_file(data, "big.yaml", max_bytes=100)
    assert result.cards == []
    assert [p.format() for p in result.problems] == [
        f"big.yaml:1:1: file is {len(data)} bytes, over the limit of 100"]


def test_directory_reports_a_file_over_the_size_limit_without_reading_it(tmp_path: Path) -> None:
    from assetcards.card import parse

    (tmp_path / "big.yaml").write_bytes(b"name: a\n#" + b"x" * (parse.MAX_FILE_BYTES + 10))
    (tmp_path / "ok.yaml").write_text("name: ok\n")
    parsed = DirectorySource(tmp_path).parse()
    assert [(p.file, [c.name for c in p.cards]) for p in parsed] == [("big.yaml", []),
                                                                     ("ok.yaml", ["ok"])]
    assert parsed[0].problems[0].format() == (
        f"big.yaml:1:1: file is {parse.MAX_FILE_BYTES + 19} bytes, over the limit of "
        f"{parse.MAX_FILE_BYTES}")


BILLION_LAUGHS = dedent("""
    name: lol
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    """)


def test_alias_bomb_fails_fast_without_expanding() -> None:
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    result = parse_file(BILLION_LAUGHS.encode(), "bomb.yaml")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [p.format() for p in result.problems] == [
        f"bomb.yaml:1:1: YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
        "(an alias bomb?)"]
    assert result.cards == []
    assert elapsed < 0.5
    assert peak < 5 * 1024 * 1024  # the expansion (9**9 strings) would need gigabytes


def test_alias_bomb_in_a_later_document_keeps_the_good_cards() -> None:
    result = parse_file(("name: good\n---\n" + BILLION_LAUGHS + "---\nname: after\n").encode(),
                        "bomb.yaml")
    assert [c.name for c in result.cards] == ["good", "after"]
    assert [(p.line, p.code) for p in result.problems] == [(3, "alias-bomb")]


def test_modest_aliases_are_fine() -> None:
    result = parse_file(b"name: a\ncommon: &c {x: 1}\nother: *c\n<<: *c\n", "f.yaml")
    assert result.problems == []
    assert result.cards[0].metadata == {"name": "a", "common": {"x": 1}, "other": {"x": 1},
                                        "x": 1}


@pytest.mark.parametrize("text", ["name: a\nx: &r [*r]\n", "name: a\nx: &r {y: *r}\n"])
def test_recursive_alias(text: str) -> None:
    assert problems_of(text) == [
        "cards/a.yaml:2:4: recursive YAML alias is not allowed in a card"]


def test_moderate_nesting_is_allowed() -> None:
    depth = MAX_DEPTH - 2
    data = "name: a\nx: " + "[" * depth + "]" * depth + "\n"
    result = parse_file(data.encode(), "f.yaml")
    assert result.problems == [] and [c.name for c in result.cards] == ["a"]


@pytest.mark.parametrize(("data", "where"), [
    ("name: a\nx: " + "[" * 100 + "]" * 100 + "\n", "2:67"),
    ("name: a\nx: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "2:256"),
    ("".join(" " * i + f"k{i}:\n" for i in range(100)) + " " * 100 + "v\n", "65:65"),
    ("".join(" " * i + f"k{i}:\r\n" for i in range(100)) + " " * 100 + "v\r\n", "65:65"),
])
def test_nesting_beyond_the_limit_is_a_problem_whatever_the_size(data: str, where: str) -> None:
    problems = problems_of(data)
    assert len(problems) == 1
    assert problems[0].endswith(f": nested deeper than {MAX_DEPTH} levels")
    assert problems[0].startswith(f"cards/a.yaml:{where}:"), problems


DEEP_CASES = {
    "flow-seq": "b'[' * 100_000",
    "flow-map": "b'{' * 100_000",
    "flow-closed": "b'name: a\\nx: ' + b'[' * 100_000 + b']' * 100_000",
    "block-seq": "b'- ' * 100_000 + b'x\\n'",
    "block-seq-lines": "b''.join(b' ' * i + b'-\\n' for i in range(3_000)) + b' ' * 3_000 + b'x\\n'",
    "block-map-crlf": "b'name: a\\r\\n' + b''.join(b' ' * i + b'k:\\r\\n' for i in range(3_000)) + b' ' * 3_000 + b'v\\r\\n'",
    "complex-keys": "b'? ' * 100_000 + b'x\\n'",
    "anchored": "b'&a [' * 100_000",
}


@pytest.mark.parametrize("case", sorted(DEEP_CASES))
def test_very_deep_nesting_is_a_problem_not_a_crash(case: str) -> None:
    """Run in a child process: a crash of libyaml or the interpreter fails the test instead of
    killing pytest."""
    script = (
        "from assetcards.card.parse import parse_file\n"
        "from assetcards.sources.providers import InProcAssetMetadataProvider\n"
        f"data = {DEEP_CASES[case]}\n"
        "result = parse_file(data, 'deep.yaml')\n"
        "for card in result.cards:\n"
        "    InProcAssetMetadataProvider([card.metadata]).get_metadata(card.name)\n"
        "print(len(result.cards), [p.code for p in result.problems])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "0 ['too-deep']", proc.stdout


@pytest.mark.parametrize("data", [b"\x00\x01\x02\xff\xfe\x89PNG", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_binary_content_named_yaml(data: bytes) -> None:
    result = parse_file(data, "model.yaml")
    assert result.cards == []
    assert len(result.problems) == 1
    assert result.problems[0].code == "not-text"
    assert result.problems[0].format().startswith("model.yaml:1:")


def test_invalid_utf8_names_the_byte() -> None:
    assert problems_of(b"name: a\ndescription: caf\xe9\n") == [
        "cards/a.yaml:2:17: not a YAML text file: incomplete UTF-8 octet sequence (byte 24)"]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=st.sampled_from(list("name:ab1 -[]{}&*!?|>'\"#\n\t,@%.~")), max_size=200)
    .map(lambda s: ("name: a\n" + s).encode()),
))
def test_any_bytes_give_cards_or_problems_never_an_exception(data: bytes) -> None:
    result = parse_file(data, "fuzz.yaml")
    for card in result.cards:
        assert check_name(card.name) is None
        assert all(isinstance(k, str) for k in card.metadata)
    for problem in result.problems:
        assert problem.file == "fuzz.yaml" and problem.line >= 1 and problem.message


# -- which files are cards -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("a.yaml", True), ("dir/a.yml", True), ("a.json", False), ("a.yaml.bak", False),
    (".github/workflows/ci.yaml", False), ("x/.git/config.yaml", False), (".hidden.yaml", False),
    ("x/.hidden.yaml", False), ("a.b/c.yaml", True), ("x./y.yml", True),
])
def test_is_card_path(path: str, expected: bool) -> None:
    assert is_card_path(path) is expected


def test_directory_scan_skips_hidden_directories_and_store_checkouts(tmp_path: Path) -> None:
    files = {
        "top.yaml": "name: top\n",
        "family/sub.yml": "name: sub\n",
        "family/notes.txt": "name: nope\n",
        ".git/cards.yaml": "name: in_git\n",
        ".github/workflows/ci.yaml": "name: ci\non: push\n",
        "family/.cache/x.yaml": "name: hidden\n",
        f"mystore/{STORE_MARKER}/placeholder": "",
        "mystore/cards/a.yaml": "name: checkout_card\n",
        "clone/.git/HEAD": "ref: refs/heads/main\n",
        "clone/b.yaml": "name: clone_card\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    parsed = DirectorySource(tmp_path).parse()
    assert sorted(p.file for p in parsed) == ["family/sub.yml", "top.yaml"]
    assert sorted(c.name for p in parsed for c in p.cards) == ["sub", "top"]


def test_a_field_given_twice_is_a_problem_at_its_second_line() -> None:
    result = parse_file(b"name: a\ncheckpoint: x.pt\ndescription: d\ncheckpoint: y.pt\n",
                        "cards/a.yaml")
    assert result.cards == []
    assert [p.format() for p in result.problems] == [
        "cards/a.yaml:4:1: a: field 'checkpoint' is given twice (first on line 2); YAML would "
        "keep only the last"]


def test_many_cards_in_one_file_parse_without_the_depth_scan() -> None:
    text = "".join(f"---\nname: c{i}\nmodel_family: f\nmodel_arch: a\ncheckpoint: c.pt\n"
                   for i in range(300)).encode()
    result = parse_file(text, "many.yaml")
    assert len(result.cards) == 300 and result.problems == []


_TRICKY = [
    "name: a\nx: 0x1F\ny: 0o17\nz: 1_000\nw: -2.5e3\nv: .inf\nu: ~\nt: yes\ns: 'yes'\n",
    "name: a\nd: 2024-05-01\ndt: 2024-05-01T10:20:30Z\nb: !!binary aGVsbG8=\n",
    "name: a\nnested: {k: [1, 2, {x: null}], 'q': \"quoted\"}\nempty: []\nnone: {}\n",
    "name: a\nbase: &b {p: 1}\nmerged: {<<: *b, q: 2}\n",
    "name: a\nmerged:\n  <<: {p: 1}\n  q: 2\nset: !!set {x, y}\nomap: !!omap [a: 1]\n",
    "name: a\n1: int key\nnested: {2: x}\n",
    "name: a\nlong: >\n  folded\n  text\nlit: |\n  kept\n  lines\n",
    "name: a\nstr: !!str 123\nflt: !!float 1\n",
    # the same text plain and quoted: tag resolution is remembered, and must not mix them up
    "name: a\nq: '12'\np: 12\nr: \"true\"\ns: true\nt: 'null'\nu: null\nv: [12, '12']\n",
]


@pytest.mark.parametrize("text", _TRICKY)
def test_values_are_exactly_what_pyyaml_builds(text: str) -> None:
    import yaml

    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    result = parse_file(text.encode(), "a.yaml")
    if result.cards:
        assert dict(result.cards[0].metadata) == expected
        again = parse_file(text.encode(), "a.yaml")  # now with every resolution remembered
        assert dict(again.cards[0].metadata) == expected
    else:  # a non-string key is refused, not silently changed
        assert any(p.code == "bad-key" for p in result.problems) or not all(
            isinstance(k, str) for k in expected)


@pytest.mark.parametrize("name", ["..", ".", "-", "a@..", "--.@x"])
def test_names_of_only_dots_and_dashes_are_refused(name: str) -> None:
    assert check_name(name) == (f"name {name!r} is not valid: it needs a letter, a digit or '_' "
                                "(before and after any '@')")
