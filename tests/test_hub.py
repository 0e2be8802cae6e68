"""Loading ``--dataset hf:REPO[@REVISION]`` against a fake Hub on loopback (tests/fake_hub.py).

Why a subprocess per load: ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` once, when ``huggingface_hub.constants`` is imported, and copies some of them
into function defaults and URL templates. Once any test has imported it, changing the environment
no longer changes its behaviour, and patching its constants means knowing every place a given
version copies them to. A fresh interpreter per load reads the environment exactly as a user's
shell would, whatever the version, and cannot leak settings between tests; each load costs well
under a second. The environment is set with monkeypatch (overriding conftest's
``HF_HUB_OFFLINE=1``) and inherited by the subprocess.

Tests that never reach huggingface_hub's network code (file choice, spec parsing, a missing extra)
run in process.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bsa.data.hub import HubRef, choose_data_file, download_hf_dataset
from bsa.errors import MissingExtraError, SourceError
from tests.fake_hub import FakeHub, FakeRepo, closed_port_url

REPO = "OpenStellarTeam/BeyongSafeAnswer_Benchmark"
SRC = Path(__file__).resolve().parents[1] / "src"

#: Run in a fresh interpreter: load the dataset named by argv[1], print one JSON line.
LOAD_SCRIPT = """
import json, sys
from bsa.data.dataset import load_dataset
from bsa.errors import BsaError
try:
    dataset = load_dataset(sys.argv[1])
except BsaError as error:
    result = {"error": type(error).__name__, "message": str(error)}
else:
    source = dataset.source
    result = {"items": len(dataset), "official": source.official, "origin": source.origin,
              "location": source.location}
print(json.dumps(result))
"""

#: Settings of the developer's machine that would leak into the subprocess and change what it does.
FOREIGN_HF_SETTINGS = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_ETAG_TIMEOUT",
    "HF_HUB_DOWNLOAD_TIMEOUT",
    "XDG_CACHE_HOME",
)


def load_in_subprocess(spec: str) -> dict[str, Any]:
    """Load ``spec`` with bsa.data.dataset.load_dataset in a new interpreter; its one-line result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, spec],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def subset_csv(official: bytes, rows: int) -> bytes:
    """The first ``rows`` items of the official CSV, still a valid (but unofficial) dataset."""
    reader = csv.DictReader(io.StringIO(official.decode("utf-8")))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
    writer.writeheader()
    writer.writerows(itertools.islice(reader, rows))
    return out.getvalue().encode("utf-8")


@pytest.fixture
def official_csv(shared_bsa: Path) -> bytes:
    return (shared_bsa / "dataset.csv").read_bytes()


@pytest.fixture
def hub(official_csv: bytes) -> Iterator[FakeHub]:
    """The fake Hub, serving the benchmark repo with an old tagged commit (10 items) and ``main``
    (the official release, named as on no real repo so the file is found by rule, not by name)."""
    fake = FakeHub()
    repo = fake.add_dataset(REPO)
    readme = b"---\nlicense: cc-by-nc-sa-4.0\n---\n# BSA\n"
    repo.commit({"README.md": readme, "bsa.csv": subset_csv(official_csv, 10)}, ref="v0")
    repo.commit({".gitattributes": b"*.csv text\n", "README.md": readme, "BSA.csv": official_csv})
    with fake.serve():
        yield fake


@pytest.fixture
def online(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """An environment pointing huggingface_hub at the fake Hub, with an empty private HF_HOME."""
    for name in FOREIGN_HF_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return hub


def repo_of(hub: FakeHub) -> FakeRepo:
    return hub.repos[REPO]


def test_loads_the_benchmark_from_the_hub(online: FakeHub) -> None:
    result = load_in_subprocess(f"hf:{REPO}")
    main = repo_of(online).refs["main"]
    assert result == {
        "items": 2000,
        "official": True,
        "origin": "hf",
        "location": f"hf:{REPO}@{main}/BSA.csv",
    }
    assert online.count("GET", "/resolve/") == 1


def test_revision_tag_and_commit(online: FakeHub) -> None:
    old = repo_of(online).refs["v0"]
    for revision in ("v0", old):
        result = load_in_subprocess(f"hf:{REPO}@{revision}")
        assert result["items"] == 10
        assert result["official"] is False
        assert result["location"] == f"hf:{REPO}@{old}/bsa.csv"


def test_second_load_comes_from_the_cache_and_so_does_an_offline_one(
    online: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_in_subprocess(f"hf:{REPO}")
    second = load_in_subprocess(f"hf:{REPO}")
    assert second == first
    assert online.count("GET", "/resolve/") == 1  # the file itself was downloaded once

    requests_before = len(online.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_in_subprocess(f"hf:{REPO}") == first
    assert len(online.requests) == requests_before  # offline: not one request


def test_unknown_repo(online: FakeHub) -> None:
    result = load_in_subprocess("hf:OpenStellarTeam/NoSuchBenchmark")
    assert result["error"] == "SourceError"
    assert "\n" not in result["message"]
    assert "hf:OpenStellarTeam/NoSuchBenchmark: no such dataset repo" in result["message"]
    assert "HF_TOKEN" in result["message"]


def test_unknown_revision(online: FakeHub) -> None:
    result = load_in_subprocess(f"hf:{REPO}@v9")
    assert result["error"] == "SourceError"
    assert "\n" not in result["message"]
    assert "no revision 'v9'" in result["message"]


def test_several_data_files_is_an_error_naming_them(online: FakeHub) -> None:
    repo = online.add_dataset("someone/bsa-splits")
    repo.commit({"train.csv": b"id\n", "test.jsonl": b"{}\n", "README.md": b"# splits\n"})
    result = load_in_subprocess("hf:someone/bsa-splits")
    assert result["error"] == "SourceError"
    message = result["message"]
    assert "\n" not in message
    assert "test.jsonl, train.csv" in message
    assert "--dataset PATH" in message
    assert online.count("GET", "/resolve/") == 0


def test_unreachable_endpoint_fails_fast(online: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    started = time.monotonic()
    result = load_in_subprocess(f"hf:{REPO}")
    elapsed = time.monotonic() - started
    assert result["error"] == "SourceError"
    message = result["message"]
    assert "\n" not in message
    assert "cannot reach the Hugging Face Hub" in message
    assert "HF_ENDPOINT" in message and "--dataset PATH" in message and "BSA_DATA_DIR" in message
    # A load takes under a second; huggingface_hub's retries back off for 1+2+4+8+8 s.
    assert elapsed < 15, f"took {elapsed:.1f}s: retrying instead of failing fast"


def test_hub_outage_falls_back_to_the_cache(
    online: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_in_subprocess(f"hf:{REPO}")
    online.outage = True
    assert load_in_subprocess(f"hf:{REPO}") == first

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    result = load_in_subprocess(f"hf:{REPO}")
    assert result["error"] == "SourceError"
    assert "\n" not in result["message"]
    assert "cannot reach the Hugging Face Hub" in result["message"]
    assert "503" in result["message"]


def test_offline_with_nothing_cached(online: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = load_in_subprocess(f"hf:{REPO}")
    assert result["error"] == "SourceError"
    message = result["message"]
    assert "\n" not in message
    assert "HF_HUB_OFFLINE" in message and "--dataset PATH" in message
    assert online.requests == []


@pytest.mark.parametrize(
    ("files", "chosen"),
    [
        (["README.md", "bsa.CSV"], "bsa.CSV"),
        (["dataset.csv", "extra/other.csv"], "dataset.csv"),
        (["data/train.parquet", "scripts/convert.jsonl"], "data/train.parquet"),
        (["data/dataset.csv", "data/other.csv", "old/all.jsonl"], "data/dataset.csv"),
    ],
)
def test_choose_data_file(files: list[str], chosen: str) -> None:
    assert choose_data_file(files, "hf:x/y") == chosen


@pytest.mark.parametrize(
    "files",
    [
        ["a.csv", "b.jsonl"],
        ["dataset.csv", "dataset.parquet"],
        ["data/a.csv", "data/b.csv"],
    ],
)
def test_ambiguous_data_files(files: list[str]) -> None:
    with pytest.raises(SourceError, match="several data files") as raised:
        choose_data_file(files, "hf:x/y", "https://hub.example/datasets/x/y/tree/main")
    assert all(name in str(raised.value) for name in files)


def test_no_data_file() -> None:
    with pytest.raises(SourceError, match=r"no \.csv, \.jsonl, \.parquet file"):
        choose_data_file(["README.md", "data.zip"], "hf:x/y")


def test_spec_parsing() -> None:
    assert HubRef.parse(REPO) == HubRef(REPO, None)
    assert HubRef.parse(f"{REPO}@refs/pr/1") == HubRef(REPO, "refs/pr/1")
    for bad in ("", "@main", f"{REPO}@"):
        with pytest.raises(SourceError, match="expected hf:REPO"):
            HubRef.parse(bad)


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # makes the import fail
    with pytest.raises(MissingExtraError, match=r"bsa-bench\[hf\]"):
        download_hf_dataset(REPO)
