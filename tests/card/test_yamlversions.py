"""Values that YAML 1.1 (us, fairseq2 0.3) and YAML 1.2 (fairseq2 0.8) read differently are
reported with the spelling that reads the same to both; everything else is left alone."""

from __future__ import annotations

import pytest

from assetcards.card.parse import parse_file
from assetcards.card.yamlversions import may_differ, read_as_12


@pytest.mark.parametrize(("value", "reads_11", "advice"), [
    ("yes", "True", "write true for a boolean, or quote it ('yes') for a string"),
    ("Off", "False", "write false for a boolean, or quote it ('Off') for a string"),
    ("0755", "493", "write 493 for the number, or quote it ('0755') for a string"),
    ("1:30", "90", "write 90 for the number, or quote it ('1:30') for a string"),
    ("1_000", "1000", "write 1000 for the number"),
    ("0b101", "5", "write 5 for the number"),
    ("-0x1F", "-31", "write -31 for the number"),
    ("1e3", "'1e3'", "quote it ('1e3') for a string"),
    ("0o17", "'0o17'", "quote it ('0o17') for a string"),
    ("2024-01-02", "datetime.date(2024, 1, 2)", "quote it ('2024-01-02') for a string"),
])
def test_a_value_read_differently_is_reported_with_its_fix(value: str, reads_11: str,
                                                            advice: str) -> None:
    result = parse_file(f"name: a\nx: 1\nfield: {value}\n".encode(), "cards/a.yaml")
    assert [c.name for c in result.cards] == ["a"]  # still read, as YAML 1.1 reads it
    [problem] = result.problems
    assert (problem.line, problem.col, problem.card, problem.key, problem.code) == (
        3, 8, "a", "field", "yaml-version")
    assert f"{value!r} reads as {reads_11} in YAML 1.1" in problem.message
    assert advice in problem.message


def test_nested_values_are_found_with_their_path() -> None:
    result = parse_file(b"name: a\nmodel_config: {opts: [1, no], flag: on}\n", "f.yaml")
    assert [(p.line, p.key, p.message.split(":")[0]) for p in result.problems] == [
        (2, "model_config", "field 'model_config.opts[1]'"),
        (2, "model_config", "field 'model_config.flag'")]


@pytest.mark.parametrize("text", [
    "name: a\nx: 'yes'\n", 'name: a\nx: "0755"\n', "name: a\nx: true\n", "name: a\nx: 1.5e+3\n",
    "name: a\nx: 0\n", "name: a\nx: 0x1F\n", "name: a\nx: .inf\n", "name: a\nx: ~\n",
    "name: a\nx: 12\n", "name: a\ndescription: trained on no data, off the shelf\n",
    "name: a\nx: 0.5\n", "name: a\nx: -3\n", "name: a\nx: [1, 2.5, null, false]\n",
    "name: a\nx: !!str 0755\n", "name: a\nx: !!timestamp 2024-05-01\n",
])
def test_values_both_versions_read_alike_are_no_problem(text: str) -> None:
    result = parse_file(text.encode(), "f.yaml")
    assert result.problems == [] and [c.name for c in result.cards] == ["a"]


def test_the_file_filter_lets_every_candidate_through() -> None:
    for value in ("yes", "0755", "1:30", "1_000", "1e3", "0o17", "2024-01-02", "-0x1F", "0b1"):
        assert may_differ(f"x: {value}\n".encode()), value
    assert not may_differ(b"name: llama3\ncheckpoint: https://example.com/x.pt\n")


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("FALSE", False), ("yes", "yes"), ("0755", 755), ("0o17", 15),
    ("0x1F", 31), ("1e3", 1000.0), ("1_000", "1_000"), ("1:30", "1:30"), ("~", None),
    ("", None), ("-.inf", float("-inf")), ("+12", 12), (".5", 0.5),
])
def test_yaml_12_core_schema(text: str, value: object) -> None:
    got = read_as_12(text)
    assert got == value and type(got) is type(value)
