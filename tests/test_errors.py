"""Problem codes: one enum, plain strings in JSON, and no code spelled out elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assetcards.errors import Problem, ProblemCode

SRC = Path(__file__).resolve().parents[1] / "src" / "assetcards"


def test_codes_are_unique_and_plain_strings_in_json() -> None:
    values = [code.value for code in ProblemCode]
    assert len(values) == len(set(values))
    problem = Problem("cards/a.yaml", 3, 1, "a", "base card 'b' does not exist", "base",
                      ProblemCode.MISSING_BASE)
    assert json.loads(json.dumps(problem.to_json()))["code"] == "missing-base"
    assert type(problem.to_json()["code"]) is str
    assert f"{ProblemCode.SYNTAX}" == str(ProblemCode.SYNTAX) == "syntax"
    assert Problem("f").code == "error"


def test_no_module_spells_a_code_as_a_string() -> None:
    spelled = re.compile(r'code=["\']|code (?:==|!=|in) \(?["\']')
    found = [f"{path.relative_to(SRC)}:{number}: {line.strip()}"
             for path in sorted(SRC.rglob("*.py")) if "cards" not in path.relative_to(SRC).parts[:1]
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if spelled.search(line)]
    assert not found, "use errors.ProblemCode:\n" + "\n".join(found)
