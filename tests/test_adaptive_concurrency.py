"""``--concurrency auto`` end to end: the real commands over real HTTP against the test server
with a request-rate cap (429 with Retry-After above R requests per second). Counts, not times."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import bsa.pipeline as pipeline
from bsa.cli import main
from bsa.engine.concurrency import DEFAULT_MAX_CONCURRENCY
from bsa.errors import BsaError
from bsa.providers import ProviderOptions
from bsa.testing.openai_server import OpenAIServer, ServerConfig, mock_judge_hook
from bsa.testing.rate_cap import RateCap

#: 20 requests per second, 2 at once, 0.3 s each: 6 in flight is the most that keeps under the
#: cap; a fixed concurrency of 32 asks five times that.
CAPPED = ServerConfig(
    reasoning_chars=60, answer_chars=20, latency=0.3, rate_limit=20.0, rate_burst=2.0
)
QUESTIONS = 40


def bsa(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question"])
        writer.writerows([f"q{n:03d}", f"Question {n}?"] for n in range(QUESTIONS))
    return path


def stored_ok(run: Path) -> int:
    with sqlite3.connect(run) as connection:
        row = connection.execute("SELECT COUNT(*) FROM generations WHERE status = 'ok'")
        return int(row.fetchone()[0])


def capped_generation(tmp_path: Path, name: str, *concurrency: str) -> tuple[Result, int]:
    """``bsa generate`` of every question against a fresh capped server: its result and how
    many of its requests the server refused for the rate."""
    run = tmp_path / f"{name}.sqlite"
    with OpenAIServer(CAPPED) as server:
        result = bsa(
            "generate", "--run", run, "--model", "openai:m", "--base-url", server.base_url,
            "--input", questions(tmp_path), "-k", "1", "--max-attempts", "50", *concurrency,
        )  # fmt: skip
        refused = server.stats.outcomes.get("rate_capped", 0)
    assert result.exit_code == 0, result.output
    assert stored_ok(run) == QUESTIONS, "no sample lost"
    return result, refused


@pytest.mark.slow  # about 12 s: the fixed concurrency's retries back off for seconds
def test_auto_concurrency_meets_a_rate_cap_with_fewer_429s_than_a_fixed_high_one(
    tmp_path: Path,
) -> None:
    auto, auto_refused = capped_generation(
        tmp_path, "auto", "--concurrency", "auto", "--max-concurrency", "32"
    )
    _, fixed_refused = capped_generation(tmp_path, "fixed", "--concurrency", "32")
    assert fixed_refused > 2 * auto_refused, (auto_refused, fixed_refused)
    assert "(concurrency auto: " in auto.output and "of max 32)" in auto.output


def test_auto_judge_concurrency_judges_every_sample_through_a_rate_cap(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    judge_config = ServerConfig(
        latency=0.02, rate_limit=30.0, rate_burst=2.0, respond=mock_judge_hook
    )
    with OpenAIServer(judge_config) as judge:
        result = bsa(
            "run", "--run", run, "--model", "mock", "--judge", "openai:j", "--judge-base-url",
            judge.base_url, "--scenario", "RO", "--limit", "6", "-k", "2",
            "--judge-concurrency", "auto", "--judge-max-concurrency", "16",
            "--judge-max-attempts", "50",
        )  # fmt: skip
        refused = judge.stats.outcomes.get("rate_capped", 0)
    assert result.exit_code == 0, result.output
    assert "24 verdicts, 0 unscored, 0 failed" in result.output
    assert refused > 0, "the cap was met, so the limit had something to adapt to"


def test_the_connection_pool_is_sized_to_the_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []

    def record(model: str, options: ProviderOptions, **kwargs: Any) -> None:
        pools.append(kwargs["limits"].max_connections)
        raise BsaError("planned")

    run = tmp_path / "r.sqlite"
    plain = ("--model", "mock", "--input", questions(tmp_path), "-k", "1")
    assert bsa("generate", "--run", run, *plain).exit_code == 0  # samples for the judge to plan
    monkeypatch.setattr(pipeline, "create_provider", record)
    given = (*plain, "--concurrency", "auto")
    bsa("generate", "--run", tmp_path / "g.sqlite", *given, "--max-concurrency", "512")
    bsa("generate", "--run", tmp_path / "g.sqlite", *given)
    bsa("generate", "--run", tmp_path / "g.sqlite", *plain)
    bsa("judge", "--run", run, "--judge", "mock", "--judge-concurrency", "auto")
    bsa("judge", "--run", run, "--judge", "mock", "--judge-concurrency", "24")
    assert pools == [512, DEFAULT_MAX_CONCURRENCY, 16, DEFAULT_MAX_CONCURRENCY, 24]


def test_bad_concurrency_values_are_one_line_errors(tmp_path: Path) -> None:
    run = tmp_path / "r.sqlite"
    base = ("generate", "--run", run, "--model", "mock", "--input", questions(tmp_path))
    cases = [
        (("--concurrency", "fast"), "error: --concurrency: 'fast' is not a positive integer or 'auto'"),
        (("--concurrency", "0"), "error: --concurrency: '0' is not a positive integer or 'auto'"),
        (("--max-concurrency", "auto"), "error: --max-concurrency: 'auto' is not a positive integer"),
        (("--concurrency", "64", "--max-concurrency", "8"), "error: concurrency 64 is above the maximum concurrency 8"),
    ]  # fmt: skip
    for flags, words in cases:
        result = bsa(*base, *flags)
        assert result.exit_code == 1, result.output
        assert result.output.strip().startswith(words), result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_the_test_servers_rate_cap_lets_a_burst_through_then_r_per_second() -> None:
    now = [0.0]
    cap = RateCap(10.0, burst=3.0, clock=lambda: now[0])
    assert [cap.take() for _ in range(4)] == [None, None, None, 0.1]
    now[0] += 0.05
    assert cap.take() == 0.05, "the Retry-After: when the next request is allowed"
    now[0] += 0.05
    assert cap.take() is None
    now[0] += 10
    assert [cap.take() is None for _ in range(4)] == [True, True, True, False], "burst, not 100"
