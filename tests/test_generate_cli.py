"""``bsa generate`` as a user runs it against the test server: a real process where it is
interrupted by Ctrl-C and kill -9, in process (CliRunner) where it is fed the upstream config and
CSV and watched for leaked keys."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsa.testing.openai_server import OpenAIServer, ServerConfig

from .bsa_command import bsa_in_process as bsa

SECRET = "sk-bsa-test-3f9a1c77e2d54b0e8c1d-SECRET"


def write_questions(path: Path, questions: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question"])
        writer.writerows([f"q{n:03d}", q] for n, q in enumerate(questions))
    return path


def bsa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bsa", *args]


def stored_ok(run: Path) -> int:
    if not run.exists():
        return 0
    with sqlite3.connect(run) as connection:
        try:
            return int(
                connection.execute(
                    "SELECT COUNT(*) FROM generations WHERE status = 'ok'"
                ).fetchone()[0]
            )
        except sqlite3.OperationalError:
            return 0


@pytest.fixture
def slow_server() -> Iterator[OpenAIServer]:
    config = ServerConfig(latency=0.3, jitter=0.15, reasoning_chars=200, answer_chars=50)
    with OpenAIServer(config) as server:
        yield server


def generate_args(run: Path, questions: Path, server: OpenAIServer, *extra: str) -> list[str]:
    return [
        "generate", "--run", str(run), "--model", "openai:test-model", "--base-url", server.base_url,
        "--input", str(questions), "-k", "1", "--concurrency", "4", *extra,
    ]  # fmt: skip


def interrupt_midway(
    server: OpenAIServer, tmp_path: Path, sig: signal.Signals
) -> tuple[subprocess.Popen[str], Path, Path]:
    run = tmp_path / "run.sqlite"
    questions = write_questions(tmp_path / "q.csv", [f"Question number {n}" for n in range(40)])
    process = subprocess.Popen(
        bsa_command(*generate_args(run, questions, server)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while stored_ok(run) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait(timeout=30)
    return process, run, questions


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(
    slow_server: OpenAIServer, tmp_path: Path
) -> None:
    process, run, questions = interrupt_midway(slow_server, tmp_path, signal.SIGINT)
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    saved = stored_ok(run)
    assert 8 <= saved < 40
    requests_before = slow_server.stats.total
    assert requests_before - saved <= 4, "only calls in flight were lost"
    again = bsa(*generate_args(run, questions, slow_server))
    assert again.returncode == 0, again.stderr
    assert stored_ok(run) == 40
    assert slow_server.stats.total - 40 <= 4


@pytest.mark.slow
def test_kill_9_loses_only_calls_in_flight(slow_server: OpenAIServer, tmp_path: Path) -> None:
    process, run, questions = interrupt_midway(slow_server, tmp_path, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    again = bsa(*generate_args(run, questions, slow_server))
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(run) as connection:
        rows = connection.execute("SELECT item_id, sample, status FROM generations").fetchall()
    assert len(rows) == 40 == len({(r[0], r[1]) for r in rows})
    assert {r[2] for r in rows} == {"ok"}
    repeated = slow_server.stats.total - 40
    # The calls in flight (4), plus at most one result caught inside the commit in progress.
    assert repeated <= 4 + 1, repeated


def test_incomplete_run_exits_3_and_status_says_what_is_left(tmp_path: Path) -> None:
    with OpenAIServer(ServerConfig()) as server:
        questions = write_questions(
            tmp_path / "q.csv", ["Fine", "Broken [[fault:500:*]]", "Also fine"]
        )
        run = tmp_path / "run.sqlite"
        result = bsa(*generate_args(run, questions, server, "--max-attempts", "2"))
    assert result.returncode == 3, result.stderr
    assert "incomplete: 1 samples still missing after retries" in result.stderr
    status = bsa("status", "--run", str(run), "--json")
    assert json.loads(status.stdout) | {"run": "", "cost": None} == {
        "run": "", "model": "openai:test-model", "prompts": 3, "k": 1,
        "ok": 2, "blocked": 0, "failed": 1, "missing": 1,
        "identical_sample_items": 0, "multi_sample_items": 0,
        "replicas": {"model": {}, "judges": {}}, "batches": [], "warnings": [], "cost": None,
    }  # fmt: skip


def test_upstream_config_and_csv(tmp_path: Path) -> None:
    with OpenAIServer(ServerConfig()) as server:
        write_questions(tmp_path / "questions.csv", ["First question", "Second question"])
        (tmp_path / "config.yaml").write_text(
            "model:\n"
            '  api_key: "YOUR_API_KEY"\n'
            f'  base_url: "{server.base_url}"\n'
            '  model_name: "test-model"\n'
            "  temperature: 0.7\n"
            "  top_p: 0.9\n"
            "runtime:\n"
            "  max_concurrent: 3\n"
            "  retry_times: 2\n"
            "  retry_delay: 1\n"
            "  save_interval: 10\n"
            '  log_level: "INFO"\n'
            "io:\n"
            '  input_file: "questions.csv"\n'
            '  output_file: "out/results.csv"\n'
            '  checkpoint_dir: "checkpoints/"\n',
            encoding="utf-8",
        )
        result = bsa("generate", "--config", str(tmp_path / "config.yaml"), "-k", "1")
        sent = server.requests[-1]
    assert result.returncode == 0, result.stderr
    assert "runtime.save_interval, runtime.log_level not used" in result.stderr
    assert (sent["temperature"], sent["top_p"]) == (0.7, 0.9)
    assert (tmp_path / "checkpoints" / "bsa-run.sqlite").is_file()
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["q000", "q001"]
    assert [r["status"] for r in rows] == ["success", "success"]
    assert rows[0]["question"] == "First question"
    assert rows[0]["reasoning_content"] and rows[0]["answer"]


def test_config_typo_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "model:\n  model_name: m\n  temprature: 0.5\n", encoding="utf-8"
    )
    result = bsa(
        "generate", "--config", str(tmp_path / "config.yaml"), "--run", str(tmp_path / "r.sqlite")
    )
    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: {tmp_path / 'config.yaml'}: model.temprature: Extra inputs are not permitted\n"
    )


def test_missing_key_is_one_line(tmp_path: Path) -> None:
    questions = write_questions(tmp_path / "q.csv", ["Q"])
    result = bsa(
        "generate", "--run", str(tmp_path / "r.sqlite"), "--model", "openai:gpt-x", "--input", str(questions),
        env={"OPENAI_API_KEY": None},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: no API key: set the environment variable OPENAI_API_KEY"
    )
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_the_api_key_is_never_written_anywhere(tmp_path: Path) -> None:
    questions = write_questions(tmp_path / "q.csv", ["Q one", "Q two [[fault:content_filter]]"])
    run = tmp_path / "run.sqlite"
    env = {"OPENAI_API_KEY": SECRET}
    outputs: list[str] = []
    with OpenAIServer(ServerConfig(api_key=SECRET)) as server:
        ok = bsa(*generate_args(run, questions, server), env=env)
        assert ok.returncode == 0, ok.stderr
        outputs += [ok.stdout, ok.stderr]
        bad = bsa(
            *generate_args(tmp_path / "bad.sqlite", questions, server),
            env={"OPENAI_API_KEY": SECRET[:-1] + "X"},
        )
        assert bad.returncode == 1
        assert "authentication failed" in bad.stderr
        outputs += [bad.stdout, bad.stderr, bad.stderr.replace(SECRET[:-1], "")]
    (tmp_path / "key.txt").write_text(SECRET, encoding="utf-8")
    for fmt in ("jsonl", "csv", "upstream-csv"):
        result = bsa(
            "export", "--run", str(run), "--format", fmt, "-o", str(tmp_path / f"export.{fmt}")
        )
        outputs += [
            result.stdout,
            result.stderr,
            (tmp_path / f"export.{fmt}").read_text(encoding="utf-8"),
        ]
    status = bsa("status", "--run", str(run))
    outputs += [status.stdout, status.stderr]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "key.txt"]
    blobs = [p.read_bytes() for p in files]
    assert not any(SECRET in text or SECRET[:-1] in text for text in outputs)
    assert not any(SECRET.encode() in blob or SECRET[:-1].encode() in blob for blob in blobs)
