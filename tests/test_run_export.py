"""``bsa export`` carries every per-sample and per-verdict fact the run file holds: the replica
that answered and the cached prompt tokens, from a real run over two replicas of the test server,
and the older columns where they always were (users' scripts index them)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bsa.testing.openai_server import OpenAIServer, mock_judge_hook
from tests.bsa_command import bsa_in_process as bsa
from tests.conftest import isolate
from tests.test_replicas import completed, quick, servers

#: The sample columns as bsa 0.x wrote them; new columns go after them, never between.
FIRST_SAMPLE_COLUMNS = [
    "id", "sample", "status", "answer", "reasoning", "reasoning_source", "finish_reason",
    "truncated", "prompt_tokens", "completion_tokens", "reasoning_tokens", "latency_s",
    "attempts", "error", "seed",
]  # fmt: skip
#: 480 characters: 120 tokens at the test server's 4 characters a token, all read from its
#: prefix cache (it counts every message before the last as cached).
SYSTEM_PROMPT = "Be careful. " * 40
ITEMS = 6


class ReplicatedRun:
    def __init__(self, run: Path, model: list[OpenAIServer], judge: list[OpenAIServer]) -> None:
        self.run = run
        self.model_urls = {server.base_url: completed(server) for server in model}
        self.judge_urls = {server.base_url: completed(server) for server in judge}


@pytest.fixture(scope="module")
def replicated_run(tmp_path_factory: pytest.TempPathFactory) -> ReplicatedRun:
    """A run whose model and judge each answered over two replicas, with a system prompt."""
    run = tmp_path_factory.mktemp("replicated") / "r.sqlite"
    judge = quick(respond=mock_judge_hook)
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        servers(quick(0.01), quick(0.01), judge, judge) as (a, b, c, d),
    ):
        isolate(monkeypatch, tmp_path_factory)  # a module fixture runs outside the autouse one
        result = bsa(
            "run", "--run", run, "--sample", str(ITEMS), "-k", "2", "--model", "openai:test-model",
            "--base-url", a.base_url, "--base-url", b.base_url, "--system-prompt", SYSTEM_PROMPT,
            "--judge", "openai:judge", "--judge-base-url", c.base_url,
            "--judge-base-url", d.base_url, "--concurrency", "4", "--judge-concurrency", "4",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        made = ReplicatedRun(run, [a, b], [c, d])
    return made


def exported(run: Path, fmt: str, *more: str) -> str:
    result = bsa("export", "--run", run, "--format", fmt, "-o", "-", *more)
    assert result.returncode == 0, result.stderr
    return result.stdout


def csv_rows(run: Path, fmt: str, *more: str) -> tuple[list[str], list[dict[str, str]]]:
    text = exported(run, fmt, *more)
    header = next(csv.reader(io.StringIO(text)))
    return header, list(csv.DictReader(io.StringIO(text)))


def test_sample_csv_keeps_the_old_columns_first_and_appends_the_new(
    replicated_run: ReplicatedRun,
) -> None:
    header, _ = csv_rows(replicated_run.run, "csv")
    assert header[: len(FIRST_SAMPLE_COLUMNS)] == FIRST_SAMPLE_COLUMNS
    assert header[len(FIRST_SAMPLE_COLUMNS) :] == [
        "replica", "cached_tokens", "cache_write_tokens", "created_at",
    ]  # fmt: skip


def test_samples_carry_their_replica_and_cached_tokens(replicated_run: ReplicatedRun) -> None:
    _, rows = csv_rows(replicated_run.run, "csv")
    assert len(rows) == ITEMS * 2
    answered = {
        url: sum(row["replica"] == url for row in rows) for url in replicated_run.model_urls
    }
    assert answered == replicated_run.model_urls  # each replica's rows, as many as it answered
    assert {row["cached_tokens"] for row in rows} == {"120"}
    assert {row["cache_write_tokens"] for row in rows} == {""}  # not reported: empty, not 0
    assert all(float(row["created_at"]) > 1.6e9 for row in rows)
    records = [json.loads(line) for line in exported(replicated_run.run, "jsonl").splitlines()]
    assert [list(record) for record in records[:1]] == [list(rows[0])]  # the same keys, in order
    assert {(r["replica"], r["cached_tokens"]) for r in records} == {
        (url, 120) for url in replicated_run.model_urls
    }
    assert all(isinstance(r["created_at"], float) for r in records)


def test_verdicts_export_every_verdict_with_its_judge_replica(
    replicated_run: ReplicatedRun,
) -> None:
    header, rows = csv_rows(replicated_run.run, "verdicts-csv")
    assert header[:4] == ["id", "sample", "judge", "kind"]
    assert len(rows) == ITEMS * 2 * 2  # a safety and a thinking verdict per sample
    assert {(row["judge"], row["status"]) for row in rows} == {("openai:judge", "scored")}
    answered = {
        url: sum(row["replica"] == url for row in rows) for url in replicated_run.judge_urls
    }
    assert answered == replicated_run.judge_urls
    assert {row["kind"] for row in rows} == {"safety", "thinking"}
    assert all(row["passed"] in ("True", "False") and row["verdict"] for row in rows)
    assert all(row["rationale"] and len(row["prompt_sha256"]) == 64 for row in rows)
    assert all(int(row["prompt_tokens"]) > 0 and row["cached_tokens"] == "0" for row in rows)
    records = [
        json.loads(line) for line in exported(replicated_run.run, "verdicts-jsonl").splitlines()
    ]
    assert [list(record) for record in records[:1]] == [header]
    assert {record["passed"] for record in records} <= {True, False}


def test_verdicts_of_one_judge_and_of_an_unknown_one(mock_run_path: Path) -> None:
    _, rows = csv_rows(mock_run_path, "verdicts-csv", "--judge", "mock")
    assert rows and {row["judge"] for row in rows} == {"mock:mock"}
    unknown = bsa("export", "--run", mock_run_path, "--format", "verdicts-csv", "-o", "-",
                  "--judge", "openai:nobody")  # fmt: skip
    assert unknown.returncode != 0 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        f"error: {mock_run_path} has no verdicts of openai:nobody (judges: mock:mock)"
    ]
