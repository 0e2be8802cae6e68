"""Fetching the official files: precedence, download, atomic cache, and sha256 refusal.

The download path runs against a real HTTP server on loopback (tests/upstream_server.py), never the
internet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bsa.data import sources
from bsa.data.dataset import load_dataset
from bsa.errors import IntegrityError, SourceError

from .upstream_server import UpstreamServer, official_files


@pytest.fixture
def upstream(shared_bsa: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UpstreamServer]:
    server = UpstreamServer(official_files(shared_bsa))
    with server.running():
        monkeypatch.setenv(sources.UPSTREAM_URL_ENV, server.url)
        monkeypatch.delenv(sources.DATA_DIR_ENV)
        yield server


def test_download_verifies_and_caches(upstream: UpstreamServer) -> None:
    for asset in sources.ASSETS:
        resolved = sources.resolve(asset)
        assert resolved.origin == "download"
        assert resolved.sha256 == asset.sha256
        assert resolved.path == sources.cache_dir() / asset.name
    again = sources.resolve(sources.DATASET)
    assert again.origin == "cache"
    assert upstream.requests[upstream.path_of(sources.DATASET)] == 1, (
        "the cache is used, not paid twice"
    )
    assert [p.name for p in sources.cache_dir().rglob(".*.part")] == []


def test_load_dataset_downloads_when_nothing_is_local(upstream: UpstreamServer) -> None:
    dataset = load_dataset()
    assert len(dataset) == 2000
    assert dataset.source.origin == "download"
    assert dataset.source.official


def test_one_changed_byte_in_the_cache_is_refused(upstream: UpstreamServer) -> None:
    cached = sources.resolve(sources.DATASET).path
    data = bytearray(cached.read_bytes())
    data[1000] ^= 0x01
    cached.write_bytes(bytes(data))
    with pytest.raises(
        IntegrityError, match=r"fails its sha256 check .*bsa data download --refresh"
    ):
        sources.resolve(sources.DATASET)
    with pytest.raises(IntegrityError):
        load_dataset()


def test_refresh_replaces_a_bad_cached_file(upstream: UpstreamServer) -> None:
    cached = sources.resolve(sources.DATASET).path
    cached.write_bytes(b"tampered")
    assert sources.download(sources.DATASET, refresh=True).sha256 == sources.DATASET.sha256
    assert sources.resolve(sources.DATASET).origin == "cache"


def test_a_tampered_download_is_refused_and_not_cached(upstream: UpstreamServer) -> None:
    path = upstream.path_of(sources.SAFE_ANSWER_JUDGE)
    upstream.files[path] = upstream.files[path].replace(b"Unsafe", b"Unsafe!", 1)
    with pytest.raises(IntegrityError, match=r"fails its sha256 check .*nothing was cached"):
        sources.resolve(sources.SAFE_ANSWER_JUDGE)
    assert list(sources.cache_dir().iterdir()) == [sources.cache_dir() / "prompts"]
    assert list((sources.cache_dir() / "prompts").iterdir()) == []


def test_http_error_is_one_line(upstream: UpstreamServer) -> None:
    del upstream.files[upstream.path_of(sources.DATASET)]
    with pytest.raises(SourceError) as caught:
        sources.resolve(sources.DATASET)
    assert str(caught.value) == (
        f"could not download {upstream.url}/{sources.UPSTREAM_COMMIT}/data/dataset.csv: "
        "HTTP 404 Not Found"
    )


def test_unreachable_upstream_says_how_to_work_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sources.DATA_DIR_ENV)
    with pytest.raises(
        SourceError, match=r"could not download http://127\.0\.0\.1:9/.*set BSA_DATA_DIR"
    ):
        sources.resolve(sources.DATASET)


def test_data_dir_wins_over_cache_and_network(
    upstream: UpstreamServer, shared_bsa: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(shared_bsa))
    resolved = sources.resolve(sources.THINKING_JUDGE)
    assert (resolved.origin, resolved.official) == ("data_dir", True)
    assert sum(upstream.requests.values()) == 0


def test_data_dir_without_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(SourceError, match=f"BSA_DATA_DIR={tmp_path} has no dataset.csv"):
        sources.resolve(sources.DATASET)


def test_modified_file_in_data_dir_is_used_with_a_notice(
    shared_bsa: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prompts").mkdir()
    rules = (shared_bsa / "prompts" / "Safe_Rules.md").read_text(encoding="utf-8")
    (tmp_path / "prompts" / "Safe_Rules.md").write_text(
        rules + "\nLocal addendum.\n", encoding="utf-8"
    )
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path))
    resolved = sources.resolve(sources.SAFETY_RULES)
    assert not resolved.official
    assert (
        resolved.notice is not None and "differs from the official BSA release" in resolved.notice
    )
