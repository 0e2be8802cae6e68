"""The Anthropic provider against a loopback Messages API server (tests/fake_anthropic.py).

The contract first (request shape, how a reply's blocks become reasoning and answer, each error
class), then the real pipeline: generation with resume, and the provider as the judge.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bsa.errors import BsaError, MissingExtraError
from bsa.providers.base import (
    ContextOverflow,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.types import Decoding, Message
from tests.fake_anthropic import (
    TEST_KEY,
    FakeAnthropic,
    error,
    message,
    redacted,
    stream_error,
    streamed,
    text,
    thinking,
)
from tests.optional import on_call, requires
from tests.provider_contract import (
    QUESTION,
    Vendor,
    assert_one_blocked_two_retried,
    assert_raised_alone,
    bsa_prompts,
    closed_port_url,
    fake_fixture,
    generate_with,
    judge_with,
)
from tests.scripted_fake import EVENT_STREAM, Reply

needs = requires("anthropic")
VENDOR = Vendor(
    on_call("bsa.providers.anthropic_sdk", "AnthropicProvider"),
    "claude-test",
    TEST_KEY,
    "ANTHROPIC_API_KEY",
)
make_provider, ask, answer_with = VENDOR.make_provider, VENDOR.ask, VENDOR.answer_with
run_generate = VENDOR.run_generate
fake = fake_fixture(FakeAnthropic)


# ---------------------------------------------------------------- the request


def test_request_turns_thinking_on_and_sends_no_sampling_settings(fake: FakeAnthropic) -> None:
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20)
    ask(fake.base_url, Message("system", "Be safe."), Message("user", QUESTION), decoding=decoding)
    (received,) = fake.requests
    body = received.body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192, "display": "summarized"}
    assert body["max_tokens"] == 8192 + 4096
    assert body["system"] == "Be safe."
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert received.headers["anthropic-version"]


def test_budget_and_max_tokens(fake: FakeAnthropic) -> None:
    ask(fake.base_url, decoding=Decoding(max_tokens=20_000), thinking_budget=2048)
    ask(fake.base_url, decoding=Decoding(max_tokens=1000), thinking_budget=2048)
    ask(fake.base_url, thinking_budget=0)
    bodies = [r.body for r in fake.requests]
    assert [b["max_tokens"] for b in bodies] == [20_000, 2048 + 4096, 4096]
    assert bodies[0]["thinking"]["budget_tokens"] == 2048
    assert bodies[2]["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize("budget", [-1, 1, 1023])
def test_a_budget_below_anthropics_minimum_is_refused(budget: int) -> None:
    with pytest.raises(BsaError, match="at least 1024"):
        make_provider("http://127.0.0.1:9", thinking_budget=budget)


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bsa.providers.anthropic_sdk.anthropic", None)
    with pytest.raises(MissingExtraError, match=r"bsa-bench\[anthropic\]"):
        make_provider("http://127.0.0.1:9")


def test_several_samples_per_request_are_refused(fake: FakeAnthropic) -> None:
    VENDOR.assert_refuses_several_samples(fake)


# ---------------------------------------------------------------- the reply


def test_thinking_blocks_are_the_reasoning(fake: FakeAnthropic) -> None:
    completion = answer_with(
        fake, message(thinking(" First thought. "), thinking("Second."), text("The answer."))
    )
    assert completion.reasoning == "First thought.\n\nSecond."
    assert completion.reasoning_source == "thinking_blocks"
    assert completion.answer == "The answer."
    assert (completion.finish_reason, completion.truncated, completion.blocked) == (
        "stop",
        False,
        False,
    )
    assert completion.raw["content"][0]["signature"].startswith("sig-")


def test_redacted_thinking_is_marked_and_kept_raw(fake: FakeAnthropic) -> None:
    from bsa.providers.anthropic_sdk import REDACTED_MARKER

    completion = answer_with(
        fake, message(thinking("Visible part."), redacted("SECRET=="), text("Answer."))
    )
    assert completion.reasoning == f"Visible part.\n\n{REDACTED_MARKER}"
    assert completion.raw["content"][1] == {"type": "redacted_thinking", "data": "SECRET=="}


def test_a_reply_without_thinking_has_no_reasoning(fake: FakeAnthropic) -> None:
    completion = answer_with(fake, message(text("Just "), text("an answer.")))
    assert (completion.reasoning, completion.reasoning_source) == (None, "none")
    assert completion.answer == "Just an answer."


def test_omitted_thinking_adds_nothing(fake: FakeAnthropic) -> None:
    completion = answer_with(fake, message(thinking(""), text("Answer.")))
    assert (completion.reasoning, completion.reasoning_source) == (None, "none")


def test_usage_counts_cached_input_and_thinking_tokens(fake: FakeAnthropic) -> None:
    reply = message(text("Hi."), input_tokens=10, output_tokens=300)
    assert isinstance(reply.body, dict)
    reply.body["usage"].update(
        cache_read_input_tokens=5, output_tokens_details={"thinking_tokens": 250}
    )
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (15, 300, 250)


def test_usage_keeps_cache_reads_and_writes_apart(fake: FakeAnthropic) -> None:
    """Cache reads and writes are billed apart (0.1x and 1.25x the input price): both are kept,
    and both stay counted in the prompt tokens."""
    reply = message(text("Hi."), input_tokens=10, cache_read=1500, cache_write=300)
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens) == (1810, 1500, 300)


def test_max_tokens_is_flagged_truncated(fake: FakeAnthropic) -> None:
    completion = answer_with(
        fake, message(thinking("Thinking on and on"), stop_reason="max_tokens")
    )
    assert (completion.finish_reason, completion.truncated) == ("length", True)
    assert (completion.answer, completion.reasoning) == ("", "Thinking on and on")


def test_refusal_is_blocked_not_text(fake: FakeAnthropic) -> None:
    details = {"type": "refusal", "category": "general_harms", "explanation": None}
    reply = message(text("Partial"), stop_reason="refusal", stop_details=details)
    completion = answer_with(fake, reply)
    assert completion.blocked
    assert (completion.answer, completion.reasoning) == ("", None)
    assert completion.raw["stop_details"] == details


def test_a_malformed_stream_is_transient(fake: FakeAnthropic) -> None:
    unreadable = b"event: message_start\ndata: {not json\n\n"
    with pytest.raises(TransientError, match="malformed stream event"):
        answer_with(fake, Reply(200, unreadable, {"Content-Type": EVENT_STREAM}))
    with pytest.raises(TransientError, match="incomplete"):
        answer_with(fake, Reply(200, b"{not json"))


def test_a_stream_cut_before_message_stop_is_incomplete(fake: FakeAnthropic) -> None:
    with pytest.raises(TransientError, match="ended before message_stop"):
        answer_with(fake, streamed(message(thinking("Half a thought"), text("Half")), cut=1))


# ---------------------------------------------------------------- streaming


def test_every_call_streams_and_the_pieces_are_put_back_together(fake: FakeAnthropic) -> None:
    from bsa.providers.anthropic_sdk import REDACTED_MARKER

    reply = message(thinking("A thought in many pieces."), redacted("X=="), text("An answer."))
    completion = answer_with(fake, reply)
    assert fake.requests[0].body["stream"] is True
    assert completion.reasoning == f"A thought in many pieces.\n\n{REDACTED_MARKER}"
    assert completion.answer == "An answer."
    assert isinstance(reply.body, dict)
    assert completion.raw == reply.body, "the run file keeps the body a plain call returns"


def test_a_64k_thinking_budget_streams_its_long_trace(fake: FakeAnthropic) -> None:
    """max_tokens above 64k is what makes the SDK refuse a call that does not stream."""
    trace = " ".join(f"Step {n}: weigh the risk of part {n}." for n in range(2000))
    reply = message(thinking(trace), text("Done."), output_tokens=66_000)
    completion = answer_with(fake, reply, thinking_budget=64_000)
    (received,) = fake.requests
    assert received.body["stream"] is True
    assert received.body["max_tokens"] == 64_000 + 4096
    assert received.body["thinking"]["budget_tokens"] == 64_000
    assert (completion.reasoning, completion.answer) == (trace, "Done.")
    assert completion.usage.completion_tokens == 66_000


@pytest.mark.parametrize(
    ("kind", "outcome", "words"),
    [("overloaded_error", Overloaded, "Overloaded"),
     ("api_error", TransientError, "Internal"),
     ("rate_limit_error", RateLimited, "rate limited"),
     ("invalid_request_error", TransientError, "error event in the stream")],
)  # fmt: skip
def test_an_error_event_inside_the_stream(
    fake: FakeAnthropic, kind: str, outcome: type[ProviderError], words: str
) -> None:
    """The request was accepted, so nothing inside its stream stops the run."""
    partial = message(thinking("I was about to"), text("say"))
    detail = {"overloaded_error": "Overloaded", "api_error": "Internal"}.get(kind, "no")
    with pytest.raises(outcome) as caught:
        answer_with(fake, stream_error(kind, detail, before=partial))
    assert type(caught.value) is outcome
    assert words in caught.value.message


def test_thinking_adaptive_sends_no_budget(fake: FakeAnthropic) -> None:
    ask(fake.base_url, thinking="adaptive", thinking_budget=32_000)
    (received,) = fake.requests
    assert received.body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert received.body["max_tokens"] == 32_000 + 4096, "the budget still sizes max_tokens"


def test_an_unknown_thinking_mode_is_refused() -> None:
    with pytest.raises(BsaError, match="--thinking 'sometimes': choose enabled or adaptive"):
        make_provider("http://127.0.0.1:9", thinking="sometimes")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (error(529, "overloaded_error", "Overloaded"), Overloaded, "529"),
        (error(500, "api_error", "Internal server error"), TransientError, "500"),
        (error(503, "api_error", "Unavailable"), Overloaded, "503"),
        (error(401, "authentication_error", "invalid x-api-key"), FatalError, "$ANTHROPIC_API_KEY"),
        (error(403, "permission_error", "no access"), FatalError, "claude-test"),
        (error(404, "not_found_error", "model: claude-test"), FatalError, "--model"),
        (
            error(
                400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            ),
            ContextOverflow,
            "prompt is too long",
        ),
        (
            error(
                400, "invalid_request_error", "input length and `max_tokens` exceed context limit"
            ),
            ContextOverflow,
            "context limit",
        ),
        (error(400, "invalid_request_error", "thinking: unsupported"), FatalError, "HTTP 400"),
    ],
)
def test_error_classes(
    fake: FakeAnthropic, reply: Reply, kind: type[ProviderError], words: str
) -> None:
    assert_raised_alone(lambda: answer_with(fake, reply), kind, words)


def test_rate_limit_carries_retry_after(fake: FakeAnthropic) -> None:
    with pytest.raises(RateLimited) as caught:
        answer_with(fake, error(429, "rate_limit_error", "Slow down", retry_after="7"))
    assert caught.value.retry_after == 7.0
    assert "rate_limit_error: Slow down" in caught.value.message


def test_a_wrong_key_and_an_unknown_model_are_fatal(fake: FakeAnthropic) -> None:
    with pytest.raises(FatalError, match=r"HTTP 401.*\$ANTHROPIC_API_KEY"):
        ask(fake.base_url, api_key_env="ANTHROPIC_API_KEY", api_key="sk-ant-wrong")
    fake.models = ("claude-known",)
    with pytest.raises(FatalError, match="'claude-test' not found"):
        ask(fake.base_url)


def test_a_hang_times_out_as_transient(fake: FakeAnthropic) -> None:
    with pytest.raises(TransientError, match="timed out"):
        answer_with(fake, Reply(200, b"{}", delay=1.0), timeout=0.2)


def test_a_dropped_connection_is_transient(fake: FakeAnthropic) -> None:
    with pytest.raises(TransientError):
        answer_with(fake, Reply(200, b"", drop=True))


def test_a_closed_port_is_transient() -> None:
    with pytest.raises(TransientError, match=r"127\.0\.0\.1"):
        ask(closed_port_url())


# ---------------------------------------------------------------- the pipeline


def test_generation_stores_thinking_and_resumes_without_calls(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    for sample in VENDOR.generated_and_resumed(fake, tmp_path / "run.sqlite", bsa_prompts()):
        assert sample.reasoning_source == "thinking_blocks"
        assert json.loads(sample.raw or "{}")["content"][0]["type"] == "thinking"


def test_refusals_are_stored_blocked_and_overloads_retried(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    fake.script(prompts[0].query, message(text("I"), stop_reason="refusal"))
    fake.script(prompts[1].query, error(429, "rate_limit_error", "Slow down", retry_after="0"))
    fake.script(prompts[2].query, error(529, "overloaded_error", "Overloaded"))
    report = run_generate(fake, run, prompts, k=1)
    assert report.status == {"ok": 2, "blocked": 1, "failed": 0}
    assert_one_blocked_two_retried(run, prompts)


def test_the_provider_judges_a_run(fake: FakeAnthropic, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    VENDOR.judged_run(fake, run, "claude-judge", "anthropic:claude-judge")
    judge_with(make_provider(fake.base_url, model="claude-judge"), run)
    assert len(fake.requests) == 18, "a rerun asks for no verdict it has"


# ---------------------------------------------------------------- the judge's prompt cache


def test_a_judge_marks_the_templates_fixed_prefix_for_the_cache(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    """A judge prompt whose fixed text (the template before its first placeholder) reaches the
    minimum cacheable length goes as two text blocks, the first ``cache_control: ephemeral``;
    the blocks join to exactly the official prompt, and a shorter prefix is sent plain."""
    import bsa
    from bsa.benchmark import Scenario
    from bsa.engine.generate import prompts_from_items

    items = bsa.load_dataset().items
    scenarios = (Scenario.RISK_OMISSION, Scenario.COGNITIVE_SHORTCUT, Scenario.OVER_SENSITIVITY)
    one_each = [next(i for i in items if i.scenario == s) for s in scenarios]
    run = tmp_path / "run.sqlite"
    generate_with(make_provider(fake.base_url), run, prompts_from_items(one_each), k=1)
    judge_with(make_provider(fake.base_url, model="claude-sonnet-4-5"), run)
    marked: dict[str, str] = {}
    for received in fake.requests[len(one_each) :]:
        (turn,) = received.body["messages"]
        if isinstance(turn["content"], str):
            continue
        first, rest = turn["content"]
        assert first["cache_control"] == {"type": "ephemeral"} and "cache_control" not in rest
        assert received.prompt == first["text"] + rest["text"], "the prompt is bit-exact"
        (item,) = [i for i in one_each if i.query in received.prompt]
        assert first["text"] == received.prompt[: received.prompt.index(item.query)]
        marked[first["text"]] = item.scenario.value
    assert sorted(marked.values()) == ["Cognitive Shortcut", "Over Sensitivity"], (
        "the safety and Risk Omission templates' fixed text is under 1024 tokens"
    )
    assert all(len(prefix) // 4 >= 1024 for prefix in marked)


def test_a_haiku_judge_needs_a_longer_prefix() -> None:
    from bsa.providers.anthropic_cache import cached_turn, min_cacheable_tokens

    message = Message("user", "x" * 5000 + "query", cache_prefix=5000)
    assert min_cacheable_tokens("claude-3-5-haiku-latest") == 2048
    assert isinstance(cached_turn(message, 2048)["content"], str)
    assert len(cached_turn(message, 1024)["content"]) == 2
