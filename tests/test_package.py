"""The built wheel carries the bundled cards, and an installed (non-editable) copy reads them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assetcards import PackageAssetMetadataProvider
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy, so that no build/ directory is written into the checkout.
    src = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    for name in ("src", "cards"):
        shutil.copytree(REPO_ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        "building the wheel without build isolation needs setuptools and wheel in this "
        "environment (the test extras):\n" + proc.stdout + proc.stderr)
    (built,) = out.glob("assetcards-*.whl")
    return built


def test_wheel_contains_the_bundled_cards(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"assetcards/cards/{p.relative_to(REPO_ROOT / 'cards').as_posix()}"
                for p in (REPO_ROOT / "cards").rglob("*.yaml")}
    assert "assetcards/cards/llama/llama3.yaml" in expected
    assert expected <= names
    assert "assetcards/py.typed" in names
    assert "assetcards/cli/main.py" in names


def test_installed_wheel_reads_its_bundled_cards(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-index", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = (
        "import assetcards\n"
        "from assetcards import PackageAssetMetadataProvider\n"
        "provider = PackageAssetMetadataProvider()\n"
        "print(assetcards.__file__)\n"
        "print(provider.problems())\n"
        "print(assetcards.retrieve_card('llama3_8b').field('model_family').as_string())\n"
        "print(','.join(provider.get_names()))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    file, problems, family, names = proc.stdout.splitlines()
    assert Path(file).is_relative_to(target)  # the installed copy, not the checkout
    assert (problems, family) == ("[]", "llama")
    assert names.split(",") == PackageAssetMetadataProvider().get_names()
