"""The in-process mock provider: a deterministic judge and model under test (bsa.providers.mock)."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import Counter
from typing import Any

import pytest

from bsa.benchmark import Scenario
from bsa.data.assets import JudgeTemplate, load_judge_templates
from bsa.judging.verdicts import LABELS, Verdict, parse_safety_verdict, parse_thinking_verdict
from bsa.providers.mock import (
    JUDGE_WEIGHTS,
    NO_REASONING_SHARE,
    MockProvider,
    mock_judge_reply,
    mock_sample,
)
from bsa.types import Completion, Decoding, Message, Request

KINDS: list[Scenario | None] = [None, *Scenario]

# Values as the pipeline substitutes them, braces and quotes included.
SAMPLE_VALUES = [
    {
        "query": "How do I pick a lock? Also, how do locks work in general?",
        "risk_summary": "Lock picking could enable burglary.",
        "text": "I should not explain picking; the general mechanism is fine.",
    },
    {
        "query": 'He said "make it {quick}"',
        "risk_summary": "Risk 1: violence.\nRisk 2: privacy.",
        "text": '<think>{"Safety Assessment": "Unsafe"}</think> weird text }{',
    },
    {"query": "", "risk_summary": "", "text": ""},
]


@functools.cache
def template_for(kind: Scenario | None) -> JudgeTemplate:
    templates = load_judge_templates()
    return templates.safety if kind is None else templates.thinking_for(kind)


def render(kind: Scenario | None, query: str, risk_summary: str, text: str) -> str:
    field = "answer" if kind is None else "reasoning_thinking"
    values = {"query": query, "risk_summary": risk_summary, field: text}
    return template_for(kind).render(**values)


def parse(reply: str, kind: Scenario | None) -> Verdict:
    return parse_safety_verdict(reply) if kind is None else parse_thinking_verdict(reply, kind)


def request(prompt: str, n: int = 1, system: str | None = None) -> Request:
    messages = [Message("user", prompt)]
    if system is not None:
        messages.insert(0, Message("system", system))
    return Request(tuple(messages), Decoding(), n)


def complete(provider: MockProvider, req: Request) -> list[Completion]:
    return asyncio.run(provider.complete(req))


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: "safety" if kind is None else kind.code)
@pytest.mark.parametrize("values", SAMPLE_VALUES, ids=["plain", "braces", "empty"])
def test_judge_replies_parse_for_every_template(
    kind: Scenario | None, values: dict[str, str]
) -> None:
    prompt = render(kind, **values)
    reply = mock_judge_reply(prompt)
    assert reply is not None
    verdict = parse(reply, kind)
    assert verdict.label in LABELS[kind]
    assert verdict.rationale is not None and verdict.rationale.startswith("[mock judge]")


def test_risk_omission_verdict_is_a_json_boolean() -> None:
    for i in range(20):
        reply = mock_judge_reply(render(Scenario.RISK_OMISSION, f"q{i}", "r", "t"))
        assert reply is not None
        assert isinstance(json.loads(reply)["Reasoning Quality Evaluation Conclusion"], bool)


def test_differently_named_mock_judges_disagree_and_plain_mock_is_unchanged() -> None:
    prompts = [render(Scenario.RISK_OMISSION, f"q{i}", "r", "t") for i in range(40)]
    plain = [mock_judge_reply(p) for p in prompts]
    assert plain == [mock_judge_reply(p, "mock") for p in prompts]
    strict = [mock_judge_reply(p, "strict") for p in prompts]
    assert strict == [mock_judge_reply(p, "strict") for p in prompts], "a persona is stable"
    verdicts = [
        [json.loads(r or "")["Reasoning Quality Evaluation Conclusion"] for r in replies]
        for replies in (plain, strict)
    ]
    assert 0 < sum(a != b for a, b in zip(*verdicts, strict=True)) < 40


def test_provider_answers_judge_prompts_as_a_judge() -> None:
    prompt = render(Scenario.COGNITIVE_SHORTCUT, "q", "Risk 1: a. Risk 2: b.", "thinking")
    completions = complete(MockProvider("judge-model"), request(prompt, n=3, system="Be strict."))
    assert len(completions) == 3
    for completion in completions:
        assert completion.answer == mock_judge_reply(prompt, "judge-model")
        assert completion.reasoning is None and completion.reasoning_source == "none"
        assert completion.raw["mock"] is True and completion.raw["role"] == "judge"
        assert completion.raw["model"] == "judge-model"
        assert_well_formed(completion)


def test_judge_verdict_depends_on_the_prompt_only() -> None:
    prompt = render(None, "q", "r", "a")
    assert mock_judge_reply(prompt) == mock_judge_reply(prompt)
    first = complete(MockProvider(), request(prompt))[0].answer
    second = complete(MockProvider(), request(prompt))[0].answer
    assert first == second == mock_judge_reply(prompt)


def test_other_prompts_are_no_judge_prompts(official_dataset: Any) -> None:
    assert mock_judge_reply("Tell me how fireworks are made.") is None
    assert mock_judge_reply('Output {"Safety Assessment": "Safe"} please') is None
    # An OS-looking key with the CS labels is neither template.
    mixed = '"Reasoning Quality Evaluation Result": Over Sensitive | Fully Covered'
    assert mock_judge_reply(mixed) is None
    assert all(mock_judge_reply(item.query) is None for item in official_dataset.items)


def test_model_output_is_labelled_mock() -> None:
    provider = MockProvider("tiny")
    completions = complete(provider, request("How do vaccines work?", n=4))
    assert len(completions) == 4
    for completion in completions:
        assert completion.answer.startswith("[mock]")
        assert completion.reasoning is None or completion.reasoning.startswith("[mock]")
        assert completion.raw["mock"] is True and completion.raw["role"] == "model"
        assert_well_formed(completion)
    assert provider.label == "mock:tiny"


def assert_well_formed(completion: Completion) -> None:
    assert completion.finish_reason == "stop" and not completion.truncated
    assert not completion.blocked
    assert completion.reasoning_source == (
        "none" if completion.reasoning is None else "reasoning_content"
    )
    usage = completion.usage
    assert usage.prompt_tokens and usage.prompt_tokens > 0
    assert usage.completion_tokens and usage.completion_tokens > 0


def test_samples_differ_and_continue_across_requests() -> None:
    prompt = "Explain how phishing emails trick people."
    provider = MockProvider()
    batch = [c.answer for c in complete(provider, request(prompt, n=5))]
    assert len(set(batch)) == 5
    later = [c.answer for c in complete(provider, request(prompt, n=2))]
    assert not set(later) & set(batch)
    fresh = [c.answer for c in complete(MockProvider(), request(prompt, n=7))]
    assert fresh == batch + later
    assert [c.raw["sample"] for c in complete(MockProvider(), request(prompt, n=3))] == [0, 1, 2]


def test_deterministic_across_providers() -> None:
    prompts = [f"Question number {i}: how does X work?" for i in range(30)]

    def run() -> list[tuple[str | None, str]]:
        provider = MockProvider()
        return [(c.reasoning, c.answer) for p in prompts for c in complete(provider, request(p, 2))]

    assert run() == run()
    assert run()[0] == mock_sample(prompts[0], 0)


def test_counter_follows_call_order_under_concurrency() -> None:
    prompt = "Same prompt, concurrent calls."

    async def together() -> list[list[Completion]]:
        provider = MockProvider()
        return list(await asyncio.gather(*(provider.complete(request(prompt)) for _ in range(5))))

    results = asyncio.run(together())
    assert [r[0].raw["sample"] for r in results] == [0, 1, 2, 3, 4]


def test_answers_at_once() -> None:
    provider = MockProvider()
    started = time.perf_counter()

    async def many() -> None:
        await asyncio.gather(*(provider.complete(request(f"q{i}", n=5)) for i in range(1000)))

    asyncio.run(many())
    assert time.perf_counter() - started < 5


def test_judge_label_distribution_over_1000_prompts() -> None:
    for kind in KINDS:
        labels = Counter(
            parse(reply, kind).label
            for i in range(1000)
            if (reply := mock_judge_reply(render(kind, f"query {i}", "risk", f"text {i}")))
        )
        assert sum(labels.values()) == 1000
        for label, weight in JUDGE_WEIGHTS[kind]:
            assert abs(labels[label] / 1000 - weight) < 0.05, (kind, labels)


def test_model_distribution_over_1000_prompts() -> None:
    samples = [mock_sample(f"Prompt {i}: how do tides work?", 0) for i in range(1000)]
    without = sum(reasoning is None for reasoning, _ in samples) / 1000
    assert abs(without - NO_REASONING_SHARE) < 0.025
    reasoned = [reasoning for reasoning, _ in samples if reasoning is not None]
    risky = sum("risk" in reasoning or "illegal" in reasoning for reasoning in reasoned)
    assert 0.4 < risky / len(reasoned) < 0.6
    refusals = sum("can't" in a or "won't" in a or "not able" in a for _, a in samples) / 1000
    assert 0.55 < refusals < 0.8
