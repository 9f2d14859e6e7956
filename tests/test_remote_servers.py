"""The test servers for remote checkpoints are faithful: the real client libraries work with them.

`huggingface_hub` runs in a child process (its settings are read from the environment when it
is imported, as a user's would be), reaching tests/hub_server.py through `HF_ENDPOINT`, with
`HF_HOME` in the test's directory (set `HFPY` to the python of another environment to run
the Hub tests against another version of the client). `s3fs` talks to moto's S3 server (tests/s3_server.py) with
credentials and endpoint from the environment only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub_server import Hub, serve_hub, sha256
from tests.s3_server import S3, serve_s3

WEIGHTS = b"\x00weights-v1" * 500
WEIGHTS_2 = b"\x01weights-v2" * 500
FILES = {
    "config.json": b'{"model_type": "llama"}',
    "model.safetensors": WEIGHTS,
    "model.safetensors.index.json": b'{"weight_map": {}}',
    "extra/consolidated.pt": b"pt-bytes",
    "tokenizer.json": b'{"version": "1.0"}',
    "tokenizer_config.json": b"{}",
    "README.md": b"# model",
}

# Runs one call of huggingface_hub and prints what came of it as JSON: the path, or the error.
_RUNNER = """
import json, sys
import huggingface_hub
call = json.loads(sys.argv[1])
try:
    path = getattr(huggingface_hub, call["fn"])(*call["args"], **call["kwargs"])
    print(json.dumps({"path": str(path)}))
except Exception as error:
    print(json.dumps({"error": [c.__name__ for c in type(error).__mro__],
                      "message": str(error)}))
"""


@pytest.fixture
def hub() -> Iterator[Hub]:
    pytest.importorskip("huggingface_hub")
    with serve_hub() as hub:
        yield hub


def hf(hub: Hub, home: Path, fn: str, *args: Any, env: dict[str, str] | None = None,
       **kwargs: Any) -> dict[str, Any]:
    """Call huggingface_hub.FN in a fresh process pointed at HUB, its HF_HOME under HOME."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    child.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(home / "hf"), HF_HUB_DISABLE_TELEMETRY="1",
                 HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
                 **(env or {}))
    call = json.dumps({"fn": fn, "args": list(args), "kwargs": kwargs})
    done = subprocess.run([os.environ.get("HFPY", sys.executable), "-c", _RUNNER, call], env=child, capture_output=True,
                          text=True, timeout=120, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def snapshot_files(path: str) -> dict[str, bytes]:
    root = Path(path)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_hf_hub_download_fetches_through_hf_endpoint(hub: Hub, tmp_path: Path) -> None:
    commit = hub.commit("org/model", FILES)

    weights = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")
    config = hf(hub, tmp_path, "hf_hub_download", "org/model", "config.json")

    snapshot = tmp_path / "hf" / "hub" / "models--org--model" / "snapshots" / commit
    assert weights == {"path": str(snapshot / "model.safetensors")}
    assert config == {"path": str(snapshot / "config.json")}
    assert Path(weights["path"]).read_bytes() == WEIGHTS
    assert Path(config["path"]).read_bytes() == FILES["config.json"]
    # The large file came from the CDN, once; the small one from resolve, once.
    assert hub.count(hub.lfs_path(WEIGHTS), "GET") == 1
    assert hub.count(hub.resolve_path("org/model", "main", "config.json"), "GET") == 1
    # The Hub cache stores the large file's blob under its SHA-256, as the real Hub's ETag says.
    blob = tmp_path / "hf" / "hub" / "models--org--model" / "blobs" / sha256(WEIGHTS)
    assert blob.read_bytes() == WEIGHTS
    assert (snapshot.parents[1] / "refs" / "main").read_text() == commit


def test_second_fetch_comes_from_the_hub_cache(hub: Hub, tmp_path: Path) -> None:
    hub.commit("org/model", FILES)
    first = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")

    second = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")

    assert second == first
    assert hub.downloads(WEIGHTS, filename="model.safetensors") == 1
    # The client asked again which commit `main` is (a HEAD), and downloaded nothing.
    assert hub.count(hub.resolve_path("org/model", "main", "model.safetensors"), "HEAD") == 2

    forced = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors",
                force_download=True)
    assert forced == first
    assert hub.downloads(WEIGHTS, filename="model.safetensors") == 2  # the count sees a GET


def test_pinned_revision_survives_a_moved_branch(hub: Hub, tmp_path: Path) -> None:
    old = hub.commit("org/model", FILES)
    pinned = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors", revision=old)
    new = hub.commit("org/model", {**FILES, "model.safetensors": WEIGHTS_2})
    assert new != old

    again = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors", revision=old)
    moved = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")

    assert again == pinned
    assert Path(pinned["path"]).read_bytes() == WEIGHTS
    assert f"/snapshots/{new}/" in moved["path"]
    assert Path(moved["path"]).read_bytes() == WEIGHTS_2
    assert hub.downloads(WEIGHTS, filename="model.safetensors") == 1
    assert hub.downloads(WEIGHTS_2, filename="model.safetensors") == 1
    refs = tmp_path / "hf" / "hub" / "models--org--model" / "refs" / "main"
    assert refs.read_text() == new


def test_offline_mode_serves_the_cache_and_asks_nothing(hub: Hub, tmp_path: Path) -> None:
    hub.commit("org/model", FILES)
    online = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")
    asked = hub.count()

    offline = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors",
                 env={"HF_HUB_OFFLINE": "1"})
    missing = hf(hub, tmp_path, "hf_hub_download", "org/model", "tokenizer.json",
                 env={"HF_HUB_OFFLINE": "1"})

    assert offline == online
    assert "LocalEntryNotFoundError" in missing["error"]
    assert hub.count() == asked


def test_gated_repo_gives_the_librarys_gated_error(hub: Hub, tmp_path: Path) -> None:
    hub.commit("meta-llama/gated", FILES, gated=True)
    hub.repos["meta-llama/gated"].granted.add("hf_granted")

    anonymous = hf(hub, tmp_path, "hf_hub_download", "meta-llama/gated", "config.json")
    refused = hf(hub, tmp_path, "hf_hub_download", "meta-llama/gated", "config.json",
                 token="hf_refused")
    granted = hf(hub, tmp_path, "hf_hub_download", "meta-llama/gated", "config.json",
                 token="hf_granted")

    assert "GatedRepoError" in anonymous["error"]
    assert "Please log in" in anonymous["message"]
    assert "GatedRepoError" in refused["error"]
    assert "not in the authorized list" in refused["message"]
    assert Path(granted["path"]).read_bytes() == FILES["config.json"]
    assert [h.get("authorization") for h in hub.headers if h.get("authorization")] == [
        "Bearer hf_refused", "Bearer hf_granted", "Bearer hf_granted"]


def test_the_token_never_goes_to_the_cdn(hub: Hub, tmp_path: Path) -> None:
    hub.commit("meta-llama/gated", FILES, gated=True)
    hub.repos["meta-llama/gated"].granted.add("hf_granted")

    weights = hf(hub, tmp_path, "hf_hub_download", "meta-llama/gated", "model.safetensors",
                 token="hf_granted")

    assert Path(weights["path"]).read_bytes() == WEIGHTS
    sent = {path: headers.get("authorization")
            for (_, path), headers in zip(hub.requests, hub.headers, strict=True)}
    assert sent == {hub.resolve_path("meta-llama/gated", "main", "model.safetensors"):
                    "Bearer hf_granted", hub.lfs_path(WEIGHTS): None}


def test_unknown_repo_revision_and_file_give_the_librarys_errors(hub: Hub, tmp_path: Path) -> None:
    hub.commit("org/model", FILES)

    repo = hf(hub, tmp_path, "hf_hub_download", "org/absent", "config.json")
    revision = hf(hub, tmp_path, "hf_hub_download", "org/model", "config.json", revision="nope")
    entry = hf(hub, tmp_path, "hf_hub_download", "org/model", "absent.json")

    assert "RepositoryNotFoundError" in repo["error"]
    assert "RevisionNotFoundError" in revision["error"]
    assert "EntryNotFoundError" in entry["error"]


def test_interrupted_download_resumes_with_a_range(hub: Hub, tmp_path: Path) -> None:
    """Cut half-way, the client resumes from what it wrote (it writes 10 MiB chunks): in the
    same call (2.x) or in the next one (0.3x raises). Either way the cached file is whole."""
    big = bytes(range(256)) * (84 * 1024)  # 21 MiB: half of it is more than one chunk
    hub.commit("org/model", {**FILES, "model.safetensors": big})
    hub.drops = 1

    first = hf(hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")
    weights = first if "path" in first else hf(
        hub, tmp_path, "hf_hub_download", "org/model", "model.safetensors")

    assert "path" in first or "OSError" in first["error"]
    assert Path(weights["path"]).read_bytes() == big
    ranges = [r for p, r in hub.ranges if p == hub.lfs_path(big)]
    assert len(ranges) == 2 and ranges[0] is None
    resumed = re.fullmatch(r"bytes=(\d+)-", ranges[1] or "")
    assert resumed is not None and 0 < int(resumed.group(1)) <= len(big) // 2


@pytest.mark.parametrize(("patterns", "expected"), [
    (["*.safetensors*", "*.pt"],  # what fairseq2 0.8.1 takes for a model checkpoint
     {"model.safetensors", "model.safetensors.index.json", "extra/consolidated.pt"}),
    ("tokenizer*.json", {"tokenizer.json", "tokenizer_config.json"}),  # and for a tokenizer
])
def test_snapshot_download_takes_only_the_allowed_patterns(
        hub: Hub, tmp_path: Path, patterns: Any, expected: set[str]) -> None:
    commit = hub.commit("org/model", FILES)

    result = hf(hub, tmp_path, "snapshot_download", "org/model", allow_patterns=patterns)

    assert result["path"].endswith(f"/models--org--model/snapshots/{commit}")
    files = snapshot_files(result["path"])
    assert files == {name: FILES[name] for name in expected}
    assert hub.count(hub.resolve_path("org/model", "main", "config.json")) == 0


def test_resolve_honours_range_requests(hub: Hub) -> None:
    hub.commit("org/model", FILES)
    url = hub.endpoint + hub.resolve_path("org/model", "main", "tokenizer.json")
    request = urllib.request.Request(url, headers={"Range": "bytes=3-"})

    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 206
        assert answer.headers["Content-Range"] == f"bytes 3-{len(FILES['tokenizer.json']) - 1}/" \
            f"{len(FILES['tokenizer.json'])}"
        assert answer.read() == FILES["tokenizer.json"][3:]
    with pytest.raises(urllib.error.HTTPError) as beyond:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=999-"}),
                               timeout=10)
    assert beyond.value.code == 416


# -- S3 through moto's server ------------------------------------------------------------------

@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    with serve_s3(tmp_path) as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        yield server


def s3fs_from_environment(**options: Any) -> Any:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **options)


def test_s3fs_gets_an_object_with_everything_from_the_environment(
        s3: S3, tmp_path: Path) -> None:
    version, etag = s3.put("models/model.pt", WEIGHTS)
    fs = s3fs_from_environment()

    fs.get(s3.url("models/model.pt"), str(tmp_path / "model.pt"))

    assert (tmp_path / "model.pt").read_bytes() == WEIGHTS
    info = fs.info(s3.url("models/model.pt"))
    assert info["ETag"].strip('"') == etag
    assert info["size"] == len(WEIGHTS)
    assert info["VersionId"] == version


def test_s3fs_endpoint_in_client_kwargs(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    s3.put("models/model.pt", WEIGHTS)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    fs = s3fs_from_environment(client_kwargs={"endpoint_url": s3.endpoint})

    assert fs.cat(s3.url("models/model.pt")) == WEIGHTS


def test_s3fs_gets_a_specific_version(s3: S3, tmp_path: Path) -> None:
    old, old_etag = s3.put("models/model.pt", WEIGHTS)
    new, new_etag = s3.put("models/model.pt", WEIGHTS_2)
    assert old != new and old_etag != new_etag
    fs = s3fs_from_environment(version_aware=True)

    with fs.open(s3.url("models/model.pt"), "rb", version_id=old) as stream:
        assert stream.read() == WEIGHTS
    fs.get_file(s3.url("models/model.pt"), str(tmp_path / "old.pt"), version_id=old)
    assert fs.cat_file(f"{s3.url('models/model.pt')}?versionId={old}") == WEIGHTS

    assert (tmp_path / "old.pt").read_bytes() == WEIGHTS
    assert fs.cat(s3.url("models/model.pt")) == WEIGHTS_2
    assert fs.info(s3.url("models/model.pt"), version_id=old)["ETag"].strip('"') == old_etag
    assert fs.info(s3.url("models/model.pt"))["VersionId"] == new
    assert {v["VersionId"] for v in fs.object_version_info(s3.url("models/model.pt"))} == {
        old, new}


def test_s3fs_reports_a_missing_object_and_version(s3: S3) -> None:
    s3.put("models/model.pt", WEIGHTS)
    fs = s3fs_from_environment(version_aware=True)

    with pytest.raises(FileNotFoundError):
        fs.cat(s3.url("models/absent.pt"))
    with pytest.raises(FileNotFoundError, match="version does not exist"):
        fs.cat_file(s3.url("models/model.pt"), version_id="no-such-version")
