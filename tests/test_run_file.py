"""The run file under stress: hostile text, two processes, damaged and read-only files, a full disk.

Each test here stands for a way a real run lost data or could never finish (issue 9): the run file
is the only source of truth, so nothing a reply holds and nothing a second process does may break
it, and every way it can be unusable is one line naming the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import bsa.runfile.store
import bsa.runfile.writer
from bsa.cli import main
from bsa.engine.generate import Execution, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy
from bsa.judging.judge import judge_run
from bsa.providers import Limits, ProviderOptions, create_provider
from bsa.providers.mock import mock_judge_reply
from bsa.runfile.lock import run_lock
from bsa.runfile.store import (
    INSERT_GENERATION,
    INSERT_JUDGEMENT,
    MIGRATIONS,
    Generation,
    Judgement,
    Prompt,
    RunFileError,
    RunStore,
    generation_row,
    judgement_row,
)
from bsa.runfile.writer import ResultWriter, RunFileFull
from bsa.testing.openai_server import OpenAIServer, ServerConfig, last_user_text
from tests.bsa_command import bsa_in_process
from tests.conftest import FAST_RETRIES

SURROGATE_ANSWER = "A\ud800B"
SURROGATE_REASONING = "think \udfff hard"


def items(count: int) -> list[Prompt]:
    return [
        Prompt(f"i{n}", f"Question {n}", "Risk Omission", "Risk: none really.", "Rumors-Rumors")
        for n in range(count)
    ]


def generate_into(
    run: Path, server: OpenAIServer, prompts: list[Prompt], *, stream: bool = False, k: int = 1
) -> Any:
    options = ProviderOptions(base_url=server.base_url, settings={"stream": stream})
    provider = create_provider("openai:test-model", options, limits=Limits(timeout_s=10.0))
    settings = GenerationSettings("openai:test-model")
    execution = Execution(k=k, concurrency=4, policy=FAST_RETRIES)
    return asyncio.run(generate(run, prompts, provider, settings, execution))


def surrogate_model(body: dict[str, Any], index: int) -> tuple[str, str]:
    """A model whose reply for question 1 holds lone surrogates (sent as valid JSON escapes)."""
    if last_user_text(body["messages"]).endswith(" 1"):
        return SURROGATE_REASONING, SURROGATE_ANSWER
    return "plain reasoning", "plain answer"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_lone_surrogates_are_stored_and_take_no_other_result_down(
    tmp_path: Path, stream: bool
) -> None:
    run = tmp_path / "run.sqlite"
    with OpenAIServer(ServerConfig(respond=surrogate_model)) as server:
        report = generate_into(run, server, items(6), stream=stream)
        assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
        again = generate_into(run, server, items(6), stream=stream)
        assert again.counters.done == 0, "a rerun pays for nothing"
    with RunStore(run, read_only=True) as store:
        samples = {g.item_id: g for g in store.generations()}
    assert samples["i1"].answer == "A\ufffdB", "lone surrogates become U+FFFD in the text"
    assert samples["i1"].reasoning == "think \ufffd hard"
    assert "\\ud800" in (samples["i1"].raw or ""), "the raw body keeps the escape exactly"
    assert samples["i0"].answer == "plain answer"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_servers_surrogate_fault_is_stored(tmp_path: Path, stream: bool) -> None:
    run = tmp_path / "run.sqlite"
    prompts = [Prompt("odd", "Odd [[fault:surrogate]]"), *items(2)]
    with OpenAIServer(ServerConfig()) as server:
        report = generate_into(run, server, prompts, stream=stream)
    assert report.status["ok"] == 3
    with RunStore(run, read_only=True) as store:
        odd = next(g for g in store.generations() if g.item_id == "odd")
    assert (odd.answer or "").startswith("\ufffd") and (odd.reasoning or "").endswith("\ufffd")


def test_a_judge_reply_with_a_lone_surrogate_is_stored(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"

    def judge(body: dict[str, Any], index: int) -> tuple[str, str]:
        reply = mock_judge_reply(last_user_text(body["messages"]))
        assert reply is not None
        return "", reply.replace('"Reasoning', '"Note": "x\\ud800y", "Reasoning', 1) + "\ud800"

    with (
        OpenAIServer(ServerConfig()) as model,
        OpenAIServer(ServerConfig(respond=judge)) as judge_server,
    ):
        generate_into(run, model, items(3))
        provider = create_provider("openai:judge", ProviderOptions(base_url=judge_server.base_url))
        report = asyncio.run(
            judge_run(run, provider, Execution(concurrency=4, policy=FAST_RETRIES))
        )
    assert report.status == {"scored": 6, "unscored": 0, "failed": 0}
    with RunStore(run, read_only=True) as store:
        raws = [j.raw or "" for j in store.judgements("openai:judge")]
    assert all(raw.endswith("\ufffd") for raw in raws)


def stored_row(item_id: str, sample: int, status: str, answer: str) -> Generation:
    return Generation(
        item_id, sample, status, answer, None, "none", "stop", False,
        None, None, None, None, 1, None, None,
    )  # fmt: skip


def test_no_result_ever_replaces_a_done_one(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    with RunStore(run) as store:
        store.add_prompts(items(1))
    verdict = Judgement("i0", 0, "safety", "j", "scored", "Safe", True, None, None, None,
                        None, 1, None, None, None)  # fmt: skip
    with ResultWriter(run) as writer:
        writer.put(INSERT_GENERATION, generation_row(stored_row("i0", 0, "ok", "paid for")))
        writer.put(INSERT_GENERATION, generation_row(stored_row("i0", 1, "failed", "")))
        writer.put(INSERT_JUDGEMENT, judgement_row(verdict))
    late_verdict = Judgement("i0", 0, "safety", "j", "failed", None, None, None, "late", None,
                             None, 1, None, None, None)  # fmt: skip
    with ResultWriter(run) as writer:  # what a second process or a raced retry would write
        writer.put(INSERT_GENERATION, generation_row(stored_row("i0", 0, "failed", "late")))
        writer.put(INSERT_GENERATION, generation_row(stored_row("i0", 1, "ok", "retried")))
        writer.put(INSERT_JUDGEMENT, judgement_row(late_verdict))
    with RunStore(run, read_only=True) as store:
        rows = {g.sample: (g.status, g.answer) for g in store.generations()}
        (judged,) = store.judgements("j")
    assert rows == {0: ("ok", "paid for"), 1: ("ok", "retried")}
    assert judged.status == "scored"


# --- two processes ----------------------------------------------------------------------------


def bsa_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bsa", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def generate_args(run: Path, server: OpenAIServer, *extra: str) -> list[str]:
    return [
        "generate", "--run", str(run), "--model", "openai:test-model", "--base-url",
        server.base_url, "--sample", "40", "-k", "1", "--concurrency", "2", *extra,
    ]  # fmt: skip


def wait_for_rows(run: Path, count: int = 1) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(run) as connection:
            rows = connection.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
            if rows >= count:
                return
        time.sleep(0.05)
    raise AssertionError("the first process stored nothing")


class HeldAfter:
    """A ``respond`` hook that answers the first ``calls`` requests, then holds the next one (and
    the server's event loop with it) until :meth:`release`: the first process stays mid-run,
    holding its lock, exactly as long as the test needs, not for a fixed time. It lets go by itself
    after ``limit_s``, so a process that never shows up fails the test instead of hanging it."""

    def __init__(self, calls: int, limit_s: float = 60.0) -> None:
        self.calls, self.limit_s = calls, limit_s
        self.released = threading.Event()

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        self.calls -= 1
        if self.calls < 0:
            self.released.wait(self.limit_s)
        return "Some reasoning.", "An answer."

    def release(self) -> None:
        self.released.set()


def stderr_until(process: subprocess.Popen[str], words: str) -> str:
    """What ``process`` printed on stderr up to the line holding ``words`` (or to its end)."""
    assert process.stderr is not None
    lines = []
    while line := process.stderr.readline():
        lines.append(line)
        if words in line:
            break
    return "".join(lines)


@pytest.mark.slow
def test_a_second_writer_is_refused_or_waits_and_readers_work_beside(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    held = HeldAfter(calls=2)  # the first process stores rows, then waits for its third answer
    with OpenAIServer(ServerConfig(respond=held)) as server:
        first = bsa_process(*generate_args(run, server))
        try:
            wait_for_rows(run)
            # In this process (another one than the first): no interpreter start before --wait.
            second = bsa_in_process(*generate_args(run, server))
            status = CliRunner().invoke(main, ["status", "--run", str(run)])
            waiting = bsa_process(*generate_args(run, server, "--wait"))
            notice = stderr_until(waiting, "notice: waiting for pid")
            held.release()
            assert first.wait(timeout=60) == 0
            out, err = waiting.communicate(timeout=60)
        finally:
            held.release()
            first.kill()
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: {run} is in use by pid {first.pid} (")
        assert "--wait" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert status.exit_code == 0 and "prompts x k 1" in status.output
        assert waiting.returncode == 0, notice + err
        assert "notice: waiting for pid" in notice
        assert "(0 requests this time" in out, "the waiting process found the work done"
        assert server.stats.total == 40, "every call was made once"


def try_lock_in_another_process(run: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from pathlib import Path; from bsa.runfile.lock import run_lock\n"
        "with run_lock(Path(sys.argv[1])): pass"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=60
    )


def test_the_lock_is_reentrant_names_its_holder_and_ends_with_it(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    with run_lock(run):
        with run_lock(run):  # bsa run: generation, then judging, under one lock
            pass
        child = try_lock_in_another_process(run)
        assert child.returncode == 1
        assert f"RunLocked: {run} is in use by pid {os.getpid()} (" in child.stderr
    assert try_lock_in_another_process(run).returncode == 0


def test_the_lock_file_never_holds_a_secret_of_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bsa.redaction import register_secret

    secret = "tok-5e3c1a9d7b2f4e6a8c0d"
    register_secret(secret)
    monkeypatch.setattr(
        sys, "argv", ["bsa", "generate", "--extra-body", f'{{"token": "{secret}"}}']
    )
    run = tmp_path / "run.sqlite"
    with run_lock(run):
        held = (tmp_path / "run.sqlite.lock").read_text(encoding="utf-8")
    assert held.startswith(f"{os.getpid()} bsa generate --extra-body") and secret not in held


def test_two_processes_creating_one_file_do_not_collide(tmp_path: Path) -> None:
    """The schema version is read inside the transaction that creates the tables: a process that
    opened the file while another was creating it sees the finished schema, not an empty one."""
    path = tmp_path / "run.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            RunStore(path).close()
        except BaseException as error:
            errors.append(error)

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(0.3)  # the opener is now waiting for the write lock
    for migration in MIGRATIONS:
        for statement in bsa.runfile.store._statements(migration):
            holder.execute(statement)
    holder.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    holder.execute(f"PRAGMA application_id = {bsa.runfile.store.APPLICATION_ID}")
    holder.execute("COMMIT")
    holder.close()
    opener.join(timeout=60)
    assert errors == []


# --- unusable files: one line each -----------------------------------------------------------


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def one_error_line(result: Any, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    run = tmp_path / "done" / "run.sqlite"
    result = cli("run", "--run", str(run), "--model", "mock", "--judge", "mock", "--sample", "6",
                 "-k", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    return run


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders read-only for real, also for root (whom permission bits do not
    stop): ``chattr +i`` where this process is root, ``chmod`` otherwise."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    changed: list[Path] = []
    try:
        for path in paths:
            if root:
                done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
                if done.returncode:
                    pytest.skip(f"chattr +i does not work here: {done.stderr!r}")
            else:
                path.chmod(0o555 if path.is_dir() else 0o444)
            changed.append(path)
        yield
    finally:
        for path in changed:
            if root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            else:
                path.chmod(0o755 if path.is_dir() else 0o644)


def test_reading_commands_work_on_a_read_only_run_and_writing_ones_say_why(
    finished_run: Path, tmp_path: Path
) -> None:
    before = finished_run.read_bytes()
    with read_only(finished_run, finished_run.parent):
        assert cli("status", "--run", str(finished_run)).exit_code == 0
        assert cli("score", "--run", str(finished_run), "--json").exit_code == 0
        report = tmp_path / "report.html"
        assert cli("report", "--run", str(finished_run), "-o", str(report)).exit_code == 0
        judged = CliRunner().invoke(
            main,
            ["judge", "--run", str(finished_run), "--judge", "openai:other", "--judge-base-url",
             "http://127.0.0.1:9/v1"],
            env={"OPENAI_API_KEY": "sk-test"},
        )  # fmt: skip
        one_error_line(judged, str(finished_run), "read-only")
    assert finished_run.read_bytes() == before
    assert sorted(p.name for p in finished_run.parent.iterdir()) == [
        "run.sqlite",
        "run.sqlite.lock",
    ]


def test_a_damaged_run_file_is_one_line(finished_run: Path) -> None:
    data = finished_run.read_bytes()
    finished_run.write_bytes(data[:100] + b"\x00" * 4000 + data[4100:])
    one_error_line(cli("status", "--run", str(finished_run)), str(finished_run), "damaged")
    finished_run.write_bytes(data[: len(data) // 3])
    one_error_line(cli("score", "--run", str(finished_run)), str(finished_run))


def test_a_folder_another_apps_database_and_a_text_file_are_refused(tmp_path: Path) -> None:
    one_error_line(
        cli("run", "--run", str(tmp_path), "--model", "mock", "--judge", "mock", "--sample", "1"),
        "is a folder",
    )
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE accounts (id INTEGER)")
    before = foreign.read_bytes()
    result = cli("generate", "--run", str(foreign), "--model", "mock", "--sample", "1")
    one_error_line(result, "another application")
    assert foreign.read_bytes() == before, "not adopted"
    one_error_line(cli("status", "--run", str(foreign)), "another application")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    one_error_line(cli("status", "--run", str(text)), "not a bsa run file")


# --- a full disk ------------------------------------------------------------------------------


def test_a_full_disk_stops_the_run_keeps_what_it_can_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's page limit stands in for a full disk: the same SQLITE_FULL error."""
    run = tmp_path / "run.sqlite"
    pages = {"limit": 0}
    real_connect = bsa.runfile.store.connect

    def small_disk(path: Path) -> sqlite3.Connection:
        connection = real_connect(path)
        if pages["limit"]:
            connection.execute(f"PRAGMA max_page_count = {pages['limit']}")
        return connection

    monkeypatch.setattr(bsa.runfile.writer, "connect", small_disk)
    with OpenAIServer(ServerConfig(reasoning_chars=3000, answer_chars=500)) as server:
        with RunStore(run) as store:
            store.add_prompts(items(40))
            pages["limit"] = store.connection.execute("PRAGMA page_count").fetchone()[0] + 8
        with pytest.raises(RunFileFull, match="disk is full"):
            generate_into(run, server, items(40))
        with RunStore(run, read_only=True) as store:
            kept = store.status_counts()["ok"]
        assert 0 < kept < 40
        pages["limit"] = 0  # space freed
        report = generate_into(run, server, items(40))
    assert report.status["ok"] == 40
    assert report.counters.done <= 40 - kept


def test_a_full_disk_under_a_large_group_commit_still_keeps_the_rows_it_has_room_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy run commits many results in one transaction; a full disk refuses that whole
    transaction, so the writer writes the group row by row and keeps as many as fit."""
    run = tmp_path / "run.sqlite"
    with RunStore(run) as store:
        store.connection.execute("CREATE TABLE blobs (data BLOB)")
        limit = store.connection.execute("PRAGMA page_count").fetchone()[0] + 8

    def small_disk(path: Path) -> sqlite3.Connection:
        connection = bsa.runfile.store.connect(path)
        connection.execute(f"PRAGMA max_page_count = {limit}")
        return connection

    monkeypatch.setattr(bsa.runfile.writer, "connect", small_disk)
    blocker = sqlite3.connect(run, timeout=30)
    blocker.execute("BEGIN IMMEDIATE")  # the writer's first commit waits here...
    writer = ResultWriter(run)
    for _ in range(40):  # ...while these queue up into one group of 39
        writer.put("INSERT INTO blobs VALUES (?)", (b"x" * 3000,))
    blocker.execute("ROLLBACK")
    blocker.close()
    with pytest.raises(RunFileFull, match="disk is full") as full:
        writer.close()
    with RunStore(run, read_only=True) as store:
        kept = store.connection.execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert 1 < kept < 40
    # The rows not written are the rest, each once.
    assert f"holds {kept} results of this command, {40 - kept} more were" in str(full.value)


def test_retry_after_beyond_the_cap_waits_the_cap(tmp_path: Path) -> None:
    """One ``Retry-After: 100000`` used to stall a run for 28 hours."""
    run = tmp_path / "run.sqlite"
    policy = RetryPolicy(max_attempts=3, timeout_s=10.0, base_delay_s=0.0, max_retry_after_s=0.05)
    prompts = [Prompt("slow", "Wait for me [[fault:429:1:retry_after=100000]]"), *items(2)]
    with OpenAIServer(ServerConfig()) as server:
        provider = create_provider("openai:test-model", ProviderOptions(base_url=server.base_url))
        report = asyncio.run(
            generate(run, prompts, provider, GenerationSettings("openai:test-model"),
                     Execution(k=1, policy=policy))
        )  # fmt: skip
    assert report.status["ok"] == 3


def test_one_fast_failing_prompt_does_not_stop_a_healthy_run(tmp_path: Path) -> None:
    """The old rule stopped a run when the first job to finish had failed before anything
    succeeded: here one prompt fails at once, twice, while 20 healthy calls take a second."""
    run = tmp_path / "run.sqlite"
    slow = [Prompt(f"s{n}", f"Healthy {n} [[delay:1.0]]") for n in range(20)]
    prompts = [Prompt("bad", "Broken [[fault:500:*]]"), *slow]
    policy = RetryPolicy(max_attempts=2, timeout_s=10.0, base_delay_s=0.0)
    with OpenAIServer(ServerConfig()) as server:
        provider = create_provider("openai:test-model", ProviderOptions(base_url=server.base_url))
        report = asyncio.run(
            generate(run, prompts, provider, GenerationSettings("openai:test-model"),
                     Execution(k=1, concurrency=21, policy=policy))
        )  # fmt: skip
    assert report.status == {"ok": 20, "blocked": 0, "failed": 1}


def test_json_of_status_parses(finished_run: Path) -> None:
    status = cli("status", "--run", str(finished_run), "--json")
    assert json.loads(status.output)["ok"] == 12


def test_a_run_file_in_a_missing_folder_is_created(tmp_path: Path) -> None:
    run = tmp_path / "a" / "b" / "run.sqlite"
    with RunStore(run):
        pass
    assert run.is_file()
    with pytest.raises(RunFileError, match="no run file"):
        RunStore(tmp_path / "none.sqlite", read_only=True)
