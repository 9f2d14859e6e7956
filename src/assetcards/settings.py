"""Numbers read from settings (environment variables, options, server configuration), bounded.

A setting that is not a number, not finite, or outside its range is refused with a message
naming the setting, the value given and the accepted range: never a traceback, never a silent
fallback. Every bounded number assetcards reads from outside goes through here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import AssetError


class SettingError(AssetError):
    """A setting (environment variable, option, configuration key) holds a value we refuse."""


@dataclass(frozen=True)
class Range:
    """The accepted values of a number: LOW to HIGH, each end included unless marked open."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self, kind: str = "a number") -> str:
        low = f"{_number(self.low)} ({'excluded' if self.low_open else 'included'})"
        high = f"{_number(self.high)} ({'excluded' if self.high_open else 'included'})"
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind}{unit} from {low} to {high}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def parse_float(name: str, text: str, accepted: Range) -> float:
    """TEXT as a finite float inside ACCEPTED; SettingError naming NAME otherwise."""
    try:
        value = float(text.strip())
    except (ValueError, OverflowError):
        value = math.nan
    if not accepted.contains(value):
        raise _refused(name, text, accepted.describe())
    return value


def parse_int(name: str, text: str, accepted: Range) -> int:
    """TEXT as a whole number inside ACCEPTED; SettingError naming NAME otherwise."""
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise _refused(name, text, accepted.describe("a whole number")) from None
    if not accepted.contains(value):
        raise _refused(name, text, accepted.describe("a whole number"))
    return value


def _refused(name: str, text: str, accepted: str) -> SettingError:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return SettingError(f"{name} must be {accepted}, not {shown!r}.")


def env_float(name: str, default: float, accepted: Range,
              environ: Mapping[str, str] | None = None) -> float:
    """The environment variable NAME as a float inside ACCEPTED, DEFAULT when unset or empty."""
    text = (os.environ if environ is None else environ).get(name, "")
    return default if not text.strip() else parse_float(name, text, accepted)


def env_int(name: str, default: int, accepted: Range,
            environ: Mapping[str, str] | None = None) -> int:
    """The environment variable NAME as an int inside ACCEPTED, DEFAULT when unset or empty."""
    text = (os.environ if environ is None else environ).get(name, "")
    return default if not text.strip() else parse_int(name, text, accepted)
