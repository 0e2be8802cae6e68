"""``--batch`` with OpenAI's Batch API, against a loopback fake that speaks it (tests/fake_openai_batch.py).

Generation and judging through batches, stored exactly as live results are; a batch split by the
limits; an expired batch whose missing requests (only those) are submitted again; error-file rows
classified as the same errors live calls would raise; Ctrl-C then a rerun that polls the stored
batch instead of paying again; ``bsa status``; and the refusal of providers without a batch API.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bsa.batch import batch_api_for
from bsa.batch.api import BatchLimits
from bsa.batch.runner import poll_waits, split_entries
from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.engine.progress import describe
from bsa.engine.runner import RunAborted, RunCounters
from bsa.errors import BsaError
from bsa.judging.judge import JudgeReport
from bsa.providers import create_provider
from bsa.providers.connection import ProviderOptions, endpoints
from bsa.providers.openai_compat import OpenAICompatible
from bsa.runfile.batches import record_batch, stored_batches
from bsa.runfile.store import Prompt, RunStore
from bsa.types import Decoding, Message, Request
from tests import batch_contract as contract
from tests.batch_contract import BATCH, submitted_prompts
from tests.bsa_command import bsa_in_process
from tests.fake_openai_batch import TEST_KEY, FakeOpenAIBatch, api_error, chat_completion
from tests.provider_contract import Vendor, bsa_prompts, fake_fixture
from tests.scripted_fake import expected_texts

VENDOR = Vendor(OpenAICompatible, "gpt-test", TEST_KEY, "OPENAI_API_KEY", path="/v1")
fake = fake_fixture(FakeOpenAIBatch)


def batch_generate(
    fake: FakeOpenAIBatch, run: Path, prompts: list[Prompt], execution: Execution = BATCH
) -> GenerationReport:
    return contract.batch_generate(VENDOR, fake, run, prompts, execution)


def batch_judge(fake: FakeOpenAIBatch, run: Path) -> JudgeReport:
    return contract.batch_judge(VENDOR, fake, run, "gpt-judge")


def interrupted_generation(fake: FakeOpenAIBatch, run: Path, prompts: list[Prompt]) -> None:
    contract.interrupted_generation(VENDOR, fake, run, prompts, "batch_1")


def test_generation_goes_in_one_batch_of_the_live_bodies_and_is_stored_as_live(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    prompts = bsa_prompts()
    report = batch_generate(fake, tmp_path / "run.sqlite", prompts)
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    (lines,) = fake.book.created
    provider = VENDOR.make_provider(fake.base_url)
    for line in lines:
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        question = fake.prompt_of(line["body"])
        live = provider.request_body(Request((Message("user", question),), Decoding(0.6)))
        assert line["body"] == live, "the very body the live path posts"
    with RunStore(tmp_path / "run.sqlite") as store:
        samples = list(store.generations())
        (batch,) = stored_batches(store)
    queries = {p.item_id: p.query for p in prompts}
    assert {(s.reasoning, s.answer) for s in samples} == {
        expected_texts(q) for q in queries.values()
    }
    assert all(s.prompt_tokens == 20 and s.raw and s.attempts == 1 for s in samples)
    assert (batch.state, batch.done, batch.counts["completed"]) == ("completed", True, 6)
    assert batch_generate(fake, tmp_path / "run.sqlite", prompts).counters.total == 0
    assert len(fake.book.created) == 1, "a finished run submits nothing again"


def test_judging_goes_in_a_batch_and_every_verdict_is_scored(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts())
    report = batch_judge(fake, tmp_path / "run.sqlite")
    assert report.status == {"scored": 12, "unscored": 0, "failed": 0}
    assert len(fake.book.created) == 2 and len(fake.book.created[1]) == 12
    with RunStore(tmp_path / "run.sqlite") as store:
        stages = [b.stage for b in stored_batches(store)]
    assert stages == ["generate", "judge:openai:gpt-judge"]


def test_the_progress_line_shows_what_the_vendor_says_of_its_batches(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    lines: list[str] = []

    class Recorder:
        def update(self, counters: RunCounters) -> None:
            lines.append(describe(counters))

    provider = VENDOR.make_provider(fake.base_url)
    settings = GenerationSettings(provider.label, Decoding())
    run = generate(tmp_path / "r.sqlite", bsa_prompts(), provider, settings, BATCH,
                   progress=Recorder())  # fmt: skip
    assert asyncio.run(run).status["ok"] == 6
    assert any(line.endswith(", batches open 1, processed by the vendor 0 of 6") for line in lines)
    assert lines[-1].startswith("6/6 (100.0%)") and "batches open" not in lines[-1]


def test_a_stage_is_split_into_batches_by_the_request_and_byte_limits(
    fake: FakeOpenAIBatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bsa.batch.openai_batch.OPENAI_LIMITS", BatchLimits(4, 10**9))
    assert batch_generate(fake, tmp_path / "a.sqlite", bsa_prompts()).status["ok"] == 6
    assert [len(lines) for lines in fake.book.created] == [4, 2]
    entries = [(f"r{n}", b"x" * 9) for n in range(5)]
    assert [len(g) for g in split_entries(entries, BatchLimits(10, 25))] == [2, 2, 1]


def test_one_request_larger_than_a_batch_is_one_clear_error() -> None:
    with pytest.raises(Exception, match="more than a batch may hold"):
        split_entries([("r0", b"x" * 30)], BatchLimits(10, 25))


def test_polls_start_at_the_interval_and_grow_to_ten_times_it() -> None:
    waits = poll_waits(2.0)
    assert [next(waits) for _ in range(8)] == [2.0, 3.0, 4.5, 6.75, 10.125, 15.1875, 20.0, 20.0]


def test_an_expired_batch_has_only_its_missing_requests_submitted_again(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    fake.book.expiring = [2]
    report = batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts())
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    first, second = fake.book.created
    assert len(first) == 6 and len(second) == 4
    ran = {json.dumps(line["body"], sort_keys=True) for line in first[:2]}
    assert not ran & {json.dumps(line["body"], sort_keys=True) for line in second}
    assert sum(fake.calls().values()) == 6, "every sample was paid for once"
    with RunStore(tmp_path / "run.sqlite") as store:
        states = [b.state for b in stored_batches(store)]
        attempts = sorted(s.attempts for s in store.generations())
    assert states == ["expired", "completed"]
    assert attempts == [1, 1, 2, 2, 2, 2]


def test_error_file_rows_are_classified_as_live_errors_would_be(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    blocked, flaky, too_long = bsa_prompts()
    fake.script(blocked.query, api_error(400, "Your request was flagged.", "content_filter"))
    fake.script(flaky.query, api_error(500, "The server had an error."))
    overflow = "This model's maximum context length is 8192 tokens."
    fake.script(too_long.query, api_error(400, overflow, "context_length_exceeded"))
    report = batch_generate(fake, tmp_path / "run.sqlite", [blocked, flaky, too_long],
                            replace(BATCH, k=1))  # fmt: skip
    assert report.status == {"ok": 1, "blocked": 1, "failed": 1}
    assert submitted_prompts(fake, 1) == [flaky.query], "only the retryable error went again"
    with RunStore(tmp_path / "run.sqlite") as store:
        by_item = {s.item_id: s for s in store.generations()}
    assert by_item[blocked.item_id].finish_reason == "content_filter"
    assert "maximum context length" in str(by_item[too_long.item_id].error)
    assert by_item[flaky.item_id].status == "ok"


def test_a_key_echoed_in_a_batch_result_is_masked_as_in_a_live_one(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    (prompt,) = bsa_prompts(1)
    fake.script(prompt.query, chat_completion(f"your key is {TEST_KEY}", f"I saw {TEST_KEY}"))
    result = bsa_in_process(
        "generate", "--run", tmp_path / "run.sqlite", "--model", "openai:gpt-test", "--base-url",
        f"{fake.base_url}/v1", "--limit", "1", "-k", "1", "--batch", "--poll-interval", "0.001",
        env={"OPENAI_API_KEY": TEST_KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with RunStore(tmp_path / "run.sqlite") as store:
        (sample,) = store.generations()
    stored = json.dumps([sample.answer, sample.reasoning, sample.raw])
    assert TEST_KEY not in stored and "[redacted]" in stored


def test_a_rejected_key_stops_the_stage_with_one_line(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    provider = VENDOR.make_provider(fake.base_url, api_key="sk-wrong")
    settings = GenerationSettings(provider.label, Decoding())
    with pytest.raises(RunAborted, match=r"authentication failed .* \$OPENAI_API_KEY"):
        asyncio.run(generate(tmp_path / "r.sqlite", bsa_prompts(1), provider, settings, BATCH))
    assert fake.book.created == []


def test_a_batch_the_vendor_refuses_whole_stops_the_stage_with_its_reason(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    fake.refusal = "The model `gpt-test` does not exist or you do not have access to it."
    with pytest.raises(RunAborted, match="batch batch_1 failed: The model `gpt-test` does not"):
        batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts(1))
    assert len(fake.book.created) == 1, "a refused batch is not submitted again"


def test_a_failed_poll_is_tried_again_and_failing_ones_stop_the_stage(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    fake.failing_polls = 1
    assert batch_generate(fake, tmp_path / "a.sqlite", bsa_prompts(1)).status["ok"] == 2
    fake.failing_polls = BATCH.policy.max_attempts
    with pytest.raises(RunAborted, match="polling batch batch_2: HTTP 500: The server had"):
        batch_generate(fake, tmp_path / "b.sqlite", bsa_prompts(1))


def test_a_rerun_after_ctrl_c_polls_the_stored_batch_instead_of_paying_again(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    interrupted_generation(fake, run, prompts)
    with RunStore(run) as store:
        (batch,) = stored_batches(store)
        assert store.status_counts()["ok"] == 0
    assert (batch.batch_id, batch.done, len(batch.requests)) == ("batch_1", False, 6)
    assert batch_generate(fake, run, prompts).status["ok"] == 6
    assert len(fake.book.created) == 1, "the rerun created no second batch"
    assert sum(fake.calls().values()) == 6


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_real_process_stopped_while_polling_leaves_its_batch_to_the_rerun(
    fake: FakeOpenAIBatch, tmp_path: Path, sig: signal.Signals
) -> None:
    run = tmp_path / "run.sqlite"
    command = [
        "generate", "--run", str(run), "--model", "openai:gpt-test", "--base-url",
        f"{fake.base_url}/v1", "--limit", "2", "-k", "1", "--batch", "--poll-interval", "0.01",
    ]  # fmt: skip
    fake.book.hold = True
    process = subprocess.Popen(
        [sys.executable, "-m", "bsa", *command], stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OPENAI_API_KEY": TEST_KEY},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while fake.book.polls("batch_1") < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the batch was never polled"
        time.sleep(0.02)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
    fake.book.hold = False
    again = bsa_in_process(*command, env={"OPENAI_API_KEY": TEST_KEY})
    assert again.returncode == 0, again.stderr
    assert len(fake.book.created) == 1, "the rerun polled the batch instead of paying again"
    assert "2 ok, 0 blocked, 0 failed of 2 samples" in again.stdout


def test_results_a_rerun_does_not_plan_stay_in_an_open_batch_until_one_does(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    interrupted_generation(fake, run, prompts)
    assert batch_generate(fake, run, prompts[:2]).status["ok"] == 4
    with RunStore(run) as store:
        (batch,) = stored_batches(store)
        assert (store.status_counts()["ok"], batch.done) == (4, False), "two results kept"
    assert batch_generate(fake, run, prompts).status["ok"] == 6
    with RunStore(run) as store:
        assert stored_batches(store)[0].done
    assert (len(fake.book.created), sum(fake.calls().values())) == (1, 6), "nothing paid twice"


def test_status_shows_each_batch_with_its_state_and_counts(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    interrupted_generation(fake, run, bsa_prompts())
    shown = bsa_in_process("status", "--run", run)
    assert shown.returncode == 0
    assert (
        "batch batch_1 (generate): in_progress, 6 requests, completed 0, failed 0, total 6; "
        "results not stored yet"
    ) in shown.stdout
    payload = json.loads(bsa_in_process("status", "--run", run, "--json").stdout)
    assert payload["batches"][0]["state"] == "in_progress"


def test_bsa_run_with_batch_and_judge_batch_makes_one_batch_per_stage(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    result = bsa_in_process(
        "run", "--run", tmp_path / "run.sqlite", "--model", "openai:gpt-test",
        "--base-url", f"{fake.base_url}/v1", "--limit", "2", "-k", "1", "--batch",
        "--poll-interval", "0.001", "--judge", "openai:gpt-judge",
        "--judge-base-url", f"{fake.base_url}/v1", "--judge-batch",
        "--judge-poll-interval", "0.001", "--bootstrap", "0",
        env={"OPENAI_API_KEY": TEST_KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [len(lines) for lines in fake.book.created] == [2, 4]


def test_bsa_judge_takes_batch_as_well(fake: FakeOpenAIBatch, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    batch_generate(fake, run, bsa_prompts(1), replace(BATCH, k=1))
    result = bsa_in_process(
        "judge", "--run", run, "--judge", "openai:gpt-judge", "--judge-base-url",
        f"{fake.base_url}/v1", "--batch", "--judge-poll-interval", "0.001",
        env={"OPENAI_API_KEY": TEST_KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [len(lines) for lines in fake.book.created] == [1, 2]


#: Two replicas of one model (nothing listens: the refusal comes before any request).
REPLICA_URLS = ("--base-url", "http://127.0.0.1:9/v1", "--base-url", "http://127.0.0.1:8/v1")


@pytest.mark.parametrize(
    ("command", "wanted"),
    [
        (
            ("generate", "--model", "mock:m", "--batch", "--limit", "1"),
            "error: --batch: mock: models have no batch API in bsa (only openai: and anthropic:",
        ),
        (
            ("generate", "--model", "openai:m", "--batch", *REPLICA_URLS),
            "error: --batch: a batch goes to one endpoint, but 2 base URLs are given",
        ),
        (("judge", "--judge", "mock", "--batch"), "error: --judge-batch: mock: models have no"),
        (("run", "--model", "openai:m", "--judge", "mock", "--judge-batch"), "error: --judge-b"),
        (("generate", "--model", "openai:m", "--batch", "--use-n"), "error: --batch sends one"),
    ],
)
def test_batch_is_refused_with_one_line_where_it_cannot_work(
    tmp_path: Path, command: tuple[str, ...], wanted: str
) -> None:
    run = tmp_path / "run.sqlite"
    run.touch()
    result = bsa_in_process(*command, "--run", run, env={"OPENAI_API_KEY": TEST_KEY})
    assert result.returncode == 1
    assert result.stderr.startswith(wanted) and result.stderr.count("\n") == 1, result.stderr


def test_the_library_refuses_a_batch_to_several_replicas_before_any_request() -> None:
    """bsa.generate checks the stage's flag by name; the batch API itself refuses a provider
    that is a set of replicas, in one line."""
    replicas = create_provider(
        "openai:m",
        ProviderOptions(**endpoints(["http://127.0.0.1:9/v1", "http://127.0.0.1:8/v1"])),
        api_key=TEST_KEY,
    )
    with pytest.raises(BsaError, match=r"^--batch: openai:m has several base URLs, but a batch"):
        batch_api_for(replicas)


#: Model text as hostile as it comes, plus a copy of the prompt's own words.
HOSTILE = 'lone \ud800, NUL \x00, ESC \x1b[31m, </script><b>x</b>, =HYPERLINK("http://x"), \u202e'


def test_hostile_text_in_a_batch_result_is_stored_as_a_live_call_stores_it(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    """NULs, controls, markup and formulas as sent; a lone surrogate, which UTF-8 cannot hold,
    is U+FFFD in the text columns (the store's rule) and its exact escape in the raw body."""
    (prompt,) = bsa_prompts(1)
    answer, reasoning = f"{HOSTILE} {prompt.query}", f"I read: {prompt.query} {HOSTILE}"
    fake.script(prompt.query, chat_completion(answer, reasoning))
    batch_generate(fake, tmp_path / "run.sqlite", [prompt], replace(BATCH, k=1))
    with RunStore(tmp_path / "run.sqlite") as store:
        (sample,) = store.generations()
    storable = {text: text.replace("\ud800", "\ufffd") for text in (answer, reasoning)}
    assert (sample.answer, sample.reasoning) == (storable[answer], storable[reasoning])
    message = json.loads(sample.raw or "{}")["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == (answer, reasoning)


def test_a_hostile_batch_id_or_state_is_printed_escaped_on_one_line(tmp_path: Path) -> None:
    """The id, state and counts are the vendor's words: ``bsa status`` makes them safe."""
    run = tmp_path / "run.sqlite"
    generate_mock = bsa_in_process("generate", "--run", run, "--model", "mock", "--limit", "1")
    assert generate_mock.returncode == 0, generate_mock.stderr
    with RunStore(run) as store:
        record_batch(store, "batch_\x1b[31mred\nnext", "generate", "in\x00prog\u202eress", {})
    shown = bsa_in_process("status", "--run", run)
    assert shown.returncode == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("batch ")]
    assert "\x1b" not in shown.stdout and "\x00" not in shown.stdout
    assert "\u202e" not in shown.stdout and "next" in line
