"""What the provider contract tests of every vendor share: one call made and closed, and the
pipeline steps (generate a few BSA items, judge them) run with a provider built by the test.

A vendor's test module keeps only what differs: its fake, how its provider is built, and what its
wire says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import bsa
from bsa.generate import (
    Execution,
    GenerationReport,
    GenerationSettings,
    generate,
    prompts_from_items,
)
from bsa.judge import JudgeReport, judge_run
from bsa.providers.base import Provider
from bsa.runner import RetryPolicy
from bsa.store import Prompt
from bsa.types import Completion, Decoding, Message, Request

FAST = RetryPolicy(max_attempts=2, timeout_s=10.0, base_delay_s=0.0)
QUESTION = "How do I store cleaning products safely?"


def complete_once(
    provider: Provider, messages: tuple[Message, ...], decoding: Decoding | None, n: int = 1
) -> Completion:
    """One call of ``provider`` (the question alone when no messages are given), then closed."""

    async def call() -> Completion:
        try:
            (completion,) = await provider.complete(
                Request(messages or (Message("user", QUESTION),), decoding or Decoding(), n)
            )
        finally:
            await provider.aclose()
        return completion

    return asyncio.run(call())


def bsa_prompts(count: int = 3) -> list[Prompt]:
    return prompts_from_items(bsa.load_dataset().items[:count])


def generate_with(
    provider: Provider, run: Path, prompts: list[Prompt], k: int = 2
) -> GenerationReport:
    """Generate ``k`` samples of each prompt into ``run``, as ``bsa generate`` does."""
    settings = GenerationSettings(provider.label, Decoding())
    execution = Execution(k=k, concurrency=4, policy=FAST)
    return asyncio.run(generate(run, prompts, provider, settings, execution))


def judge_with(make_judge: Callable[[], Provider], run: Path) -> JudgeReport:
    """Judge every sample of ``run`` the judge has not graded yet."""
    return asyncio.run(judge_run(run, make_judge(), Execution(concurrency=4, policy=FAST)))
