"""``--batch`` and money: never pay twice without knowing, never lose a batch. Against the OpenAI
batch fake (tests/fake_openai_batch.py) over loopback HTTP.

- A live stage refuses, before any request, what batches still open at the vendor hold.
- ``bsa batches abandon`` gives open batches up (and with ``--cancel`` asks the vendor to stop
  them); their requests are asked again.
- A kill during the create call leaves a submit in the run file; the rerun finds the batch by its
  metadata and adopts it instead of submitting again.
- A batch's files are deleted at the vendor once its results are stored; a failed delete is a
  warning.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.errors import BsaError
from bsa.judging.judge import judge_run
from bsa.providers import ProviderOptions, create_provider
from bsa.providers.openai_compat import OpenAICompatible
from bsa.runfile.batches import begin_submit, pending_submits, record_batch, stored_batches
from bsa.runfile.store import Prompt, RunStore
from bsa.types import Decoding
from tests import batch_contract as contract
from tests.batch_contract import BATCH
from tests.bsa_command import bsa_in_process
from tests.fake_openai_batch import TEST_KEY, FakeOpenAIBatch
from tests.provider_contract import Vendor, bsa_prompts, fake_fixture

VENDOR = Vendor(OpenAICompatible, "gpt-test", TEST_KEY, "OPENAI_API_KEY", path="/v1")
fake = fake_fixture(FakeOpenAIBatch)
KEY = {"OPENAI_API_KEY": TEST_KEY}


def batch_generate(
    fake: FakeOpenAIBatch, run: Path, prompts: list[Prompt], execution: Execution = BATCH
) -> GenerationReport:
    return contract.batch_generate(VENDOR, fake, run, prompts, execution)


def live_generate(fake: FakeOpenAIBatch, run: Path, prompts: list[Prompt]) -> GenerationReport:
    provider = VENDOR.make_provider(fake.base_url)
    settings = GenerationSettings(provider.label, Decoding(temperature=0.6))
    return asyncio.run(generate(run, prompts, provider, settings, replace(BATCH, batch=False)))


def interrupted(fake: FakeOpenAIBatch, run: Path) -> list[Prompt]:
    prompts = bsa_prompts()
    contract.interrupted_generation(VENDOR, fake, run, prompts, "batch_1")
    return prompts


# --- 1: a live stage never asks for what an open batch holds ---------------------------------


def test_a_live_rerun_refuses_what_an_open_batch_holds_before_any_request(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    prompts = interrupted(fake, run)
    wanted = (
        "1 batch of generate submitted earlier is still open at the vendor (their requests are "
        f"paid for); rerun with --batch to collect them, or 'bsa batches abandon --run {run}' "
        "to give them up"
    )
    with pytest.raises(BsaError) as refused:
        live_generate(fake, run, prompts)
    assert str(refused.value) == wanted
    assert fake.requests == [] and len(fake.book.created) == 1, "nothing asked, nothing paid"


def test_a_live_judge_refuses_the_verdicts_an_open_judge_batch_holds(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run, (prompt,) = tmp_path / "run.sqlite", bsa_prompts(1)
    batch_generate(fake, run, [prompt], replace(BATCH, k=1))
    with RunStore(run) as store:
        held = {"r0": (prompt.item_id, 0, "safety")}
        record_batch(store, "batch_j", "judge:openai:gpt-judge", "in_progress", held)
    judge = VENDOR.make_provider(fake.base_url, model="gpt-judge")
    with pytest.raises(BsaError, match=r"^1 batch of judge:openai:gpt-judge .* --judge-batch"):
        asyncio.run(judge_run(run, judge, replace(BATCH, batch=False)))
    assert len(fake.book.created) == 1, "no judge request went out"


def test_bsa_run_without_batch_refuses_with_one_line(fake: FakeOpenAIBatch, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    interrupted(fake, run)
    result = bsa_in_process(
        "run", "--run", run, "--model", "openai:gpt-test", "--base-url", f"{fake.base_url}/v1",
        "--limit", "3", "-k", "2", "--judge", "openai:gpt-judge",
        "--judge-base-url", f"{fake.base_url}/v1", "--bootstrap", "0", env=KEY,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: 1 batch of generate submitted earlier is still open")
    assert result.stderr.count("\n") == 1 and "bsa batches abandon --run" in result.stderr
    assert fake.requests == [] and len(fake.book.created) == 1


def test_an_open_batch_that_holds_none_of_the_planned_requests_does_not_refuse(
    tmp_path: Path,
) -> None:
    run, (held, free) = tmp_path / "run.sqlite", bsa_prompts(2)
    with RunStore(run) as store:
        record_batch(
            store, "batch_x", "generate", "in_progress", {"r0": (held.item_id, 0, "generation")}
        )
    mock = create_provider("mock", ProviderOptions())
    settings = GenerationSettings(mock.label, Decoding())
    once = Execution(k=1)
    assert asyncio.run(generate(run, [free], mock, settings, once)).status["ok"] == 1
    with pytest.raises(BsaError, match="still open at the vendor"):
        asyncio.run(
            generate(run, [held], create_provider("mock", ProviderOptions()), settings, once)
        )


# --- 2: giving a batch up ---------------------------------------------------------------------


def test_abandon_gives_up_the_open_batch_and_the_next_run_asks_again(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    prompts = interrupted(fake, run)
    result = bsa_in_process("batches", "abandon", "--run", run)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "batch batch_1 (generate): given up, 6 requests asked again on the next run\n"
    )
    assert fake.cancelled == [], "no --cancel: the vendor is not asked"
    with RunStore(run) as store:
        (batch,) = stored_batches(store)
    assert batch.done and batch.abandoned
    status = bsa_in_process("status", "--run", run).stdout
    assert "batch batch_1 (generate): in_progress, 6 requests" in status
    assert "given up (bsa batches abandon)" in status
    assert batch_generate(fake, run, prompts).status["ok"] == 6
    assert len(fake.book.created) == 2, "the given-up requests went in a new batch"


def test_abandon_with_cancel_asks_the_vendor_and_a_refusal_still_gives_up(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    interrupted(fake, run)
    with RunStore(run) as store:
        record_batch(store, "batch_gone", "generate", "in_progress", {})
    result = bsa_in_process(
        "batches", "abandon", "--run", run, "--stage", "generate", "--cancel",
        "--base-url", f"{fake.base_url}/v1", env=KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.endswith("; the vendor was asked to cancel it")
    assert second.startswith("batch batch_gone (generate): given up, 0 requests")
    assert (
        "the vendor did not cancel it (" in second
        and "No batch found with id 'batch_gone'" in second
    )
    assert fake.cancelled == ["batch_1"]
    assert fake.batches["batch_1"]["status"] == "cancelling"
    with RunStore(run) as store:
        assert stored_batches(store, open_only=True) == []


def test_abandon_of_one_stage_leaves_the_others_and_refuses_a_bad_stage(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    interrupted(fake, run)
    other = bsa_in_process("batches", "abandon", "--run", run, "--stage", "judge:openai:j")
    assert (other.returncode, other.stdout) == (0, f"{run}: no open batches of judge:openai:j\n")
    bad = bsa_in_process("batches", "abandon", "--run", run, "--stage", "judge")
    assert bad.returncode == 1 and bad.stderr.startswith("error: --stage 'judge': give")
    with RunStore(run) as store:
        assert [b.batch_id for b in stored_batches(store, open_only=True)] == ["batch_1"]


# --- 3: a kill during the create call ---------------------------------------------------------


def test_each_batch_carries_the_run_stage_and_digest_as_metadata(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts(1))
    with RunStore(tmp_path / "run.sqlite") as store:
        run_id = store.get_meta("run_id")
    metadata = fake.batches["batch_1"]["metadata"]
    assert metadata["bsa_run"] == run_id and metadata["bsa_stage"] == "generate"
    assert re.fullmatch(r"[0-9a-f]{64}", metadata["bsa_requests"])


def test_a_batch_made_while_bsa_was_killed_is_adopted_not_paid_again(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    contract.interrupted_create(VENDOR, fake, run, prompts)
    with RunStore(run) as store:
        assert stored_batches(store) == [] and len(pending_submits(store)) == 1
    fake.add_foreign_batches(150)  # newer batches of the account: ours is on the second page
    report = batch_generate(fake, run, prompts)
    assert report.status["ok"] == 6 and report.counters.warnings == []
    assert len(fake.book.created) == 1 and sum(fake.calls().values()) == 6, "paid once"
    assert fake.list_pages == 2
    with RunStore(run) as store:
        assert [b.batch_id for b in stored_batches(store)] == ["batch_1"]
        assert pending_submits(store) == []


def test_the_search_stops_at_batches_older_than_the_submit(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    fake.add_foreign_batches(250, age_s=86_400)
    run, prompts = tmp_path / "run.sqlite", bsa_prompts(1)
    contract.interrupted_create(VENDOR, fake, run, prompts)
    assert batch_generate(fake, run, prompts).status["ok"] == 2
    assert fake.list_pages == 1 and len(fake.book.created) == 1


def test_a_submit_the_vendor_never_got_is_dropped_and_submitted_anew(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts(1)
    with RunStore(run) as store:
        begin_submit(store, "0" * 64, "generate", {"r0": (prompts[0].item_id, 0, "generation")})
    assert batch_generate(fake, run, prompts).status["ok"] == 2
    assert len(fake.book.created) == 1 and fake.list_pages == 1
    with RunStore(run) as store:
        assert pending_submits(store) == []


# --- 4: the vendor's files ---------------------------------------------------------------------


def test_a_batch_s_files_are_deleted_once_its_results_are_stored(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    batch_generate(fake, tmp_path / "run.sqlite", bsa_prompts())
    assert fake.deleted == ["file-1", "file-2"] and fake.files == {}, "input, then output"


def test_a_batch_left_open_keeps_its_files_until_its_results_are_all_stored(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    prompts = interrupted(fake, run)
    batch_generate(fake, run, prompts[:2])
    assert fake.deleted == [], "the batch holds results no command has stored yet"
    batch_generate(fake, run, prompts)
    assert fake.deleted == ["file-1", "file-2"]


def test_a_failed_delete_is_a_warning_line_not_an_error(
    fake: FakeOpenAIBatch, tmp_path: Path
) -> None:
    fake.failing_deletes = True
    result = bsa_in_process(
        "generate", "--run", tmp_path / "run.sqlite", "--model", "openai:gpt-test",
        "--base-url", f"{fake.base_url}/v1", "--limit", "1", "-k", "1", "--batch",
        "--poll-interval", "0.001", env=KEY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 ok, 0 blocked, 0 failed of 1 samples" in result.stdout
    assert "warning: batch batch_1: could not delete file file-1: HTTP 500" in result.stderr
    assert "Traceback" not in result.stderr
