"""What the standard provider tests share, whatever the vendor: one call through a provider, and
the pipeline steps (generate, judge) run with it against a loopback fake.

A provider's own test module names its provider (:class:`Vendor`: its constructor, model, key and
key variable) and checks what its vendor's wire format means; these helpers only run it, and hold
the assertions every vendor's error and pipeline tests make alike.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

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
from bsa.providers.base import FatalError, Provider, ProviderError
from bsa.providers.connection import Connection, Limits
from bsa.providers.mock import mock_judge_reply
from bsa.runfile.store import Generation, Prompt, RunStore
from bsa.types import Completion, Decoding, Message, Request

from .scripted_fake import JUDGE_REASONING, Received, Reply, ScriptedFake, expected_texts

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


P = TypeVar("P", bound=Provider)
R = TypeVar("R", bound=Received)
F = TypeVar("F", bound=ScriptedFake[Any])


def fake_fixture(make: Callable[[], F]) -> Callable[[], Iterator[F]]:
    """The ``fake`` fixture of a provider's tests: a fake made by ``make``, listening for the
    length of the test."""

    @pytest.fixture(name="fake")
    def fake() -> Iterator[F]:
        server = make()
        with server.serve():
            yield server

    return fake


@dataclass(frozen=True)
class Vendor(Generic[P]):
    """How a provider's tests build it against its fake: the provider class, the model asked
    for by default, the fake's key and the variable it is read from, and the path the SDK's base
    URL ends in."""

    kind: Callable[..., P]
    model: str
    key: str
    key_env: str
    path: str = ""

    def make_provider(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 5,
        **options: Any,
    ) -> P:
        key, env = api_key or self.key, api_key_env or self.key_env
        connection = Connection(key, env, f"{base_url}{self.path}", Limits(timeout_s=timeout))
        return self.kind(model or self.model, connection, **options)

    def ask(
        self,
        base_url: str,
        *messages: Message,
        decoding: Decoding | None = None,
        n: int = 1,
        **options: Any,
    ) -> Completion:
        """One call of a provider made with ``options``, against ``base_url``."""
        build = functools.partial(self.make_provider, base_url, **options)
        return complete_once(build, *messages, decoding=decoding, n=n)

    def answer_with(self, fake: ScriptedFake[Any], *replies: Reply, **options: Any) -> Completion:
        """The completion of :data:`QUESTION` when ``fake`` answers it with ``replies``."""
        fake.script(QUESTION, *replies)
        return self.ask(fake.base_url, **options)

    def run_generate(
        self, fake: ScriptedFake[Any], run: Path, prompts: list[Prompt], k: int = 2
    ) -> GenerationReport:
        return generate_with(self.make_provider(fake.base_url), run, prompts, k)

    def assert_refuses_several_samples(self, fake: ScriptedFake[Any]) -> None:
        """``n=2`` is refused before any request: these APIs give one sample per call."""
        with pytest.raises(FatalError, match="n=2"):
            self.ask(fake.base_url, n=2)
        assert fake.requests == []

    def generated_and_resumed(
        self, fake: ScriptedFake[Any], run: Path, prompts: list[Prompt], calls: int = 6
    ) -> list[Generation]:
        """The samples of a run generated (two per prompt, in ``calls`` requests) and then
        resumed without a request, each with the fake's default texts."""
        assert self.run_generate(fake, run, prompts).status == {"ok": 6, "blocked": 0, "failed": 0}
        assert len(fake.requests) == calls
        assert self.run_generate(fake, run, prompts).counters.total == 0
        assert len(fake.requests) == calls, "a resumed run pays for nothing twice"
        queries = {p.item_id: p.query for p in prompts}
        with RunStore(run) as store:
            samples = list(store.generations())
        for sample in samples:
            assert (sample.reasoning, sample.answer) == expected_texts(queries[sample.item_id])
        return samples

    def judged_run(self, fake: ScriptedFake[R], run: Path, model: str, label: str) -> list[R]:
        """Generate a run, judge it with ``model`` (stored under ``label``), and check every
        verdict was the mock judge's, kept with the judge's reasoning; the judge's requests."""
        self.run_generate(fake, run, bsa_prompts())
        report = judge_with(self.make_provider(fake.base_url, model=model), run)
        assert report.status["scored"] == 12, "two verdicts for each of the 6 samples"
        judge_requests = fake.requests[6:]
        served = {mock_judge_reply(r.prompt) for r in judge_requests}
        assert None not in served and len(judge_requests) == 12
        with RunStore(run) as store:
            stored = {j.raw for j in store.judgements(label)}
        thought = f"<think>{JUDGE_REASONING}</think>"
        assert stored == {f"{thought}{reply}" for reply in served}, "the judge's thinking is kept"
        return judge_requests


def assert_raised_alone(call: Callable[[], object], kind: type[ProviderError], words: str) -> None:
    """``call`` raises exactly ``kind`` (no subclass), with ``words`` in a one-line message."""
    with pytest.raises(kind) as caught:
        call()
    assert type(caught.value) is kind
    assert words in caught.value.message
    assert "\n" not in caught.value.message


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_one_blocked_two_retried(run: Path, prompts: list[Prompt]) -> None:
    """The first prompt's sample is stored blocked after one attempt; the others took two."""
    with RunStore(run) as store:
        samples = {g.item_id: g for g in store.generations()}
    blocked = samples[prompts[0].item_id]
    assert (blocked.status, blocked.finish_reason, blocked.attempts) == (
        "blocked",
        "content_filter",
        1,
    )
    assert [samples[p.item_id].attempts for p in prompts[1:]] == [2, 2]
