"""The cards fairseq2 ships, and the default store that reads them.

The real card set (the 88 cards, 14 files, of the fairseq2 0.8.1 wheel) is fetched at test time
with `pip download --no-deps`, never committed here: committed to a git repository and tracked
as a store, every card loads but the one fairseq2 ships broken, and validation reports exactly
that one. Then a stand-in `fairseq2` package whose `__init__` raises proves that the default
store reads the cards an installed fairseq2 bundles without importing it, and that validation
checks names against them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assetcards import AssetCardNotFoundError, StandardAssetStore
from assetcards.errors import DuplicateCardError
from assetcards.locations import Locations
from assetcards.sources.fairseq2cards import fairseq2_cards_dir
from tests import fs2site
from tests.gitutil import make_repo, write
from tests.storeutil import card_upstream, run_cards

# A real fairseq2 0.8.1 in a virtualenv of its own (see tests/fairseq2_real/), read at import:
# the autouse fixture of tests/conftest.py clears ASSETCARDS_* for each test.
FAIRSEQ2_PYTHON = os.environ.get("ASSETCARDS_FAIRSEQ2_PYTHON", "")
FAIRSEQ2_VERSION = "0.8.1"
CARDS_PREFIX = "fairseq2/assets/cards/"
BROKEN = "librispeech_asr_100h"  # fairseq2 0.8.1 ships it with the base 'wav2vec2_asr'
BROKEN_MESSAGE = ("base card 'wav2vec2_asr' does not exist here or in any tracked store; did "
                  "you mean 'wav2vec2_base', 'wav2vec2_large', 'wav2vec2_asr_base_10h'?")


@pytest.fixture(scope="session")
def fairseq2_cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The card files of the fairseq2 0.8.1 wheel: path below assets/cards/ -> bytes. Skipped
    when the package index cannot be reached, unless CI is set (then it fails)."""
    download = tmp_path_factory.mktemp("fairseq2-wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                           f"fairseq2=={FAIRSEQ2_VERSION}", "-d", str(download)],
                          capture_output=True, text=True, timeout=300)
    wheels = sorted(download.glob("fairseq2-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        message = f"pip download fairseq2=={FAIRSEQ2_VERSION} failed: {proc.stderr[-800:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with zipfile.ZipFile(wheels[0]) as wheel:
        return {name[len(CARDS_PREFIX):]: wheel.read(name) for name in wheel.namelist()
                if name.startswith(CARDS_PREFIX) and name.endswith((".yaml", ".yml"))}


def test_the_wheel_holds_the_card_set_we_measure(fairseq2_cards: dict[str, bytes]) -> None:
    assert len(fairseq2_cards) == 14
    names = [line for text in fairseq2_cards.values() for line in text.decode().splitlines()
             if line.startswith("name:")]
    assert len(names) == 88


def test_fairseq2_card_set_tracked_as_a_store_loads_but_its_one_broken_base(
        tmp_path: Path, fairseq2_cards: dict[str, bytes]) -> None:
    bare, _ = card_upstream(tmp_path, {k: v.decode() for k, v in fairseq2_cards.items()})
    added = run_cards("store", "add", "fairseq2", str(bare))
    assert added.returncode == 0, added.stdout + added.stderr
    assert ", 88 card(s), in " in added.stdout
    store = StandardAssetStore.from_locations(Locations.from_env())
    assert store.problems() == []
    names = store.retrieve_names()
    assert len(names) == 88
    for name in names:
        if name == BROKEN:
            continue
        chain = store.retrieve_card(name).base_chain()
        assert "base" not in chain[-1].metadata  # every base found, to the root of the chain
    with pytest.raises(AssetCardNotFoundError) as info:
        store.retrieve_card(BROKEN)
    assert str(info.value).endswith(
        "has base 'wav2vec2_asr', which was not found: No card named 'wav2vec2_asr'; did you "
        "mean 'wav2vec2_base', 'wav2vec2_large', 'wav2vec2_asr_base_10h'?")


def test_validate_reports_only_the_broken_base(tmp_path: Path,
                                               fairseq2_cards: dict[str, bytes]) -> None:
    repo = make_repo(tmp_path / "fairseq2-cards",
                     {f"cards/{k}": v for k, v in fairseq2_cards.items()})
    result = run_cards("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"cards/datasets/librispeech.yaml:24:1: {BROKEN}: {BROKEN_MESSAGE}"]
    assert result.stderr == "1 problem in 88 cards in 14 files\n"


# -- an installed fairseq2, located but never imported ---------------------------------------


FAKE_CARDS = {
    "models/llama.yaml": "name: llama3\nmodel_family: llama\nurl: https://ai.meta.com/llama\n"
                         "---\nname: llama3_8b\nbase: llama3\nmodel_arch: llama3_8b\n"
                         "checkpoint: weights/8b.pt\n",
}


@pytest.fixture
def fairseq2_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fs2site.install(fs2site.fake_fairseq2(tmp_path / "site", FAKE_CARDS), monkeypatch)


def test_the_default_store_reads_fairseq2s_cards_without_importing_it(
        fairseq2_site: Path, locations: Locations) -> None:
    assert fairseq2_cards_dir() == fairseq2_site / "fairseq2" / "assets" / "cards"
    write(locations.user / "mine.yaml", "name: mine\n")
    store = StandardAssetStore.from_locations(locations)
    assert store.retrieve_names() == ["llama3", "llama3_8b", "mine"]
    card = store.retrieve_card("llama3_8b")
    assert (card.provenance.kind, card.provenance.source, card.provenance.file) == (
        "package", "fairseq2.assets.cards", "models/llama.yaml")
    # Relative paths resolve against the card file, as fairseq2 reads its own cards.
    assert card.field("checkpoint").as_uri() == (
        fairseq2_site / "fairseq2/assets/cards/models/weights/8b.pt").as_uri()
    assert "fairseq2" not in sys.modules
    assert StandardAssetStore.from_locations(locations, bundled=False).retrieve_names() == [
        "mine"]


def test_a_root_card_named_like_one_of_fairseq2s_is_a_duplicate_at_lookup(
        fairseq2_site: Path, locations: Locations) -> None:
    write(locations.system / "team.yaml", "name: llama3_8b\nmodel_family: llama\n")
    store = StandardAssetStore.from_locations(locations)
    with pytest.raises(DuplicateCardError, match="also defined in package fairseq2.assets.cards: "
                       "models/llama.yaml:5"):
        store.retrieve_card("llama3_8b")
    assert "fairseq2" not in sys.modules


def test_without_fairseq2_the_default_store_is_the_two_roots(locations: Locations) -> None:
    if importlib.util.find_spec("fairseq2") is not None:
        pytest.skip("a real fairseq2 is installed in this environment")
    assert fairseq2_cards_dir() is None
    store = StandardAssetStore.from_locations(locations)
    assert store.retrieve_names() == []  # nor assetcards' own example cards
    assert [p.label for _, p in store.providers()] == [
        f"directory {locations.user}", f"directory {locations.system}"]


def env_with_fairseq2(site: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(site))


def test_validation_catches_a_name_fairseq2_bundles_in_the_pull_request(
        tmp_path: Path) -> None:
    """A team's own `llama3_8b` fails `cards validate` and the pre-commit hook, naming
    fairseq2's card, instead of passing and failing later at retrieve_card."""
    site = fs2site.fake_fairseq2(tmp_path / "site", FAKE_CARDS)
    repo = make_repo(tmp_path / "team", {"cards/ok.yaml": "name: ok\n"})
    write(repo / "cards" / "llama.yaml", "name: llama3_8b\nmodel_family: llama\n"
          "checkpoint: https://example.com/8b.pt\n")
    expected = ("cards/llama.yaml:1:1: llama3_8b: duplicate card name 'llama3_8b': also "
                "defined in package fairseq2.assets.cards: models/llama.yaml:5")
    result = run_cards("validate", cwd=repo, env=env_with_fairseq2(site))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == expected
    assert fs2site.IMPORTED not in result.stdout + result.stderr
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    hook = run_cards("validate", "--staged", cwd=repo, env=env_with_fairseq2(site))  # the hook
    assert hook.returncode == 1
    assert expected in hook.stdout + hook.stderr
    # Without fairseq2, nothing collides.
    assert run_cards("validate", cwd=repo).returncode == 0


def test_validation_checks_names_against_the_loose_cards_of_the_roots(
        tmp_path: Path, locations: Locations) -> None:
    write(locations.system / "shared.yaml", "name: shared\n")
    repo = make_repo(tmp_path / "team", {"cards/a.yaml": "name: shared\n"})
    result = run_cards("validate", cwd=repo)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"cards/a.yaml:1:1: shared: duplicate card name 'shared': also defined in system root "
        f"{locations.system}: shared.yaml:1")
    assert run_cards("validate", "--no-tracked", cwd=repo).returncode == 0


def test_a_gated_model_card_gives_a_url_instead_of_a_checkpoint(tmp_path: Path) -> None:
    """fairseq2's Llama cards have no checkpoint, but say where the weights are obtained;
    each user gives `checkpoint` in `NAME@user`. A model card with neither is still an error."""
    repo = make_repo(tmp_path / "team", {
        "cards/llama.yaml": "name: llama3\nmodel_family: llama\nurl: https://ai.meta.com/llama\n"
                            "---\nname: llama3_8b\nbase: llama3\nmodel_arch: llama3_8b\n",
        "cards/other.yaml": "name: nowhere\nmodel_family: llama\nmodel_arch: x\n"})
    result = run_cards("validate", cwd=repo)
    assert result.stdout.splitlines() == [
        "cards/other.yaml:1:1: nowhere: model card has no 'checkpoint' (add a URI or a path "
        "relative to the card file)"]


def test_a_directory_inside_a_root_is_not_compared_with_itself(locations: Locations) -> None:
    write(locations.system / "team" / "a.yaml", "name: a\n")
    write(locations.system / "other.yaml", "name: b\n")
    inside = run_cards("validate", str(locations.system / "team"))
    assert (inside.returncode, inside.stdout) == (0, "")
    write(locations.system / "team" / "b.yaml", "name: b\n")  # but with the rest of the root
    clash = run_cards("validate", str(locations.system / "team"))
    assert clash.returncode == 1
    assert "duplicate card name 'b': also defined in system root" in clash.stdout
    whole = run_cards("validate", str(locations.system))
    assert "also defined in system root" not in whole.stdout


def test_the_real_fairseq2s_cards_are_read_without_importing_it_or_torch(tmp_path: Path) -> None:
    """The package of a real fairseq2 0.8.1 installation (whose `__init__` imports torch) on
    the path: the default store holds its 88 cards, and neither module is imported."""
    if not (FAIRSEQ2_PYTHON and Path(FAIRSEQ2_PYTHON).is_file()):
        why = ("no fairseq2 0.8.1 virtualenv: `bash .ci/fairseq2-venv.sh .ci-fairseq2 0.8.1`, "
               "then ASSETCARDS_FAIRSEQ2_PYTHON=$PWD/.ci-fairseq2/bin/python")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    purelib = subprocess.run(
        [FAIRSEQ2_PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    site = tmp_path / "site"
    site.mkdir()
    (site / "fairseq2").symlink_to(Path(purelib) / "fairseq2")  # fairseq2 alone, not torch
    script = ("import sys\n"
              "from assetcards import asset_store\n"
              "print(len(asset_store.retrieve_names()))\n"
              "print(asset_store.retrieve_card('llama3_8b').provenance)\n"
              "print(sorted(m for m in ('fairseq2', 'torch') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(site)), timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines() == [
        "88", "package fairseq2.assets.cards: models/llama.yaml:88", "[]"]
