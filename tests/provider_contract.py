"""What the standard provider tests share, whatever the vendor: one call through a provider, and
the pipeline steps (generate, judge) run with it against a loopback fake.

A provider's own test module builds its provider (its constructor, its fake's key) and checks
what its vendor's wire format means; these helpers only run it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import bsa
from bsa.engine.generate import (
    Execution,
    GenerationReport,
    GenerationSettings,
    generate,
    prompts_from_items,
)
from bsa.engine.runner import RetryPolicy
from bsa.judging.judge import JudgeReport, judge_run
from bsa.providers.base import Provider
from bsa.runfile.store import Prompt
from bsa.types import Completion, Decoding, Message, Request

#: Retries without waiting: a scripted failure is retried once, at once.
FAST = RetryPolicy(max_attempts=2, timeout_s=10.0, base_delay_s=0.0)
QUESTION = "How do I store cleaning products safely?"


def complete_once(
    build: Callable[[], Provider],
    *messages: Message,
    decoding: Decoding | None = None,
    n: int = 1,
) -> Completion:
    """One ``complete`` call of a provider built (inside the event loop, as SDK clients want)
    by ``build``, then closed; the question alone unless ``messages`` are given."""

    async def call() -> Completion:
        provider = build()
        try:
            (completion,) = await provider.complete(
                Request(messages or (Message("user", QUESTION),), decoding or Decoding(), n)
            )
        finally:
            await provider.aclose()
        return completion

    return asyncio.run(call())


def bsa_prompts(count: int = 3) -> list[Prompt]:
    """The first ``count`` BSA items as prompts."""
    return prompts_from_items(bsa.load_dataset().items[:count])


def generate_with(
    provider: Provider, run: Path, prompts: list[Prompt], k: int = 2
) -> GenerationReport:
    """``k`` samples of each prompt into ``run``, four at a time."""
    settings = GenerationSettings(provider.label, Decoding())
    execution = Execution(k=k, concurrency=4, policy=FAST)
    return asyncio.run(generate(run, prompts, provider, settings, execution))


def judge_with(judge: Provider, run: Path) -> JudgeReport:
    """Both verdicts of every sample in ``run``, four at a time."""
    return asyncio.run(judge_run(run, judge, Execution(concurrency=4, policy=FAST)))
