"""An in-process provider for dry runs and pipeline tests: no network, no model, no waiting.

It plays both roles a run needs. Given a BSA judge prompt it answers as a well-behaved judge (see
:func:`mock_judge_reply`, which the project's HTTP test server can reuse); given anything else it
answers as a model under test (see :func:`mock_sample`). Every text it writes starts with
``[mock]`` or ``[mock judge]`` and every completion's ``raw`` says ``"mock": true``, so its output is
never mistaken for a real model's.

Everything is derived from sha256 digests, so a run is reproducible: the judge's verdict from the
prompt alone, a model sample from the prompt and the sample's number for that prompt. The number
counts the samples this provider has made for that exact last user message (``n`` per request,
across requests), so k samples differ. With concurrent calls the numbers follow the order in which
the calls start (the event loop's order), not the order in which they finish.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from bsa.benchmark import SAFETY_SPEC, Scenario, VerdictSpec
from bsa.providers.base import Provider
from bsa.types import Completion, Message, Request, Usage

#: Verdict weights per judge kind: safety about 85% Safe; thinking about 45% pass (a scenario
#: not listed: its pass label 45%, the other labels sharing the rest alike).
JUDGE_WEIGHTS: dict[Scenario | None, tuple[tuple[str, float], ...]] = {
    None: (("Safe", 0.85), ("Unsafe", 0.15)),
    Scenario.RISK_OMISSION: (("true", 0.45), ("false", 0.55)),
    Scenario.COGNITIVE_SHORTCUT: (
        ("Fully Covered", 0.45),
        ("Partially Covered", 0.35),
        ("Not Covered", 0.20),
    ),
    Scenario.OVER_SENSITIVITY: (
        ("Precise Coverage", 0.45),
        ("Over Sensitive", 0.35),
        ("Not Covered", 0.20),
    ),
}
#: Share of prompts the mock model answers without any reasoning (source "none").
NO_REASONING_SHARE = 0.05


def mock_judge_reply(prompt: str, persona: str = "mock") -> str | None:
    """A judge's JSON reply to ``prompt``, or None when ``prompt`` is no BSA judge prompt.

    The verdict is drawn from a sha256 of the whole prompt with :data:`JUDGE_WEIGHTS`, so the same
    prompt always gets the same verdict; Risk Omission's is a JSON boolean, as its template asks.
    Another ``persona`` (the model of ``mock:NAME``) joins the digest, so differently named mock
    judges disagree as real ones do and a judge panel can be tried without a network.
    """
    kind = _judge_kind(prompt)
    if kind is None:
        return None
    scenario, spec = kind
    digest = _sha256(prompt) if persona == "mock" else _sha256(persona, prompt)
    label = _weighted(_weights(scenario, spec), digest)
    verdict: str | bool = label == "true" if spec.boolean else label
    judged = "the answer" if scenario is None else f"the reasoning ({scenario.code})"
    rationale = (
        f"[mock judge] No model read {judged}: the verdict {label!r} was drawn from the "
        f"prompt's sha256 ({digest.hex()[:12]})."
    )
    reply = {spec.rationale_key: rationale, spec.key: verdict}
    return json.dumps(reply, ensure_ascii=False, indent=2)


def _weights(scenario: Scenario | None, spec: VerdictSpec) -> tuple[tuple[str, float], ...]:
    if scenario in JUDGE_WEIGHTS:
        return JUDGE_WEIGHTS[scenario]
    others = [label for label in spec.labels if label != spec.pass_label]
    return ((spec.pass_label, 0.45), *((label, 0.55 / len(others)) for label in others))


def _judge_kinds() -> tuple[tuple[Scenario | None, VerdictSpec], ...]:
    """The judge kinds in the order they are recognised: every declared scenario's thinking
    template first (v1's, then any other benchmark's), since their keys are more specific than
    the safety template's (None is the safety judge)."""
    return (*((s, s.thinking) for s in Scenario.declared()), (None, SAFETY_SPEC))


def _judge_kind(prompt: str) -> tuple[Scenario | None, VerdictSpec] | None:
    """The judge template ``prompt`` was rendered from, known by the quoted verdict key and every
    label its output format names (both from :mod:`bsa.benchmark`; tests check them against the
    templates of :mod:`bsa.data.assets`). Over Sensitivity and Cognitive Shortcut share their key and
    differ in their labels."""
    for scenario, spec in _judge_kinds():
        if f'"{spec.key}"' in prompt and all(_names(prompt, label) for label in spec.labels):
            return scenario, spec
    return None


def _names(text: str, label: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text) is not None


def _weighted(weights: Sequence[tuple[str, float]], digest: bytes) -> str:
    """The label a uniform draw from ``digest`` falls on, with ``weights`` summing to 1."""
    draw = int.from_bytes(digest[:8], "big") / 2**64
    for label, weight in weights:
        draw -= weight
        if draw < 0:
            return label
    return weights[-1][0]


def _sha256(*parts: str) -> bytes:
    """sha256 of ``parts`` joined by NUL; surrogates pass through, so no text can make it fail."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).digest()


# ---------------------------------------------------------------- the model under test

_OPENINGS = (
    "The user asks about {topic}.",
    "Let me look at this request: {topic}.",
    "This question is about {topic}.",
    "First, what does the user want? They wrote: {topic}.",
)
_RISK_NOTES = (
    "Parts of it risk real harm or break the law, so I must not give operational details.",
    "There is a privacy and safety risk here that I should address before anything else.",
    "It touches on dangerous or illegal activity; helping with that part would be unsafe.",
    "I notice a risk of harm to the user or to others, and that has to shape the reply.",
)
_PLAIN_NOTES = (
    "It reads like an ordinary request for information, so I can simply explain.",
    "I will focus on being clear and helpful.",
    "Nothing here seems to need special care; a direct answer is fine.",
    "The main thing is to give accurate, practical information.",
)
_PLANS = (
    "I will keep the answer short and suggest where to learn more.",
    "I'll answer in a few sentences and stay factual.",
    "A brief, structured reply should be enough.",
)
_REFUSALS = (
    "I can't help with the risky part of this request, because it could cause harm.",
    "I won't provide instructions for that, since it may be dangerous or illegal.",
    "I'm not able to assist with that part of the request.",
)
_HELPFUL = (
    "Here is a general overview of the topic.",
    "In general terms, this works as follows.",
    "Here is what is commonly known about it.",
)
_CLOSINGS = (
    "If you are unsure, please talk to a qualified professional.",
    "Official sources and local regulations are the best place to check the details.",
    "Let me know if you would like safer alternatives or more background.",
)


def mock_sample(prompt: str, index: int) -> tuple[str | None, str]:
    """The mock model's (reasoning, answer) for sample ``index`` of ``prompt``.

    About :data:`NO_REASONING_SHARE` of prompts get no reasoning at all (decided by the prompt
    alone: a model that skips thinking does so for every sample); the rest reason in a way that
    names risks or not, so thinking judges have both kinds to grade.
    """
    digest = _sha256(str(index), prompt)
    answer = _mock_answer(digest, index)
    if _sha256(prompt)[0] < round(NO_REASONING_SHARE * 256):
        return None, answer
    topic = _topic(prompt)
    notes = _RISK_NOTES if digest[1] % 2 == 0 else _PLAIN_NOTES
    reasoning = " ".join(
        (
            "[mock]",
            _pick(_OPENINGS, digest[2]).format(topic=topic),
            _pick(notes, digest[3]),
            _pick(_PLANS, digest[4]),
        )
    )
    return reasoning, answer


def _mock_answer(digest: bytes, index: int) -> str:
    """A few sentences: a refusal about two times in three, else a general reply. The sample
    number is part of the text so that k samples of one prompt always differ."""
    opening = _pick(_REFUSALS, digest[6]) if digest[5] < 170 else _pick(_HELPFUL, digest[6])
    return f"[mock] {opening} {_pick(_CLOSINGS, digest[7])} (mock sample {index + 1})"


def _pick(options: Sequence[str], byte: int) -> str:
    return options[byte % len(options)]


def _topic(prompt: str, words: int = 8) -> str:
    """The first few words of the prompt, quoted, so the reasoning reads as being about it."""
    head = prompt.split()
    text = " ".join(head[:words]) + (" …" if len(head) > words else "")
    return f'"{text}"' if text else "an empty message"


def _tokens(text: str | None) -> int:
    """A rough token count (four characters a token), good enough for usage reports."""
    return (len(text) + 3) // 4 if text else 0


class MockProvider(Provider):
    """A provider that answers at once from sha256 digests (module docstring)."""

    name = "mock"
    supports_n = True

    def __init__(self, model: str = "mock") -> None:
        self.model = model
        self._samples: dict[str, int] = {}

    async def complete(self, request: Request) -> list[Completion]:
        """``request.n`` completions: a judge's reply to a judge prompt, model samples otherwise."""
        prompt = _last_user_message(request.messages)
        prompt_tokens = sum(_tokens(message.content) for message in request.messages)
        judged = mock_judge_reply(prompt, self.model)
        first = 0 if judged is not None else self._reserve(prompt, request.n)
        await asyncio.sleep(0)  # yield once, as a real call would; never wait longer
        if judged is not None:
            digest = _sha256(prompt).hex()[:16]
            return [
                self._completion(None, judged, prompt_tokens, {"role": "judge", "sha256": digest})
                for _ in range(request.n)
            ]
        return [self._model_completion(prompt, first + i, prompt_tokens) for i in range(request.n)]

    def _reserve(self, prompt: str, n: int) -> int:
        """The number of this request's first sample; taken before the first await, so numbers
        follow the order in which concurrent calls start."""
        first = self._samples.get(prompt, 0)
        self._samples[prompt] = first + n
        return first

    def _model_completion(self, prompt: str, index: int, prompt_tokens: int) -> Completion:
        reasoning, answer = mock_sample(prompt, index)
        raw = {"role": "model", "sample": index, "sha256": _sha256(str(index), prompt).hex()[:16]}
        return self._completion(reasoning, answer, prompt_tokens, raw)

    def _completion(
        self, reasoning: str | None, answer: str, prompt_tokens: int, raw: dict[str, Any]
    ) -> Completion:
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=_tokens(answer) + _tokens(reasoning),
            reasoning_tokens=_tokens(reasoning),
        )
        source = "none" if reasoning is None else "reasoning_content"
        raw = {"mock": True, "model": self.model, **raw, "answer": answer, "reasoning": reasoning}
        return Completion(answer, reasoning, source, "stop", False, usage, raw)


def _last_user_message(messages: Sequence[Message]) -> str:
    """What the mock reads: the last user message ("" if there is none)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")
