"""One error hierarchy. Core code raises these; the CLI maps them to messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a card file: where it is, which card, which key, what is wrong."""

    file: str
    line: int = 0
    col: int = 0
    card: str = ""
    message: str = ""
    key: str = ""
    code: str = field(default="error", compare=False)

    def format(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col or 1}"
        who = f" {self.card}:" if self.card else ""
        return f"{where}:{who} {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "card": self.card,
            "key": self.key,
            "code": self.code,
            "message": self.message,
        }


class AssetError(Exception):
    """Base class of every error assetcards raises on purpose."""

    exit_code = 1


class AssetNotFoundError(AssetError, LookupError):
    """A card, store, field or revision that does not exist."""


class AssetCardNotFoundError(AssetNotFoundError):
    """No card of that name in the sources in use."""


class AssetCardError(AssetError):
    """A card exists but cannot be used as asked (bad field, wrong type, broken base chain)."""


class AssetCardFieldNotFoundError(AssetCardError, AssetNotFoundError):
    """A card has no such field."""


class AssetMetadataError(AssetError):
    """Card files that cannot be read: syntax, shape, unsafe content. Carries the problems."""

    def __init__(self, problems: Sequence[Problem], summary: str = "") -> None:
        self.problems = list(problems)
        text = summary or "\n".join(p.format() for p in self.problems)
        super().__init__(text)


class DuplicateCardError(AssetMetadataError):
    """Two different cards share one name."""


class BaseCycleError(AssetCardError):
    """A `base` chain loops back on itself."""


class ValidationError(AssetMetadataError):
    """Cards that parse but break the rules."""


class GitError(AssetError):
    """A git command failed, or was refused before it ran."""


class UnsafeInputError(AssetError):
    """A URL, ref, name or path that is refused before anything runs."""


class StoreError(AssetError):
    """A git store is missing, broken or in a state that forbids the operation."""


class LockTimeoutError(AssetError):
    """Another process held a lock for longer than we were willing to wait."""


class DownloadError(AssetError):
    """A checkpoint could not be fetched or verified."""


class ModelLoadError(AssetError):
    """A model could not be built or its weights not loaded."""

