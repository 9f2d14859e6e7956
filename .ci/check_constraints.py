"""Fail when an installed package is missing from the CI constraints file, or installed at
another version: every direct and indirect dependency must be pinned there."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

IGNORED = {"pip", "assetcards"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[canonical(name)] = version.strip()
    return found


def main() -> int:
    pinned = pins(Path(sys.argv[1]))
    problems = []
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in IGNORED:
            continue
        version = dist.version.split("+", 1)[0]
        if name not in pinned:
            problems.append(f"{name}=={version} is installed but not pinned")
        elif pinned[name] != version:
            problems.append(f"{name} is {version}, pinned {pinned[name]}")
    for problem in sorted(problems):
        print(f"constraints: {problem}", file=sys.stderr)
    if problems:
        print(f"constraints: refresh {sys.argv[1]} (README.md, Development, says how)",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
