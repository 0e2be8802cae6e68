"""What the batch tests of every vendor share: a stage run with ``--batch`` against a vendor's
batch fake (one with a :class:`tests.fake_batches.BatchBook` as ``book``), a generation
interrupted as Ctrl-C interrupts it, its batch left running, and one interrupted during its create
call (the vendor made the batch; bsa never heard its id)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.judging.judge import JudgeReport, judge_run
from bsa.runfile.store import Prompt
from bsa.types import Decoding

from .provider_contract import FAST, Vendor

#: Two samples per prompt, through batches polled at once.
BATCH = Execution(k=2, policy=FAST, batch=True, poll_interval_s=0.001)


def batch_generate(
    vendor: Vendor[Any], fake: Any, run: Path, prompts: list[Prompt], execution: Execution = BATCH
) -> GenerationReport:
    provider = vendor.make_provider(fake.base_url)
    settings = GenerationSettings(provider.label, Decoding(temperature=0.6))
    return asyncio.run(generate(run, prompts, provider, settings, execution))


def batch_judge(vendor: Vendor[Any], fake: Any, run: Path, model: str) -> JudgeReport:
    judge = vendor.make_provider(fake.base_url, model=model)
    return asyncio.run(judge_run(run, judge, replace(BATCH, k=5)))


def submitted_prompts(fake: Any, batch: int) -> list[str]:
    """The prompts of the requests of the ``batch``-th batch created (0-based)."""
    return [
        fake.prompt_of(entry.get("body") or entry["params"]) for entry in fake.book.created[batch]
    ]


def interrupted_generation(
    vendor: Vendor[Any], fake: Any, run: Path, prompts: list[Prompt], first_batch: str
) -> None:
    """A generation stopped as Ctrl-C stops it (its task cancelled) once its batch is submitted
    and its first poll recorded (a second poll has begun), the batch still running."""
    provider = vendor.make_provider(fake.base_url)
    settings = GenerationSettings(provider.label, Decoding())

    async def main() -> None:
        task = asyncio.ensure_future(generate(run, prompts, provider, settings, BATCH))
        while fake.book.polls(first_batch) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    fake.book.hold = True
    asyncio.run(main())
    fake.book.hold = False


def interrupted_create(vendor: Vendor[Any], fake: Any, run: Path, prompts: list[Prompt]) -> None:
    """A generation stopped as Ctrl-C stops it while its create call is on the wire: the fake
    has made the batch (it holds its answer back), bsa has not heard its id."""
    provider = vendor.make_provider(fake.base_url)
    settings = GenerationSettings(provider.label, Decoding(temperature=0.6))

    async def main() -> None:
        task = asyncio.ensure_future(generate(run, prompts, provider, settings, BATCH))
        while not fake.book.created:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    fake.create_delay = 1.0
    asyncio.run(main())
    fake.create_delay = 0.0
