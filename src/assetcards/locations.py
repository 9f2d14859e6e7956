"""Where things live on disk: the system, user and cache roots, as one value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SYSTEM_DIR = "/etc/fairseq2/assets"
STATE_DIR = ".assetcards"


@dataclass(frozen=True)
class Locations:
    """The three roots assetcards uses. Build it once from the environment and pass it around."""

    system: Path
    user: Path
    cache: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Locations:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        system = env.get("FAIRSEQ2_ASSET_DIR") or DEFAULT_SYSTEM_DIR
        user = env.get("FAIRSEQ2_USER_ASSET_DIR")
        if not user:
            config = env.get("XDG_CONFIG_HOME") or str(home / ".config")
            user = str(Path(config) / "fairseq2" / "assets")
        cache = env.get("FAIRSEQ2_CACHE_DIR")
        if not cache:
            xdg_cache = env.get("XDG_CACHE_HOME") or str(home / ".cache")
            cache = str(Path(xdg_cache) / "fairseq2" / "assets")
        return cls(_expand(system, home), _expand(user, home), _expand(cache, home))

    def root(self, scope: str) -> Path:
        if scope == "system":
            return self.system
        if scope == "user":
            return self.user
        raise ValueError(f"scope must be 'system' or 'user', not {scope!r}")

    def may_have_stores(self) -> bool:
        """False when neither root has ever tracked a git store (a cheap test: one stat per
        root), so callers can skip loading the store machinery."""
        return any((self.root(sc) / STATE_DIR / "stores").is_dir() for sc in ("user", "system"))


def _expand(value: str, home: Path) -> Path:
    """Expand a leading `~` against HOME of the environment given, not of the process."""
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value).expanduser()


def scopes_for(scope: str) -> tuple[str, ...]:
    """The roots a lookup scope covers, most specific first."""
    if scope == "all":
        return ("user", "system")
    if scope in ("user", "system"):
        return (scope,)
    raise ValueError(f"scope must be one of 'all', 'system', 'user', not {scope!r}")
