"""One error hierarchy. Core code raises these; the CLI maps them to messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import cast


class ProblemCode(str, Enum):
    """The stable code of each kind of problem (the `code` of JSON output). Code that decides
    on a problem compares its code with these members, never its message."""

    ERROR = "error"  # a problem without a more precise code
    TOO_LARGE = "too-large"  # a file over its size limit
    TOO_DEEP = "too-deep"  # values nested deeper than the limit
    EMPTY_DOCUMENT = "empty-document"  # an empty YAML document
    NOT_MAPPING = "not-mapping"  # a document that is not a mapping
    NO_NAME = "no-name"  # a card without a name
    BAD_NAME = "bad-name"  # a card name that is not valid
    BAD_KEY = "bad-key"  # a field name that is not a string
    DUPLICATE_KEY = "duplicate-key"  # a field given twice
    NOT_TEXT = "not-text"  # a file that is not text
    SYNTAX = "syntax"  # a YAML syntax error
    UNSAFE_TAG = "unsafe-tag"  # a YAML tag not allowed in a card
    ALIAS_RECURSION = "alias-recursion"  # a recursive YAML alias
    ALIAS_BOMB = "alias-bomb"  # YAML aliases that expand too far
    BAD_VALUE = "bad-value"  # a value YAML cannot read safely
    YAML_VERSION = "yaml-version"  # a value YAML 1.1 and 1.2 read differently
    BAD_FILE_NAME = "bad-file-name"  # a file name that is not printable
    SPECIAL_FILE = "special-file"  # not a regular file
    STORE_UNREADABLE = "store-unreadable"  # a store that cannot be read
    MANIFEST = "manifest"  # a bad assetcards.toml
    LOCKFILE = "lockfile"  # a bad lock file
    DUPLICATE = "duplicate"  # a card name defined twice
    BAD_CARD = "bad-card"  # an in-process card that is not a mapping
    BAD_BASE = "bad-base"  # a base that is not a card name
    MISSING_BASE = "missing-base"  # a base card that does not exist
    RELATIVE_PATH_IN_BASE = "relative-path-in-base"  # a relative path other directories inherit
    ORPHAN_OVERRIDE = "orphan-override"  # an override of no card
    BASE_CYCLE = "base-cycle"  # a base chain that loops
    BASE_TOO_DEEP = "base-too-deep"  # a base chain over the depth limit
    NO_CHECKPOINT = "no-checkpoint"  # a model card without a checkpoint
    PLACEHOLDER = "placeholder"  # a field still holding a placeholder
    REQUIRED = "required"  # a field the store requires is missing
    NOT_ALLOWED = "not-allowed"  # a value the store does not allow
    BAD_CHECKPOINT = "bad-checkpoint"  # a checkpoint URI that is not valid
    CHECKPOINT_ABSOLUTE = "checkpoint-absolute"  # an absolute checkpoint path
    CHECKPOINT_OUTSIDE = "checkpoint-outside"  # a checkpoint path outside the store
    BAD_SHARDS = "bad-shards"  # a bad num_shards
    BAD_CHECKPOINT_SIZE = "bad-checkpoint-size"  # a bad checkpoint size

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:  # as the plain string it was: lists of codes print the same
        return repr(self.value)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a card file: where it is, which card, which key, what is wrong."""

    file: str
    line: int = 0
    col: int = 0
    card: str = ""
    message: str = ""
    key: str = ""
    code: str = field(default=ProblemCode.ERROR, compare=False)

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
            "code": str(self.code),
            "message": self.message,
        }


class AssetError(Exception):
    """Base class of every error assetcards raises on purpose."""

    exit_code = 1


class AssetNotFoundError(AssetError, LookupError):
    """A card, store, field or revision that does not exist."""


class AssetArgumentError(AssetError, ValueError):
    """A call's arguments contradict each other or name no such option (a ValueError, as in
    fairseq2)."""


class AssetCardError(AssetError):
    """A card exists but cannot be used as asked (bad field, wrong type, broken base chain).

    Raised as `AssetCardError(message)` (fairseq2 0.3) or `AssetCardError(card_name, message)`
    (fairseq2 0.8); `.name` is the card's name, or "" when the error is not about one card."""

    def __init__(self, *args: object) -> None:
        self.name = ""
        if len(args) == 2 and all(isinstance(arg, str) for arg in args):
            self.name, message = cast(tuple[str, str], args)
            args = (message,)
        Exception.__init__(self, *args)


class AssetCardNotFoundError(AssetCardError, AssetNotFoundError):
    """No card of that name in the sources in use (an AssetCardError, as in fairseq2 0.3)."""


class AssetCardNotValidError(AssetCardError):
    """A card whose fields do not describe a usable asset (fairseq2 0.8's name)."""


class AssetCardFieldNotFoundError(AssetCardError, AssetNotFoundError):
    """A card has no such field."""


class AssetMetadataError(AssetError):
    """Card files that cannot be read: syntax, shape, unsafe content. Carries the problems.

    Also raised as `AssetMetadataError(message)` (fairseq2 0.3) and
    `AssetMetadataError(source, message)` (fairseq2 0.8, which sets `.source`)."""

    def __init__(self, problems: Sequence[Problem] | str = (), summary: str = "") -> None:
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            self.source = problems if summary else ""
            text = summary or problems
        else:
            self.problems = list(problems)
            self.source = self.problems[0].file if self.problems else ""
            text = summary or "\n".join(p.format() for p in self.problems)
        Exception.__init__(self, text)


class AssetMetadataNotFoundError(AssetCardNotFoundError, AssetMetadataError):
    """A provider has no metadata of that name (fairseq2 0.3's name): both a card that is not
    found and a metadata error, so that either `except` clause catches it."""

    def __init__(self, *args: object) -> None:
        AssetCardNotFoundError.__init__(self, *args)
        self.problems = []
        self.source = ""


class DuplicateCardError(AssetMetadataError):
    """Two different cards share one name."""


class BaseCycleError(AssetCardError):
    """A `base` chain loops back on itself."""


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

