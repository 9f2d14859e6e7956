"""fairseq2 0.8.1's own asset store, as the peer of our lookup, in a virtualenv of its own.

    python benchmarks/fairseq2_peer.py [--venv DIR] [--root DIR NAME]

`ensure_venv` installs fairseq2 0.8.1 without its dependencies, then the packages its asset
code imports, and in place of `fairseq2n` (its native part, built for CUDA) a stub package that
defines `DOC_MODE = True`, written into the virtualenv's site-packages. The asset code needs
torch (`fairseq2.utils.structured` imports it): a CPU build when the package index offers one.
Whatever else is missing is found by trying the import and installing what it names.

`LOOKUP` wires fairseq2's asset store as `fairseq2.composition.assets` does (its bundled cards,
then the system and user directories, read with its YAML loader through its file system) and
retrieves one card, as `init_fairseq2(); get_asset_store().retrieve_card(NAME)` does without
registering the rest of the library (models, tokenizers), whose imports need many more packages.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

FAIRSEQ2 = "fairseq2==0.8.1"
# The asset code's imports, within the bounds fairseq2 0.8.1 declares for them.
PACKAGES = ["typing_extensions~=4.12", "packaging~=24.1", "importlib_resources~=6.4",
            "ruamel.yaml~=0.18", "fsspec>=2024.1", "huggingface_hub~=0.32", "numpy"]
# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"yaml": "PyYAML", "ruamel": "ruamel.yaml", "sklearn": "scikit-learn"}
DEFAULT_VENV = Path(__file__).resolve().parent / ".venv-fairseq2"
PROBE = "import fairseq2, fairseq2.assets, fairseq2.file_system, fairseq2.utils.yaml"
MAX_TRIES = 30

LOOKUP = r"""
import sys, time
start = time.perf_counter()
from fairseq2.assets import (
    PackageAssetMetadataSource, StandardAssetDirectoryAccessor, StandardAssetStore,
    StandardFileAssetMetadataLoader, StandardPackageAssetMetadataLoader,
    StandardPackageFileLister, WellKnownAssetMetadataSource, YamlAssetMetadataFileLoader)
from fairseq2.file_system import GlobalFileSystem
from fairseq2.utils.env import StandardEnvironment
from fairseq2.utils.yaml import RuamelYamlLoader
imported = time.perf_counter()
fs = GlobalFileSystem()
files = YamlAssetMetadataFileLoader(RuamelYamlLoader(fs))
sources = [
    PackageAssetMetadataSource("fairseq2.assets.cards",
                               StandardPackageAssetMetadataLoader(StandardPackageFileLister(),
                                                                  files)),
    WellKnownAssetMetadataSource(StandardAssetDirectoryAccessor(StandardEnvironment(), fs),
                                 StandardFileAssetMetadataLoader(fs, files)),
]
store = StandardAssetStore((p for s in sources for p in s.load()), default_env=None)
card = store.retrieve_card(sys.argv[1])
card.field("checkpoint").as_(str)
done = time.perf_counter()
print(len(store.asset_names), imported - start, done - imported)
"""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = DEFAULT_VENV, log: bool = True) -> Path:
    """The Python of a virtualenv at VENV where fairseq2's asset code imports; built if needed."""
    python = venv_python(venv)
    if python.exists() and _version(python) == FAIRSEQ2.split("==")[1] \
            and _missing_module(python) is None:
        return python
    if log:
        print(f"installing {FAIRSEQ2} into {venv} (once)...", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _pip(python, "--no-deps", FAIRSEQ2, *PACKAGES)
    _pip(python, *torch_requirement(python))
    _write_stub(python)
    for _ in range(MAX_TRIES):
        module = _missing_module(python)
        if module is None:
            return python
        _pip(python, "--no-deps", DISTRIBUTIONS.get(module, module))
    raise RuntimeError(f"fairseq2's asset code still does not import in {venv}: {module}")


def torch_requirement(python: Path) -> list[str]:
    """A CPU build of torch if the index has one (a CUDA build needs its NVIDIA libraries)."""
    result = subprocess.run([str(python), "-m", "pip", "index", "versions", "torch"],
                            capture_output=True, text=True)
    found = re.search(r"Available versions: (.*)", result.stdout)
    cpu = [v for v in (found.group(1).split(", ") if found else []) if v.endswith("+cpu")]
    return ["--no-deps", f"torch=={cpu[0]}"] if cpu else ["torch"]


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed: {result.stderr[-2000:]}")


def _write_stub(python: Path) -> None:
    """A `fairseq2n` package that only says the native part is absent (documentation mode)."""
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stub = Path(site) / "fairseq2n"
    stub.mkdir(exist_ok=True)
    (stub / "__init__.py").write_text("DOC_MODE = True\n__version__ = '0.8.1'\n")


def _version(python: Path) -> str:
    """The version of fairseq2 installed for PYTHON, or "" if none is."""
    result = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                             "print(m.version('fairseq2'))"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def _missing_module(python: Path) -> str | None:
    """The top-level module whose absence stops fairseq2's asset code importing, if any."""
    result = subprocess.run([str(python), "-W", "ignore", "-c", PROBE],
                            capture_output=True, text=True)
    if result.returncode == 0:
        return None
    found = re.search(r"No module named '([^'.]+)", result.stderr)
    if found is None:
        raise RuntimeError(f"fairseq2's asset code does not import: {result.stderr[-2000:]}")
    return found.group(1)


def lookup(python: Path, name: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall time of a fresh process retrieving NAME with fairseq2, its import time and the
    time its store took to load and answer (both measured inside)."""
    start = time.perf_counter()
    result = subprocess.run([str(python), "-W", "ignore", "-c", LOOKUP, name], env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"fairseq2 lookup of {name} failed: {result.stderr[-2000:]}")
    _, imports, store = result.stdout.split()
    return wall, float(imports), float(store)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--root", type=Path, help="a system root to look NAME up in")
    parser.add_argument("name", nargs="?")
    args = parser.parse_args()
    python = ensure_venv(args.venv)
    print(python)
    if args.root and args.name:
        env = {**os.environ, "FAIRSEQ2_ASSET_DIR": str(args.root),
               "FAIRSEQ2_USER_ASSET_DIR": str(args.root / ".no-user-root")}
        wall, imports, store = lookup(python, args.name, env)
        print(f"wall {wall:.3f} s, imports {imports:.3f} s, store and lookup {store:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
