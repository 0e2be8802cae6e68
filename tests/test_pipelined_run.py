"""``bsa run`` pipelined: the judges grade each sample once generation has committed it, while
generation goes on. Model and judge are the project's test server over real HTTP (the judge through
its ``respond`` hook); the run is a real process where it is interrupted by Ctrl-C or kill -9."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import bsa as library
from bsa.engine.progress import BarProgress
from bsa.engine.runner import RunCounters
from bsa.providers.mock import mock_judge_reply
from bsa.runfile.store import INSERT_GENERATION, Generation, Prompt, RunStore, generation_row
from bsa.runfile.writer import ResultWriter
from bsa.testing.openai_server import OpenAIServer, ServerConfig, last_user_text

from .bsa_command import bsa_in_process as bsa

#: The longest a gated model answer waits for the judge; a run that judges only after
#: generating waits this long in vain (and then fails its test).
GATE_S = 30.0


def run_args(run: Path, model: OpenAIServer, judge: OpenAIServer, *extra: str) -> list[str]:
    return [
        "run", "--run", str(run), "--model", "openai:test-model", "--base-url", model.base_url,
        "--judge", "openai:test-judge", "--judge-base-url", judge.base_url, "-k", "1", *extra,
    ]  # fmt: skip


def texts_for(prompt: str) -> tuple[str, str]:
    """A reasoning and an answer that name their prompt, so a judge prompt shows its sample."""
    tag = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return f"Reasoning {tag}: the request hides a risk.", f"Answer {tag}: here is a safe reply."


class Model:
    """The model under test; its ``gate_from``-th answer waits until the judge has been asked
    something (up to GATE_S, once: a run that judges only after generating then goes on)."""

    def __init__(self, judge_asked: Callable[[], bool], gate_from: int) -> None:
        self.judge_asked = judge_asked
        self.gate_from = gate_from
        self.calls = 0
        self.waited_in_vain = 0

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        self.calls += 1
        if self.calls >= self.gate_from and not self.waited_in_vain:
            deadline = time.monotonic() + GATE_S
            while not self.judge_asked() and time.monotonic() < deadline:
                time.sleep(0.01)  # blocks this server alone, which has one request at a time
            self.waited_in_vain += not self.judge_asked()
        return texts_for(last_user_text(body["messages"]))


class Judge:
    """The mock judge's verdicts; notes whether each sample it is shown was already committed to
    the run file, and can run ``on_first`` when first asked."""

    def __init__(self, run: Path, on_first: Callable[[], None] = lambda: None) -> None:
        self.run = run
        self.asked = threading.Event()
        self.on_first = on_first
        self.uncommitted: list[str] = []

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        prompt = last_user_text(body["messages"])
        if not self.asked.is_set():
            self.asked.set()
            self.on_first()
        if not self._committed(prompt):
            self.uncommitted.append(prompt[:80])
        reply = mock_judge_reply(prompt)
        assert reply is not None
        return "", reply

    def _committed(self, prompt: str) -> bool:
        uri = self.run.resolve().as_uri() + "?mode=ro"
        with sqlite3.connect(uri, uri=True) as connection:
            rows = connection.execute(
                "SELECT answer, reasoning FROM generations WHERE status = 'ok'"
            ).fetchall()
        return any(answer in prompt or reasoning in prompt for answer, reasoning in rows)


def count(run: Path, sql: str) -> int:
    with sqlite3.connect(run) as connection:
        return int(connection.execute(sql).fetchone()[0])


def stored_samples(run: Path) -> int:
    return count(run, "SELECT COUNT(*) FROM generations WHERE status = 'ok'")


def stored_verdicts(run: Path) -> int:
    return count(run, "SELECT COUNT(*) FROM judgements WHERE status = 'scored'")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Model, Judge, OpenAIServer, OpenAIServer]]:
    judge = Judge(tmp_path / "run.sqlite")
    model = Model(judge.asked.is_set, gate_from=4)
    with (
        OpenAIServer(ServerConfig(respond=model)) as model_server,
        OpenAIServer(ServerConfig(respond=judge)) as judge_server,
    ):
        yield model, judge, model_server, judge_server


def test_judges_grade_committed_samples_while_generation_goes_on(
    servers: tuple[Model, Judge, OpenAIServer, OpenAIServer], tmp_path: Path
) -> None:
    model, judge, model_server, judge_server = servers
    run = tmp_path / "run.sqlite"
    result = bsa(*run_args(run, model_server, judge_server, "--sample", "5", "--concurrency", "1"))
    assert result.returncode == 0, result.stderr
    assert model.waited_in_vain == 0, "the judge was asked before generation ended"
    assert judge.uncommitted == [], "a judge saw a sample the run file did not hold yet"
    assert judge_server.stats.total == 10 == stored_verdicts(run)
    for line in ("5 ok, 0 blocked, 0 failed of 5 samples", "judge openai:test-judge: 10 verdicts"):
        assert line in result.stdout
    for progress in ("generate: 5/5 (100.0%)", "judge openai:test-judge: 10/10 (100.0%)"):
        assert progress in result.stderr, "a progress line per stage, each with its own counts"


def test_each_stage_has_its_own_bar_with_its_own_counts() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=240)
    with BarProgress(["generate", "judge [bold]x"], console=console) as bars:
        bars.stages[0].update(RunCounters(total=10, done=4, in_flight=3))
        bars.stages[1].update(
            RunCounters(total=20, done=7, in_flight=5, concurrency=9, max_concurrency=64)
        )
    last_frame = out.getvalue().splitlines()[-3:]  # the display as it stopped
    generation = next(line for line in last_frame if "generate" in line)
    judge = next(line for line in last_frame if "judge [bold]x" in line)
    assert "4/10" in generation and "in flight 3" in generation
    assert "7/20" in judge and "in flight 5 (concurrency auto: 9 of max 64)" in judge


def test_a_pipelined_run_resumes_a_generated_file_and_then_asks_nothing(
    servers: tuple[Model, Judge, OpenAIServer, OpenAIServer], tmp_path: Path
) -> None:
    model, _, model_server, judge_server = servers
    model.gate_from = 10**6  # no gate: the first samples are generated without a judge
    run = tmp_path / "run.sqlite"
    generated = bsa(
        "generate", "--run", run, "--model", "openai:test-model", "--base-url",
        model_server.base_url, "-k", "1", "--sample", "6", "--limit", "4",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    first = bsa(*run_args(run, model_server, judge_server, "--sample", "6"))
    assert first.returncode == 0, first.stderr
    assert model_server.stats.total == 6, "two new samples, the four stored ones kept"
    assert judge_server.stats.total == 12 == stored_verdicts(run), "the stored four judged too"
    again = bsa(*run_args(run, model_server, judge_server, "--sample", "6"))
    assert again.returncode == 0, again.stderr
    assert (model_server.stats.total, judge_server.stats.total) == (6, 12), "nothing asked twice"


def test_a_fatal_judge_error_stops_generation_and_keeps_what_was_paid_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run.sqlite"
    monkeypatch.setenv("JUDGE_KEY", "sk-wrong")
    model = Model(lambda: False, gate_from=2)
    with (
        OpenAIServer(ServerConfig(respond=model)) as model_server,
        OpenAIServer(ServerConfig(respond=Judge(run), api_key="sk-right")) as judge_server,
    ):
        model.judge_asked = lambda: judge_server.stats.total > 0
        result = bsa(*run_args(
            run, model_server, judge_server, "--sample", "20", "--concurrency", "1",
            "--judge-api-key-env", "JUDGE_KEY",
        ))  # fmt: skip
        made = model_server.stats.completed
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert stored_samples(run) == made < 20, "generation stopped, every answer it got is stored"


def test_a_fatal_generation_error_stops_the_judges_and_keeps_their_verdicts(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run.sqlite"
    with OpenAIServer(ServerConfig()) as model_server:
        generated = bsa(
            "generate", "--run", run, "--model", "openai:test-model", "--base-url",
            model_server.base_url, "-k", "1", "--sample", "20", "--limit", "10",
        )  # fmt: skip
        assert generated.returncode == 0, generated.stderr

        def revoke_the_models_key() -> None:  # the model's key stops working mid-run
            model_server.config = dataclasses.replace(model_server.config, api_key="sk-new")

        judge = Judge(run, on_first=revoke_the_models_key)
        gate = Model(judge.asked.is_set, gate_from=1)
        model_server.config = dataclasses.replace(model_server.config, respond=gate)
        with OpenAIServer(ServerConfig(respond=judge, latency=0.05)) as judge_server:
            result = bsa(*run_args(
                run, model_server, judge_server, "--sample", "20", "--concurrency", "1",
                "--judge-concurrency", "2",
            ))  # fmt: skip
            asked = judge_server.stats.completed
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= asked < 20 * 2, "the judges had begun, and were stopped"
    assert stored_verdicts(run) == asked, "every verdict paid for is stored"


def test_on_stage_hears_generation_first_then_each_judge(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    dataset = library.select(library.load_dataset(), library.Selection(sample=6, seed=1))
    plan = library.RunPlan(
        library.GenerationPlan(
            run, library.GenerationSettings("mock"), library.Execution(k=2), library.ProviderOptions(),
            library.prompts_from_items(dataset.items),
        ),
        [library.JudgePlan(run, name, library.ProviderOptions(), library.Execution()) for name in ("mock", "mock:b")],
    )  # fmt: skip
    heard: list[tuple[Any, Any]] = []
    result = library.run(plan, on_stage=lambda stage, report: heard.append((stage, report)))
    assert heard == [
        (plan.generation, result.generation),
        *zip(plan.judges, result.judging, strict=True),
    ]
    assert [r.counters.done + r.direct for r in result.judging] == [24, 24]


def test_a_panel_is_summarized_in_its_order_whichever_judge_ends_first(tmp_path: Path) -> None:
    slow = ServerConfig(latency=0.2, respond=lambda body, i: judge_reply(body))
    fast = ServerConfig(respond=lambda body, i: judge_reply(body))
    with (
        OpenAIServer(ServerConfig()) as model_server,
        OpenAIServer(slow) as slow_judge,
        OpenAIServer(fast) as fast_judge,
    ):
        result = bsa(
            "run", "--run", tmp_path / "run.sqlite", "--model", "openai:test-model",
            "--base-url", model_server.base_url, "-k", "1", "--sample", "6",
            "--judge", "openai:slow", "--judge-base-url", slow_judge.base_url,
            "--judge", "openai:fast", "--judge-base-url", fast_judge.base_url,
            "--judge-concurrency", "1",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summaries = [line for line in result.stdout.splitlines() if ": judge openai:" in line]
    assert [line.split(": judge ")[1].split(":")[1] for line in summaries] == ["slow", "fast"]


# --- Ctrl-C and kill -9 in a real process ---------------------------------------------------


@pytest.fixture
def slow_servers() -> Iterator[tuple[OpenAIServer, OpenAIServer]]:
    model = ServerConfig(latency=0.3, jitter=0.1, reasoning_chars=200, answer_chars=50)
    judge = ServerConfig(latency=0.15, jitter=0.05, respond=lambda body, i: judge_reply(body))
    with OpenAIServer(model) as model_server, OpenAIServer(judge) as judge_server:
        yield model_server, judge_server


def judge_reply(body: dict[str, Any]) -> tuple[str, str]:
    reply = mock_judge_reply(last_user_text(body["messages"]))
    assert reply is not None
    return "", reply


ITEMS = 24
CONCURRENCY = 3


def interrupt_midway(
    servers: tuple[OpenAIServer, OpenAIServer], run: Path, sig: signal.Signals
) -> subprocess.Popen[str]:
    """``bsa run`` in its own process, sent ``sig`` once some samples are judged while others are
    still to be generated."""
    args = run_args(run, *servers, "--sample", str(ITEMS), "--concurrency", str(CONCURRENCY),
                    "--judge-concurrency", str(CONCURRENCY))  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "bsa", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not run.exists() or _judged(run) < 6):
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait(timeout=30)
    return process


def _judged(run: Path) -> int:
    try:
        return stored_verdicts(run)
    except sqlite3.OperationalError:  # not made yet
        return 0


def rerun_asks_only_what_is_missing(servers: tuple[OpenAIServer, OpenAIServer], run: Path) -> None:
    """The rerun completes the run asking for exactly the samples and verdicts not stored: none
    that the interrupted process had stored is paid for again."""
    model_server, judge_server = servers
    samples, verdicts = stored_samples(run), stored_verdicts(run)
    assert samples < ITEMS, "interrupted while generation was still going"
    model_before, judge_before = model_server.stats.total, judge_server.stats.total
    # Lost: the calls in flight, and at most one result caught inside the commit in progress.
    assert model_before - samples <= CONCURRENCY + 1, "only model calls in flight were lost"
    assert judge_before - verdicts <= CONCURRENCY + 1, "only judge calls in flight were lost"
    again = bsa(*run_args(run, *servers, "--sample", str(ITEMS)))
    assert again.returncode == 0, again.stderr
    assert model_server.stats.total - model_before == ITEMS - samples
    assert judge_server.stats.total - judge_before == 2 * ITEMS - verdicts
    assert (stored_samples(run), stored_verdicts(run)) == (ITEMS, 2 * ITEMS)


@pytest.mark.slow
def test_ctrl_c_stops_every_stage_and_a_rerun_resumes_them(
    slow_servers: tuple[OpenAIServer, OpenAIServer], tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    process = interrupt_midway(slow_servers, run, signal.SIGINT)
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 130, stderr
    assert "every finished sample and verdict is saved" in stderr
    assert "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    rerun_asks_only_what_is_missing(slow_servers, run)


@pytest.mark.slow
def test_kill_9_mid_run_then_a_rerun_pays_for_nothing_twice(
    slow_servers: tuple[OpenAIServer, OpenAIServer], tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    process = interrupt_midway(slow_servers, run, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    rerun_asks_only_what_is_missing(slow_servers, run)


#: A reader in its own process, as ``bsa status`` beside a run: opens the run file, reads, closes
#: (SQLite deletes the WAL when the last connection to close gets an exclusive lock), again and
#: again until told to stop; it keeps a connection open at the end while the run closes its own.
READER = """
import sqlite3, sys, time
from pathlib import Path
stop = Path(sys.argv[2])
while not stop.exists():
    connection = sqlite3.connect(sys.argv[1])
    connection.execute("SELECT COUNT(*) FROM generations").fetchone()
    time.sleep(0.005)
    connection.close()
"""


def sample(n: int) -> Generation:
    return Generation("a", n, "ok", "answer", "reasoning", None, "stop", False,
                      1, 1, None, 0.1, 1, None, None)  # fmt: skip


def test_a_second_store_on_an_open_run_file_keeps_its_locks_from_a_reader(tmp_path: Path) -> None:
    """Each stage of a pipelined run opens the run file; opening it again must not drop the
    process's SQLite locks (a plain read of its header did), or a reader process closing its
    connection deletes the WAL that the writing connections still commit to."""
    run, stop = tmp_path / "run.sqlite", tmp_path / "stop"
    first = RunStore(run)
    first.add_prompts([Prompt("a", "query", None, None, None)])
    first_writer = ResultWriter(run)
    first_writer.put(INSERT_GENERATION, generation_row(sample(0)))
    second = RunStore(run)
    writer = ResultWriter(run)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(run), str(stop)])
    for n in range(1, 200):
        writer.put(INSERT_GENERATION, generation_row(sample(n)))
        time.sleep(0.005)
    writer.close()
    second.close()
    first_writer.close()
    first.close()
    stop.touch()
    reader.wait(timeout=30)
    with RunStore(run, read_only=True) as store:
        assert len(list(store.generations())) == 200
