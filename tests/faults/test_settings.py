"""Bounded settings: a value that is not a number, not finite or out of range is refused with a
message naming the setting and the accepted range (the one helper every setting goes through)."""

from __future__ import annotations

import pytest

from assetcards.settings import Range, SettingError, env_float, env_int, parse_float, parse_int

SECONDS = Range(0, 86400, low_open=True, unit="of seconds")


@pytest.mark.parametrize("text", ["abc", "nan", "NaN", "inf", "-inf", "0", "-1", "1e400",
                                  "86401", "", " ", "1\x00", "0x10", "1e-400"])
def test_a_bad_float_names_the_setting_and_the_range(text: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_float("SOME_TIMEOUT", text, SECONDS)
    assert str(caught.value) == (
        "SOME_TIMEOUT must be a number of seconds from 0 (excluded) to 86400 (included), "
        f"not {text!r}.")


@pytest.mark.parametrize(("text", "value"), [("1", 1.0), (" 2.5 ", 2.5), ("86400", 86400.0)])
def test_a_good_float_is_read(text: str, value: float) -> None:
    assert parse_float("SOME_TIMEOUT", text, SECONDS) == value


@pytest.mark.parametrize("text", ["abc", "1.5", "-1", "65", "9" * 5000, "nan"])
def test_a_bad_int_names_the_setting_and_the_range(text: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_int("JOBS", text, Range(1, 64))
    shown = text if len(text) <= 40 else text[:40] + "..."
    assert str(caught.value) == (
        f"JOBS must be a whole number from 1 (included) to 64 (included), not {shown!r}.")


def test_env_values_fall_back_to_the_default_only_when_unset_or_empty() -> None:
    assert env_float("T", 60.0, SECONDS, environ={}) == 60.0
    assert env_float("T", 60.0, SECONDS, environ={"T": "  "}) == 60.0
    assert env_float("T", 60.0, SECONDS, environ={"T": "5"}) == 5.0
    assert env_int("N", 3, Range(1, 9), environ={"N": "4"}) == 4
    with pytest.raises(SettingError, match="^T must be"):
        env_float("T", 60.0, SECONDS, environ={"T": "inf"})
