"""Packaging: the built wheel carries the example cards as data (read by
`PackageAssetMetadataProvider()`, not part of the default store), an installed (non-editable)
copy reads them, and the version is the git tag the build came from (the fallback outside
git)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from assetcards import PackageAssetMetadataProvider
from tests.conftest import REPO_ROOT
from tests.gitutil import git

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TAG = "v9.8.7"
TAG_VERSION = "9.8.7"
FALLBACK_VERSION = "0.0.0"  # [tool.setuptools_scm] fallback_version in pyproject.toml


def copy_project(dest: Path) -> Path:
    """What a build reads, copied, so that no build/ directory is written into the checkout."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    for name in ("src", "cards"):
        shutil.copytree(REPO_ROOT / name, dest / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def build(project: Path, out: Path, kind: str) -> Path:
    """Build a wheel or an sdist with the setuptools and setuptools-scm of this environment."""
    if kind == "wheel":
        args = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                str(project)]
    else:  # what `python -m build --sdist --no-isolation` calls
        args = ["-c", "import sys; from setuptools import build_meta; "
                "build_meta.build_sdist(sys.argv[1])", str(out)]
    proc = subprocess.run([sys.executable, *args], cwd=project, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (
        "building without build isolation needs setuptools, setuptools-scm and wheel in this "
        "environment (the test extras):\n" + proc.stdout + proc.stderr)
    (built,) = out.glob("assetcards-*.whl" if kind == "wheel" else "assetcards-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git checkout of the project at the tag v9.8.7, as the release workflow builds it."""
    project = copy_project(tmp_path_factory.mktemp("checkout"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "release")
    git(project, "tag", "-a", TAG, "-m", TAG)
    return project


@pytest.fixture(scope="module")
def wheel(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from the tagged checkout (as `pip install git+URL@v9.8.7` does)."""
    return build(checkout, tmp_path_factory.mktemp("wheel"), "wheel")


@pytest.fixture(scope="module")
def sdist(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(checkout, tmp_path_factory.mktemp("sdist"), "sdist")


@pytest.fixture(scope="module")
def sdist_wheel(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m build` makes: from the unpacked sdist, a tree without .git whose
    version is in PKG-INFO."""
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    return build(unpacked / sdist.name.removesuffix(".tar.gz"),
                 tmp_path_factory.mktemp("sdist-wheel"), "wheel")


@pytest.fixture(scope="module")
def fallback_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a plain copy: no .git, no PKG-INFO (an unpacked archive of the sources)."""
    project = copy_project(tmp_path_factory.mktemp("plain"))
    return build(project, tmp_path_factory.mktemp("fallback"), "wheel")


def install(wheel: Path, target: Path) -> Path:
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-index", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(wheel, tmp_path_factory.mktemp("site"))


def run_installed(target: Path, cwd: Path, *args: str) -> list[str]:
    """Run ARGS with the copy installed in TARGET first on the path; its stdout lines."""
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    return proc.stdout.splitlines()


VERSIONS = ("import assetcards, importlib.metadata\n"
            "print(assetcards.__file__)\n"
            "print(assetcards.__version__)\n"
            "print(importlib.metadata.version('assetcards'))\n")


def wheel_version(wheel: Path) -> str:
    names = zipfile.ZipFile(wheel).namelist()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    lines = zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
    return next(line.split(": ", 1)[1] for line in lines if line.startswith("Version: "))


@pytest.mark.parametrize("which", ["wheel", "sdist_wheel", "fallback_wheel"])
def test_wheel_contains_the_bundled_cards(which: str, request: pytest.FixtureRequest) -> None:
    names = set(zipfile.ZipFile(request.getfixturevalue(which)).namelist())
    expected = {f"assetcards/cards/{p.relative_to(REPO_ROOT / 'cards').as_posix()}"
                for p in (REPO_ROOT / "cards").rglob("*.yaml")}
    assert "assetcards/cards/llama/llama3.yaml" in expected
    assert expected <= names
    assert "assetcards/py.typed" in names
    assert "assetcards/cli/main.py" in names
    assert "assetcards/_version.py" in names


def test_installed_wheel_reads_its_bundled_cards(installed: Path, tmp_path: Path) -> None:
    script = (
        "import assetcards\n"
        "from assetcards import PackageAssetMetadataProvider, StandardAssetStore\n"
        "provider = PackageAssetMetadataProvider()\n"
        "store = StandardAssetStore([provider])\n"
        "print(assetcards.__file__)\n"
        "print(provider.problems())\n"
        "print(store.retrieve_card('llama3_8b').field('model_family').as_string())\n"
        "print(','.join(provider.get_names()))\n"
        "print(assetcards.asset_store.retrieve_names())\n"
    )
    file, problems, family, names, default = run_installed(installed, tmp_path, sys.executable,
                                                           "-c", script)
    assert Path(file).is_relative_to(installed)  # the installed copy, not the checkout
    assert (problems, family) == ("[]", "llama")
    assert default == "[]"  # not in the default store (the test's roots are empty)
    assert names.split(",") == PackageAssetMetadataProvider().get_names()


def test_a_build_from_a_tagged_checkout_has_the_tag_version(wheel: Path, installed: Path,
                                                            tmp_path: Path) -> None:
    assert wheel.name == f"assetcards-{TAG_VERSION}-py3-none-any.whl"
    assert wheel_version(wheel) == TAG_VERSION
    file, version, metadata_version = run_installed(installed, tmp_path, sys.executable, "-c",
                                                    VERSIONS)
    assert Path(file).is_relative_to(installed)
    assert (version, metadata_version) == (TAG_VERSION, TAG_VERSION)
    assert run_installed(installed, tmp_path, str(installed / "bin" / "cards"),
                         "--version") == [f"cards, version {TAG_VERSION}"]


def test_a_wheel_built_from_the_sdist_has_the_tag_version(sdist: Path,
                                                          sdist_wheel: Path) -> None:
    assert sdist.name == f"assetcards-{TAG_VERSION}.tar.gz"
    assert sdist_wheel.name == f"assetcards-{TAG_VERSION}-py3-none-any.whl"
    assert wheel_version(sdist_wheel) == TAG_VERSION


def test_a_build_outside_git_has_the_fallback_version(fallback_wheel: Path,
                                                      tmp_path: Path) -> None:
    assert fallback_wheel.name == f"assetcards-{FALLBACK_VERSION}-py3-none-any.whl"
    assert wheel_version(fallback_wheel) == FALLBACK_VERSION
    target = install(fallback_wheel, tmp_path / "site")
    _, version, metadata_version = run_installed(target, tmp_path, sys.executable, "-c",
                                                 VERSIONS)
    assert (version, metadata_version) == (FALLBACK_VERSION, FALLBACK_VERSION)


def test_the_version_is_read_from_the_metadata_only_when_asked(tmp_path: Path) -> None:
    # importlib.metadata costs more to import than the rest of `import assetcards`: the package
    # and the `cards` entry point load it only for __version__ and --version.
    script = ("import sys, assetcards, assetcards.cli.main\n"
              "print('importlib.metadata' in sys.modules)\n"
              "import importlib.metadata\n"
              "print(assetcards.__version__ == importlib.metadata.version('assetcards'))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "False\nTrue\n")


def test_the_torch_extra_stops_at_the_torch_ci_tests() -> None:
    # Installing the extra must not bring a torch newer than the one CI pins and tests.
    extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["torch"]
    (torch,) = [Requirement(r) for r in extra if Requirement(r).name == "torch"]
    (pin,) = [line.split("==")[1] for line in
              (REPO_ROOT / ".ci" / "constraints.txt").read_text().splitlines()
              if line.startswith("torch==")]
    tested = Version(pin)
    assert tested in torch.specifier
    assert Version(f"{tested.major}.{tested.minor + 1}") not in torch.specifier
