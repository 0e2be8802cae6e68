"""Shared fixtures: the real benchmark assets from ../shared/bsa, and no network, ever.

Every test gets a private cache folder and an upstream URL that nothing listens on, so a test that
would download by accident fails at once instead of reaching the internet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bsa.engine.runner import RetryPolicy

#: The real benchmark assets: $BSA_DATA_DIR when the test run starts with it set, else the read-only
#: ../shared/bsa beside the checkout (as CI lays it out).
SHARED_BSA = Path(
    os.environ.get("BSA_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "bsa"
).resolve()
SHARED_DATASET = SHARED_BSA / "dataset.csv"

#: The retry policy of tests about what is retried, not when: attempts follow each other without
#: backoff (the runner's own tests check the delays), and no loopback call comes near the timeout.
#: A test that needs another number of attempts uses ``dataclasses.replace`` on it.
FAST_RETRIES = RetryPolicy(max_attempts=3, timeout_s=10.0, base_delay_s=0.0)


#: The modules imported once the tests were collected, before any ran (tests/optional.py says why
#: that should be few).
COLLECTED_MODULES = pytest.StashKey[frozenset[str]]()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[COLLECTED_MODULES] = frozenset(sys.modules)


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path_factory)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The environment of every test; also for module-scoped fixtures, which run outside it."""
    monkeypatch.setenv("BSA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("BSA_UPSTREAM_URL", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("BSA_DATA_DIR", str(SHARED_BSA))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("HF_ENDPOINT", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def shared_bsa() -> Path:
    if not SHARED_DATASET.is_file():
        pytest.fail(f"benchmark assets not found at {SHARED_BSA}; tests need ../shared/bsa")
    return SHARED_BSA


@pytest.fixture(scope="session")
def official_dataset(shared_bsa: Path):  # type: ignore[no-untyped-def]
    from bsa.data.dataset import load_dataset

    return load_dataset(shared_bsa / "dataset.csv")


@pytest.fixture(scope="session")
def mock_run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the mock model judged by the mock judge (100 items, k = 3), built once for the
    session: real figures, no network. Read only; a test that writes to a run copies it first.

    Being session-scoped, it is built before any module's fixtures (such as a browser, whose
    event loop would stop ``bsa run`` from starting its own)."""
    from tests.bsa_command import bsa_in_process

    path = tmp_path_factory.mktemp("mock-run") / "run.sqlite"
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        result = bsa_in_process(
            "run", "--run", path, "--model", "mock", "--judge", "mock", "--sample", "100", "-k", "3"
        )
    assert result.returncode == 0, result.stderr
    return path
