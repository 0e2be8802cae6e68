"""``--batch`` with Anthropic's Message Batches, against tests/fake_anthropic.py's batch routes.

Generation and judging through batches, stored as live results are; a batch split by the limits;
an expired batch whose missing requests (only those) are submitted again; ``errored`` results
classified as the same errors live calls would raise; Ctrl-C then a rerun that polls the stored
batch instead of paying again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bsa.batch.api import BatchLimits
from bsa.engine.generate import Execution, GenerationReport
from bsa.judging.judge import JudgeReport
from bsa.runfile.batches import stored_batches
from bsa.runfile.store import Prompt, RunStore
from bsa.types import Decoding, Message, Request
from tests import batch_contract as contract
from tests.batch_contract import BATCH, submitted_prompts
from tests.bsa_command import bsa_in_process
from tests.fake_anthropic import TEST_KEY, FakeAnthropic, error, message, text
from tests.optional import on_call, requires
from tests.provider_contract import Vendor, bsa_prompts, fake_fixture
from tests.scripted_fake import expected_texts

needs = requires("anthropic")
VENDOR = Vendor(
    on_call("bsa.providers.anthropic_sdk", "AnthropicProvider"),
    "claude-test",
    TEST_KEY,
    "ANTHROPIC_API_KEY",
)
fake = fake_fixture(FakeAnthropic)


def batch_generate(
    fake: FakeAnthropic, run: Path, prompts: list[Prompt], execution: Execution = BATCH
) -> GenerationReport:
    return contract.batch_generate(VENDOR, fake, run, prompts, execution)


def batch_judge(fake: FakeAnthropic, run: Path) -> JudgeReport:
    return contract.batch_judge(VENDOR, fake, run, "claude-judge")


def test_generation_goes_in_one_batch_of_the_live_params_and_is_stored_as_live(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    prompts = bsa_prompts()
    report = batch_generate(fake, tmp_path / "run.sqlite", prompts)
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    (entries,) = fake.book.created
    provider = VENDOR.make_provider(fake.base_url)
    for entry in entries:
        question = fake.prompt_of(entry["params"])
        live = provider.request_body(Request((Message("user", question),), Decoding(0.6)))
        assert entry["params"] == {k: v for k, v in live.items() if k != "stream"}
    with RunStore(tmp_path / "run.sqlite") as store:
        samples = list(store.generations())
        (batch,) = stored_batches(store)
    queries = {p.query for p in prompts}
    assert {(s.reasoning, s.answer) for s in samples} == {expected_texts(q) for q in queries}
    assert all(s.reasoning_source == "thinking_blocks" and s.prompt_tokens for s in samples)
    assert (batch.state, batch.done, batch.counts["succeeded"]) == ("ended", True, 6)
    assert batch_generate(fake, tmp_path / "run.sqlite", prompts).counters.total == 0
    assert len(fake.book.created) == 1, "a finished run submits nothing again"


def test_judging_goes_in_a_batch_and_every_verdict_is_scored(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts())
    report = batch_judge(fake, tmp_path / "run.sqlite")
    assert report.status == {"scored": 12, "unscored": 0, "failed": 0}
    assert [len(entries) for entries in fake.book.created] == [6, 12]


def test_a_stage_is_split_into_batches_by_the_request_limit(
    fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bsa.batch.anthropic_batch.ANTHROPIC_LIMITS", BatchLimits(4, 10**9))
    assert batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts()).status["ok"] == 6
    assert [len(entries) for entries in fake.book.created] == [4, 2]


def test_an_expired_batch_has_only_its_missing_requests_submitted_again(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    fake.book.expiring = [2]
    report = batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts())
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    first, second = fake.book.created
    assert (len(first), len(second)) == (6, 4)
    assert set(submitted_prompts(fake, 1)) == set(submitted_prompts(fake, 0)[2:])
    assert sum(fake.calls().values()) == 6, "every sample was paid for once"


def test_errored_results_are_classified_as_live_errors_would_be(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    refused, overloaded, too_long = bsa_prompts()
    fake.script(refused.query, message(text("I can't"), stop_reason="refusal"))
    fake.script(overloaded.query, error(529, "overloaded_error", "Overloaded"))
    fake.script(too_long.query, error(400, "invalid_request_error", "prompt is too long: 9 > 8"))
    report = batch_generate(fake, tmp_path / "run.sqlite", [refused, overloaded, too_long],
                            replace(BATCH, k=1))  # fmt: skip
    assert report.status == {"ok": 1, "blocked": 1, "failed": 1}
    assert submitted_prompts(fake, 1) == [overloaded.query], "only the retryable error went again"
    with RunStore(tmp_path / "run.sqlite") as store:
        by_item = {s.item_id: s for s in store.generations()}
    assert by_item[refused.item_id].finish_reason == "content_filter"
    assert "prompt is too long" in str(by_item[too_long.item_id].error)


def test_a_rerun_after_ctrl_c_polls_the_stored_batch_instead_of_paying_again(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    contract.interrupted_generation(VENDOR, fake, run, prompts, "msgbatch_1")
    with RunStore(run) as store:
        (batch,) = stored_batches(store)
    assert (batch.state, batch.done) == ("in_progress", False)
    assert batch_generate(fake, run, prompts).status["ok"] == 6
    assert len(fake.book.created) == 1, "the rerun created no second batch"


def test_bsa_generate_with_batch_for_an_anthropic_model(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    result = bsa_in_process(
        "generate", "--run", tmp_path / "run.sqlite", "--model", "anthropic:claude-test",
        "--base-url", fake.base_url, "--limit", "2", "-k", "1", "--batch",
        "--poll-interval", "0.001", env={"ANTHROPIC_API_KEY": TEST_KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 ok, 0 blocked, 0 failed of 2 samples" in result.stdout
    assert [len(entries) for entries in fake.book.created] == [2]


def test_a_batch_made_while_bsa_was_killed_is_named_in_a_warning(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    """Message Batches keep no metadata, so bsa cannot tell its batch from another of the
    account: the rerun warns, naming when the submit began, and submits again."""
    run, prompts = tmp_path / "run.sqlite", bsa_prompts(1)
    contract.interrupted_create(VENDOR, fake, run, prompts)
    report = batch_generate(fake, run, prompts)
    assert report.status["ok"] == 2 and len(fake.book.created) == 2
    (warning,) = report.counters.warnings
    assert warning.startswith("a batch of 2 requests of generate was being submitted at 20")
    assert "look for it in the vendor's console and cancel it there" in warning
    assert batch_generate(fake, run, prompts).counters.warnings == [], "warned once"


def test_abandon_with_cancel_cancels_a_message_batch(fake: FakeAnthropic, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    contract.interrupted_generation(VENDOR, fake, run, bsa_prompts(), "msgbatch_1")
    result = bsa_in_process(
        "batches", "abandon", "--run", run, "--cancel", "--base-url", fake.base_url,
        env={"ANTHROPIC_API_KEY": TEST_KEY},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("; the vendor was asked to cancel it\n")
    assert fake.cancelled == ["msgbatch_1"]
    with RunStore(run) as store:
        assert stored_batches(store, open_only=True) == []
