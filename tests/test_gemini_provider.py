"""The Gemini provider against a loopback Gemini API server (tests/fake_gemini.py), through the
real ``google-genai`` SDK.

The contract first (request shape, how a reply's parts become reasoning and answer, each error
class), then the real pipeline: generation with resume, and the provider as the judge.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from bsa.errors import MissingExtraError
from bsa.providers.base import (
    ContextOverflow,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.gemini_sdk import GeminiProvider
from bsa.runfile.store import RunStore
from bsa.types import Decoding, Message, Request
from tests.fake_gemini import (
    TEST_KEY,
    FakeGemini,
    content,
    error,
    prompt_blocked,
    text,
    thought,
)
from tests.optional import requires
from tests.provider_contract import (
    QUESTION,
    Vendor,
    assert_one_blocked_two_retried,
    assert_raised_alone,
    bsa_prompts,
    closed_port_url,
    fake_fixture,
    judge_with,
)
from tests.scripted_fake import Reply

needs = requires("google.genai")
HOSTILE = "lone \ud800 surrogate, NUL \x00 and </script><script>alert(1)</script>"


VENDOR = Vendor(GeminiProvider, "gemini-test", TEST_KEY, "GEMINI_API_KEY")
make_provider, ask, answer_with = VENDOR.make_provider, VENDOR.ask, VENDOR.answer_with
run_generate = VENDOR.run_generate
fake = fake_fixture(FakeGemini)


# ---------------------------------------------------------------- the request


def test_request_asks_for_thought_summaries_and_sends_sampling(fake: FakeGemini) -> None:
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20, max_tokens=3000, seed=7)
    ask(fake.base_url, Message("system", "Be safe."), Message("user", QUESTION), decoding=decoding)
    (received,) = fake.requests
    assert received.model == "gemini-test"
    assert received.headers["x-goog-api-key"] == TEST_KEY
    assert received.thinking == {"includeThoughts": True, "thinkingBudget": 8192}
    config = received.config
    assert (config["temperature"], config["topP"], config["topK"]) == (0.6, 0.95, 20)
    assert (config["maxOutputTokens"], config["seed"]) == (3000, 7)
    assert received.body["systemInstruction"]["parts"] == [{"text": "Be safe."}]
    assert received.body["contents"] == [{"role": "user", "parts": [{"text": QUESTION}]}]


def test_turns_extra_body_and_unsent_fields(fake: FakeGemini) -> None:
    async def call() -> GeminiProvider:
        provider = make_provider(fake.base_url)
        turns = (Message("user", "Hi"), Message("assistant", "Hello"), Message("user", QUESTION))
        decoding = Decoding(reasoning_effort="high", extra_body={"labels": {"run": "bsa"}})
        await provider.complete(Request(turns, decoding))
        await provider.aclose()
        return provider

    provider = asyncio.run(call())
    (received,) = fake.requests
    assert [turn["role"] for turn in received.body["contents"]] == ["user", "model", "user"]
    assert received.body["labels"] == {"run": "bsa"}
    assert "systemInstruction" not in received.body
    assert provider.dropped_parameters == {"reasoning_effort"}


@pytest.mark.parametrize(
    ("budget", "sent"),
    [
        (2048, {"includeThoughts": True, "thinkingBudget": 2048}),
        (-1, {"includeThoughts": True, "thinkingBudget": -1}),
        (0, {"includeThoughts": False, "thinkingBudget": 0}),
    ],
)
def test_thinking_budget(fake: FakeGemini, budget: int, sent: dict[str, Any]) -> None:
    ask(fake.base_url, thinking_budget=budget)
    assert fake.requests[0].thinking == sent


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_google(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("google"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_google)
    with pytest.raises(MissingExtraError, match=r"pip install 'bsa-bench\[gemini\]'"):
        make_provider("http://127.0.0.1:9")


def test_several_samples_per_request_are_refused(fake: FakeGemini) -> None:
    VENDOR.assert_refuses_several_samples(fake)


# ---------------------------------------------------------------- the reply


def test_thought_parts_are_the_reasoning(fake: FakeGemini) -> None:
    reply = content(thought("**Weighing** the risks. "), text("The "), text("answer."))
    completion = answer_with(fake, reply)
    assert completion.reasoning == "**Weighing** the risks."
    assert completion.reasoning_source == "thought_summary"
    assert completion.answer == "The answer."
    assert (completion.finish_reason, completion.truncated, completion.blocked) == (
        "stop",
        False,
        False,
    )
    assert completion.raw["candidates"][0]["content"]["parts"][0]["thought"] is True


def test_a_reply_without_thoughts_has_no_reasoning(fake: FakeGemini) -> None:
    completion = answer_with(fake, content(text("Just an answer."), thoughts_tokens=None))
    assert (completion.reasoning, completion.reasoning_source) == (None, "none")
    assert completion.answer == "Just an answer."


def test_hostile_text_is_kept_intact(fake: FakeGemini) -> None:
    completion = answer_with(fake, content(thought(HOSTILE), text(HOSTILE)))
    assert (completion.reasoning, completion.answer) == (HOSTILE, HOSTILE)


def test_usage_counts_thoughts_as_completion_tokens(fake: FakeGemini) -> None:
    reply = content(text("Hi."), prompt_tokens=11, answer_tokens=30, thoughts_tokens=250)
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (11, 280, 250)
    assert usage.cached_tokens is None, "no cachedContentTokenCount: not reported"


def test_usage_keeps_cached_content_tokens(fake: FakeGemini) -> None:
    reply = content(text("Hi."), prompt_tokens=2000, cached_tokens=1536)
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.cached_tokens) == (2000, 1536)


def test_max_tokens_is_flagged_truncated(fake: FakeGemini) -> None:
    completion = answer_with(fake, content(thought("Thinking on"), finish_reason="MAX_TOKENS"))
    assert (completion.finish_reason, completion.truncated) == ("length", True)
    assert (completion.answer, completion.reasoning) == ("", "Thinking on")


def test_a_candidate_without_content_is_an_empty_answer(fake: FakeGemini) -> None:
    reply = Reply(200, {"candidates": [{"finishReason": "MAX_TOKENS", "index": 0}]})
    completion = answer_with(fake, reply)
    assert (completion.answer, completion.reasoning, completion.truncated) == ("", None, True)


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"])
def test_a_filtered_reply_is_blocked_not_text(fake: FakeGemini, reason: str) -> None:
    completion = answer_with(fake, content(thought("Hmm"), text("Partial"), finish_reason=reason))
    assert completion.blocked
    assert (completion.answer, completion.reasoning) == ("", None)
    assert completion.raw["candidates"][0]["finishReason"] == reason


def test_a_blocked_prompt_is_blocked(fake: FakeGemini) -> None:
    completion = answer_with(fake, prompt_blocked("SAFETY"))
    assert completion.blocked
    assert completion.raw["promptFeedback"] == {"blockReason": "SAFETY"}
    assert completion.usage.prompt_tokens == 25


@pytest.mark.parametrize(
    "reply", [Reply(200, b"{not json"), Reply(200, {"candidates": []}), Reply(200, b"[1]")]
)
def test_a_malformed_body_is_transient(fake: FakeGemini, reply: Reply) -> None:
    with pytest.raises(TransientError, match="malformed"):
        answer_with(fake, reply)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (error(500, "INTERNAL", "An internal error has occurred."), TransientError, "500"),
        (error(503, "UNAVAILABLE", "The model is overloaded."), Overloaded, "UNAVAILABLE"),
        (error(504, "DEADLINE_EXCEEDED", "Deadline expired."), TransientError, "504"),
        (error(401, "UNAUTHENTICATED", "no credentials"), FatalError, "$GEMINI_API_KEY"),
        (
            error(403, "PERMISSION_DENIED", "Your API key was reported as leaked."),
            FatalError,
            "permission denied",
        ),
        (
            error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed "
                "(1048576).",
            ),
            ContextOverflow,
            "maximum number of tokens",
        ),
        (
            error(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
            FatalError,
            "HTTP 400 FAILED_PRECONDITION",
        ),
        (
            error(
                400,
                "INVALID_ARGUMENT",
                "Budget 0 is invalid.\nThis model only works in thinking mode.",
            ),
            FatalError,
            "Budget 0 is invalid. This model",
        ),
    ],
)
def test_error_classes(
    fake: FakeGemini, reply: Reply, kind: type[ProviderError], words: str
) -> None:
    assert_raised_alone(lambda: answer_with(fake, reply), kind, words)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(502, b"<html><b>502.</b> That's an error.</html>", {"Content-Type": "text/html"}),
         "HTTP 502 Bad Gateway"),
        (Reply(500, b'{"error": {"code": 5'), "malformed error body"),
    ],
    ids=["html-from-a-proxy", "broken-json"],
)  # fmt: skip
def test_an_error_without_googles_body_is_transient(
    fake: FakeGemini, reply: Reply, words: str
) -> None:
    with pytest.raises(TransientError, match=words):
        answer_with(fake, reply)


def test_resource_exhausted_waits_the_servers_retry_delay(fake: FakeGemini) -> None:
    quota = "You exceeded your current quota, please check your plan and billing details."
    with pytest.raises(RateLimited) as caught:
        answer_with(fake, error(429, "RESOURCE_EXHAUSTED", quota, retry_delay="7s"))
    assert caught.value.retry_after == 7.0
    assert "HTTP 429 RESOURCE_EXHAUSTED" in caught.value.message


def test_a_rate_limit_without_retry_info_reads_retry_after() -> None:
    fake = FakeGemini()
    reply = error(429, "RESOURCE_EXHAUSTED", "Slow down", retry_delay="soon")
    with fake.serve():
        fake.script(QUESTION, Reply(reply.status, reply.body, {"Retry-After": "3"}))
        with pytest.raises(RateLimited) as caught:
            ask(fake.base_url)
    assert caught.value.retry_after == 3.0


def test_a_wrong_key_and_an_unknown_model_are_fatal(fake: FakeGemini) -> None:
    with pytest.raises(FatalError, match=r"HTTP 400 INVALID_ARGUMENT.*\$GEMINI_API_KEY"):
        ask(fake.base_url, api_key="AIzaWrongKey-000000000000000000000")
    fake.models = ("gemini-known",)
    with pytest.raises(FatalError, match=r"'gemini-test' not found.*--model"):
        ask(fake.base_url)


def test_a_hang_times_out_as_transient(fake: FakeGemini) -> None:
    with pytest.raises(TransientError, match="timed out"):
        answer_with(fake, Reply(200, b"{}", delay=2.5), timeout=1)


def test_a_dropped_connection_is_transient(fake: FakeGemini) -> None:
    with pytest.raises(TransientError, match=r"127\.0\.0\.1"):
        answer_with(fake, Reply(200, b"", drop=True))
    assert len(fake.requests) == 1, "the SDK does not retry on its own"


def test_a_closed_port_is_transient() -> None:
    with pytest.raises(TransientError, match=r"cannot connect to http://127\.0\.0\.1"):
        ask(closed_port_url())


# ---------------------------------------------------------------- the pipeline


def test_generation_stores_thoughts_and_resumes_without_calls(
    fake: FakeGemini, tmp_path: Path
) -> None:
    for sample in VENDOR.generated_and_resumed(fake, tmp_path / "run.sqlite", bsa_prompts()):
        assert sample.reasoning_source == "thought_summary"
        assert sample.reasoning_tokens == 120 and sample.completion_tokens == 160
        assert json.loads(sample.raw or "{}")["candidates"][0]["content"]["parts"][0]["thought"]


def test_blocks_are_stored_rate_limits_and_overloads_retried(
    fake: FakeGemini, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    fake.script(prompts[0].query, prompt_blocked())
    fake.script(prompts[1].query, error(429, "RESOURCE_EXHAUSTED", "quota", retry_delay="0s"))
    fake.script(prompts[2].query, error(503, "UNAVAILABLE", "The model is overloaded."))
    report = run_generate(fake, run, prompts, k=1)
    assert report.status == {"ok": 2, "blocked": 1, "failed": 0}
    assert_one_blocked_two_retried(run, prompts)


def test_hostile_text_is_stored_intact(fake: FakeGemini, tmp_path: Path) -> None:
    """NULs and markup as sent; a lone surrogate, which UTF-8 cannot hold, is U+FFFD in the text
    columns (the store's rule) and its exact escape in the raw body."""
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()[:1]
    fake.script(prompts[0].query, content(thought(HOSTILE), text(HOSTILE)))
    run_generate(fake, run, prompts, k=1)
    with RunStore(run) as store:
        (sample,) = store.generations()
    storable = HOSTILE.replace("\ud800", "\ufffd")
    assert (sample.reasoning, sample.answer) == (storable, storable)
    parts = json.loads(sample.raw or "{}")["candidates"][0]["content"]["parts"]
    assert [part["text"] for part in parts] == [HOSTILE, HOSTILE]


def test_the_provider_judges_a_run(fake: FakeGemini, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    judge_requests = VENDOR.judged_run(fake, run, "gemini-judge", "gemini:gemini-judge")
    assert {r.model for r in judge_requests} == {"gemini-judge"}
    judge_with(make_provider(fake.base_url, model="gemini-judge"), run)
    assert len(fake.requests) == 18, "a rerun asks for no verdict it has"
