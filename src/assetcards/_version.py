"""The installed distribution's version (the git tag it was built from), read on first use:
importing importlib.metadata costs more than the rest of `import assetcards`."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("assetcards")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0"  # as pyproject.toml's fallback_version
