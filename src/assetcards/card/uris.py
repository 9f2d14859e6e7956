"""Checkpoint URIs and their limits: the one parser that validation and the download share.

Whatever `cards validate` accepts here, `cards fetch` handles with a clear message: both ask
the functions below, and both use the limits defined here (and nowhere else).
"""

from __future__ import annotations

import re
import string
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProblemCode
from ..settings import Range, SettingError, parse_float, parse_int

# `hg` is fairseq2 0.8's name for the Hugging Face Hub (its own cards use it).
CHECKPOINT_SCHEMES = frozenset({"http", "https", "file", "s3", "gs", "hf", "hg", "az"})
REMOTE_SCHEMES = frozenset({"http", "https"})
SHARD_PLACEHOLDER = "shard_idx"
SIZE_FIELD = "checkpoint_size"

MAX_URI_LENGTH = 4096  # characters of a `checkpoint` value, template or not
MAX_SHARDS = 4096  # `num_shards`
MAX_SHARD_WIDTH = 32  # the width in `{shard_idx:0Nd}`
MAX_FILE_NAME_BYTES = 200  # a cache file name (UTF-8), well under every file system's 255
MAX_CHECKPOINT_SIZE = 1 << 50  # `checkpoint_size`: 1 PiB
MAX_REDIRECTS = 10  # HTTP redirects followed by one request
MAX_TIMEOUT = 86400.0  # seconds: FAIRSEQ2_DOWNLOAD_TIMEOUT, --timeout, --lock-timeout
MAX_DOWNLOAD_BYTES_ENV = "ASSETCARDS_MAX_DOWNLOAD_BYTES"
DEFAULT_MAX_DOWNLOAD_BYTES = 64 << 30  # a body of unknown size stops here (64 GiB)

# Codes of the problems below; callers decide on codes, never on message text.
BAD_CHECKPOINT = ProblemCode.BAD_CHECKPOINT
CHECKPOINT_ABSOLUTE = ProblemCode.CHECKPOINT_ABSOLUTE
CHECKPOINT_OUTSIDE = ProblemCode.CHECKPOINT_OUTSIDE
BAD_SHARDS = ProblemCode.BAD_SHARDS
BAD_SIZE = ProblemCode.BAD_CHECKPOINT_SIZE

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")
_SPEC_RE = re.compile(r"0?([0-9]{1,2})?d?")  # `{shard_idx}`, `{shard_idx:02d}`, `{shard_idx:3}`
_SAFE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=~-]*")
_SAFE_SUFFIX_RE = re.compile(r"\.[A-Za-z0-9]{1,16}$")
_RESERVED_SUFFIXES = (".part", ".tmp", ".lock", ".holder", ".validator")


@dataclass(frozen=True)
class UriProblem:
    """What is wrong with a value: a stable code and a message for people."""

    code: ProblemCode
    message: str


def has_scheme(value: str) -> bool:
    """Whether VALUE starts with a URI scheme (one letter is a Windows drive, not a scheme)."""
    match = _SCHEME_RE.match(value)
    return match is not None and len(match.group(1)) > 1


def checkpoint_problem(value: Any, card_file: str = "") -> UriProblem | None:
    """What is wrong with a `checkpoint` value, or None. A relative path is relative to the
    directory of CARD_FILE (itself relative to the root of its store) and must stay inside; an
    absolute path is a local file (read where it is, as fairseq2 reads it)."""
    if not isinstance(value, str) or not value.strip():
        return UriProblem(BAD_CHECKPOINT, "'checkpoint' must be a non-empty string (a URI or a "
                                          "path)")
    if _CONTROL_RE.search(value) or value != value.strip():
        return UriProblem(BAD_CHECKPOINT, "'checkpoint' contains control characters or "
                                          "surrounding spaces")
    if len(value) > MAX_URI_LENGTH:
        return UriProblem(BAD_CHECKPOINT, f"'checkpoint' is {len(value)} characters long, over "
                                          f"the limit of {MAX_URI_LENGTH}")
    found = uri_problem(value) if has_scheme(value) else _path_problem(value, card_file)
    return found or template_problem(value)


def uri_problem(value: str, what: str = "'checkpoint'") -> UriProblem | None:
    """What is wrong with a URI (the scheme, its shape, its host and port), or None."""
    scheme = value.split(":", 1)[0].lower()
    if scheme not in CHECKPOINT_SCHEMES:
        return UriProblem(BAD_CHECKPOINT, f"{what} uses the scheme {scheme!r}; use one of "
                                          f"{', '.join(sorted(CHECKPOINT_SCHEMES))} or a "
                                          "relative path")
    rest = value[len(scheme) + 1:]
    malformed = UriProblem(BAD_CHECKPOINT, f"{what} {value!r:.200} is not a well-formed URI "
                                           f"(expected {scheme}://...)")
    if not rest.startswith("//") or len(rest) <= 2:
        return malformed
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # checks the port is a number from 0 to 65535
    except ValueError as exc:
        return UriProblem(BAD_CHECKPOINT, f"{malformed.message}: {exc}")
    if scheme in REMOTE_SCHEMES and (not parts.hostname or port == 0):
        return UriProblem(BAD_CHECKPOINT, f"{malformed.message}: no host name or port 0")
    return None


def remote_problem(value: str) -> UriProblem | None:
    """What is wrong with VALUE as a URI to download from (http:// or https://), or None."""
    scheme = value.split(":", 1)[0].lower() if has_scheme(value) else ""
    if scheme not in REMOTE_SCHEMES:
        return UriProblem(BAD_CHECKPOINT, f"{value!r:.200} is not an http:// or https:// URL")
    if _CONTROL_RE.search(value):  # (a shard's URI may be longer than the card's template)
        return UriProblem(BAD_CHECKPOINT, f"{value!r:.200} has control characters")
    return uri_problem(value, "the URL")


def _path_problem(value: str, card_file: str) -> UriProblem | None:
    """An absolute path (`/data/ckpt/model.pt`) is a local file, as in fairseq2; a Windows
    path means nothing on the systems fairseq2 runs on; a relative path stays inside."""
    if value.startswith("/"):
        return None
    if value.startswith("\\") or _DRIVE_RE.match(value):
        return UriProblem(CHECKPOINT_ABSOLUTE, f"'checkpoint' {value!r} is a Windows path; "
                                               "use a POSIX path, a file:// URI or a path "
                                               "relative to the card file")
    depth = card_file.replace("\\", "/").count("/")
    for part in value.split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            return UriProblem(CHECKPOINT_OUTSIDE, f"'checkpoint' path {value!r} leads outside "
                                                  "the card repository")
    return None


# -- shards ---------------------------------------------------------------------------------


def placeholders(template: str) -> list[tuple[str, str | None, str]]:
    """The `{...}` fields of TEMPLATE as (name, conversion, format spec); none when the braces
    do not make a template (an unmatched brace: a plain URI)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return []
    return [(name, conversion, spec or "") for _, name, spec, conversion in parsed
            if name is not None]


def template_problem(template: str) -> UriProblem | None:
    """What is wrong with the placeholders of a checkpoint template, or None. Only
    `{shard_idx}` is allowed, with no conversion and at most a zero-padded width
    (`{shard_idx:02d}`), so that every URI it makes is short."""
    for name, conversion, spec in placeholders(template):
        if name != SHARD_PLACEHOLDER:
            return UriProblem(BAD_SHARDS, f"'checkpoint' has the placeholder {{{name:.40}}}; "
                                          f"only {{{SHARD_PLACEHOLDER}}} is supported")
        match = _SPEC_RE.fullmatch(spec)
        if conversion is not None or match is None or int(match.group(1) or 0) > MAX_SHARD_WIDTH:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + f":{spec:.40}" + "}"
            return UriProblem(BAD_SHARDS, f"'checkpoint' has the placeholder {shown}; use "
                                          f"{{{SHARD_PLACEHOLDER}}} or a zero-padded width up "
                                          f"to {MAX_SHARD_WIDTH} such as "
                                          f"{{{SHARD_PLACEHOLDER}:02d}}")
    return None


def is_template(template: str) -> bool:
    return bool(placeholders(template))


def num_shards_problem(value: Any) -> UriProblem | None:
    """What is wrong with a `num_shards` value, or None."""
    if type(value) is not int or not 1 <= value <= MAX_SHARDS:
        return UriProblem(BAD_SHARDS, f"'num_shards' must be a whole number from 1 to "
                                      f"{MAX_SHARDS}, not {value!r:.40}")
    return None


def size_problem(value: Any, where: str = SIZE_FIELD) -> UriProblem | None:
    """What is wrong with a declared size in bytes (`checkpoint_size`, or one of its shards:
    a number, a list of numbers or a mapping from shard index to number), or None."""
    values = list(value.values()) if isinstance(value, Mapping) else (
        value if isinstance(value, list) else [value])
    for one in values:
        if type(one) is not int or not 0 <= one <= MAX_CHECKPOINT_SIZE:
            return UriProblem(BAD_SIZE, f"{where!r} must be a size in bytes from 0 to "
                                        f"{MAX_CHECKPOINT_SIZE} (one per shard for a sharded "
                                        f"checkpoint), not {one!r:.40}")
    return None


# -- numbers from the environment and the command line -------------------------------------


TIMEOUT_RANGE = Range(0, MAX_TIMEOUT, low_open=True, unit="of seconds")
DOWNLOAD_BYTES_RANGE = Range(1, MAX_CHECKPOINT_SIZE, unit="of bytes")


def seconds(text: str, name: str) -> float:
    """A timeout in seconds, greater than 0 and at most MAX_TIMEOUT (settings' one wording);
    ValueError names NAME."""
    try:
        return parse_float(name, text, TIMEOUT_RANGE)
    except SettingError as exc:
        raise ValueError(str(exc)) from None


def byte_count(text: str, name: str) -> int:
    """A whole number of bytes from 1 to MAX_CHECKPOINT_SIZE; ValueError names NAME."""
    try:
        return parse_int(name, text, DOWNLOAD_BYTES_RANGE)
    except SettingError as exc:
        raise ValueError(str(exc)) from None


# -- cache file names -----------------------------------------------------------------------


def is_safe_file_name(name: str) -> bool:
    """Whether NAME can name a file in a cache entry: one plain component of safe characters
    (no separator, no `..`, no NUL, not hidden, no suffix of our own temporary files) and
    short enough for every file system."""
    return (_SAFE_NAME_RE.fullmatch(name) is not None
            and len(name.encode("utf-8")) <= MAX_FILE_NAME_BYTES
            and not name.lower().endswith(_RESERVED_SUFFIXES)
            and name != "entry.json")


def cache_file_name(uri: str, default: str) -> str:
    """The name of URI's file in its cache entry: the last part of its path when that is a
    safe name; DEFAULT (with the URI's extension, if plain) otherwise. Decoding happens
    after splitting, so `%2F`, `%5C`, `%00` and `..` are refused, not obeyed."""
    try:
        last = urllib.parse.urlsplit(uri).path.rsplit("/", 1)[-1]
    except ValueError:
        last = ""
    name = urllib.parse.unquote(last, errors="replace")
    if is_safe_file_name(name):
        return name
    suffix = _SAFE_SUFFIX_RE.search(name)
    fallback = default + (suffix.group(0) if suffix else "")
    return fallback if is_safe_file_name(fallback) else default
