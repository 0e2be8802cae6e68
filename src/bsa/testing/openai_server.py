"""A local OpenAI-compatible chat completions server for tests and the performance benchmark.

Tests and benchmarks must never reach a real API, yet the code under test has to cope with every
way real providers answer: reasoning in different fields or inside ``<think>`` tags, ``n`` accepted
or rejected, streaming, rate limits, content filters with provider-specific error bodies, hangs and
dropped connections. This server plays all of those roles, deterministically, on 127.0.0.1.

Text. The reasoning and the answer of choice ``i`` are derived from a hash of the last user message
(with its markers removed), ``i`` and the request's *draw*, so the k requests of one prompt get k
different samples, as from a model that samples (:func:`request_draw`). A request with an integer
``seed`` draws from it: the same seed and prompt always get the same text. A request without one
takes the next number of a counter per prompt (its messages): the first answer to a prompt is
draw 1, the next draw 2, and so on. A counter rather than a random draw keeps a test run
repeatable and its texts predictable (:func:`expected_texts`); a request the server faults on
purpose (a marker or the random plan) does not use its number up, so the retry gets the text the
fault held back. A ``respond`` hook in the config replaces that text (e.g. to act as a judge
returning JSON verdicts) and can read the request's draw with :func:`current_draw`.

Markers, written anywhere in the last user message (removed before the text is derived):

* ``[[style:NAME]]`` picks the reasoning style for this request, one of :data:`STYLES`.
* ``[[delay:SECONDS]]`` adds SECONDS before this prompt's answers (slow prompts beside fast ones).
* ``[[fault:KIND]]``, ``[[fault:KIND:COUNT]]``, ``[[fault:KIND:COUNT:retry_after=SECONDS]]``: the
  first COUNT (default 1; ``*`` = every) requests whose messages are exactly these get fault KIND
  (one of :data:`FAULT_KINDS`); later ones succeed. Several fault markers are served in order:
  ``[[fault:429:1]][[fault:500:2]]`` gives 429, 500, 500, then success. The stream faults
  (:data:`STREAM_FAULTS`) send half the answer, then end the stream with an error event or
  without a finish reason; a request that is not streamed gets the same error or a 200 body
  whose choices have ``finish_reason: null``.

Server-wide quirks (``ServerConfig``): ``support_n=False`` refuses ``n`` > 1 (vLLM-like);
``ignore_n=True`` answers it with one choice; ``reject_params`` refuses the named request fields
with OpenAI's 400 or, with ``reject_style="transformers"``, ``transformers serve``'s 422.

A request-rate cap (``ServerConfig.rate_limit``, requests per second, with ``rate_burst``)
answers the requests above it with 429 and a Retry-After saying when the next one is allowed
(:mod:`bsa.testing.rate_cap`), before any latency, as a provider's gateway does.

A seeded random fault plan (``ServerConfig.fault_rates``) draws from a hash of (seed, prompt,
request number of that prompt), so it does not depend on the order concurrent requests arrive in.

Run it in-process (``with OpenAIServer(config) as server: server.base_url``) or as its own
process: ``python -m bsa.testing.openai_server --port 0 ...`` prints the base URL as its first line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiohttp import web

from bsa.testing.rate_cap import RateCap

#: How a reasoning trace is returned; see :func:`render_message`.
STYLES = (
    "reasoning_content",  # message.reasoning_content (DeepSeek, vLLM)
    "reasoning",  # message.reasoning (OpenRouter, Ollama)
    "reasoning_details",  # message.reasoning_details = [{"type": "reasoning.text", ...}]
    "think_tags",  # content = "<think>\nREASONING\n</think>\n\nANSWER"
    "close_only",  # content = "REASONING\n</think>\n\nANSWER" (template opened the tag)
    "unterminated",  # content = "<think>\nREASONING", finish_reason "length", no answer
    "none",  # content = ANSWER, no reasoning at all
    # content = [{"type": "thinking", "thinking": [{"type": "text", ...}]}, {"type": "text", ...}]
    # (Mistral Magistral); streamed as list-shaped thinking deltas, then answer strings
    "content_blocks",
)
REASONING_FIELD_STYLES = ("reasoning_content", "reasoning", "reasoning_details")

#: Faults a marker or the random plan can inject.
FAULT_KINDS = (
    "429",
    "500",
    "503",
    "408",
    "hang",
    "broken_json",
    "content_filter",
    "content_filter_finish",
    "azure_filter",
    "dashscope_filter",
    "deepseek_filter",
    "zhipu_filter",
    "context_length",
    "disconnect",
    # A stream that sends part of the reply, then an error event: OpenRouter's mid-stream error
    # (``finish_reason: "error"``) / DashScope's output moderation (``data_inspection_failed``).
    # Not streamed: the same error as a 502 / 400 reply.
    "stream_error",
    "stream_error_filter",
    # A stream that sends part of the reply and no finish_reason, then ends at EOF / with
    # ``[DONE]`` (llama-cpp-python's server does this to concurrent streams). Not streamed: a 200
    # body with the same part and ``finish_reason: null``.
    "stream_cut",
    "stream_cut_done",
    # OpenAI's insufficient_quota as LiteLLM passes it on: a 429 with code "429".
    "quota_gateway",
    # llama.cpp's context overflow: code 400, type exceed_context_size_error.
    "llamacpp_context",
    # A normal reply whose reasoning and answer hold lone UTF-16 surrogates (valid JSON escapes
    # that UTF-8 cannot carry), streamed or not.
    "surrogate",
    *(f"echo_key_{status}" for status in (200, 400, 429, 500)),
)
#: The faults that change a stream's ending rather than replace the whole reply.
STREAM_FAULTS = ("stream_error", "stream_error_filter", "stream_cut", "stream_cut_done")
STREAM_ERROR_FAULTS = ("stream_error", "stream_error_filter")
#: How a server refuses a request field it does not know: OpenAI's 400 "Unrecognized request
#: argument", or ``transformers serve``'s 422 ``{"detail": "Unexpected fields in the request: ..."}``.
REJECT_STYLES = ("openai", "transformers")
JITTER_DISTRIBUTIONS = ("uniform", "gaussian")

#: Characters per token of the token-count approximation.
CHARS_PER_TOKEN = 4

#: ``respond(request_body, choice_index) -> (reasoning, answer)``, run on the server's event loop.
RespondHook = Callable[[dict[str, Any], int], tuple[str, str]]

_MARKER = re.compile(r"\[\[(style|fault|delay):([^\]]*)\]\]")
#: The filler vocabulary: safety-flavoured words, none of them a tag or a marker.
_VOCABULARY = (
    "the user asks about this request so I should consider whether answering is safe and what "
    "risk it carries first check intent then weigh possible harm against benefit policy says "
    "to refuse clearly dangerous help but assist with benign questions therefore explain "
    "carefully note context avoid details that enable misuse give a helpful response"
)
_WORDS = tuple(_VOCABULARY.split())


_WORD_OF_BYTE = tuple(_WORDS[b % len(_WORDS)] for b in range(256))


class MarkerError(ValueError):
    """A ``[[style:...]]`` or ``[[fault:...]]`` marker that cannot be understood."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything that shapes the server's behaviour; frozen so a running server cannot drift.

    ``latency`` is the mean delay in seconds before each chat answer and ``jitter`` the half-width
    (uniform) or standard deviation (gaussian) around it, clipped at 0. ``fault_rates`` maps fault
    kinds to probabilities (sum at most 1). ``models`` empty accepts every model name.
    ``max_requests``/``max_seconds`` (0 = no limit) stop the server by itself.
    """

    host: str = "127.0.0.1"
    port: int = 0
    style: str = "reasoning_content"
    reasoning_chars: int = 400
    answer_chars: int = 120
    latency: float = 0.0
    jitter: float = 0.0
    jitter_distribution: str = "uniform"
    seed: int = 0
    support_n: bool = True
    honor_max_tokens: bool = True
    api_key: str | None = None
    models: tuple[str, ...] = ()
    fault_rates: Mapping[str, float] = field(default_factory=dict)
    retry_after: float = 1.0
    stream_chunk_chars: int = 64
    stream_delay: float = 0.0
    log_size: int = 1000
    respond: RespondHook | None = None
    max_requests: int = 0
    max_seconds: float = 0.0
    #: Request fields answered with OpenAI's 400 for an unknown argument (as OpenAI itself does
    #: for ``top_k``), to test that a client drops an optional parameter and carries on.
    reject_params: tuple[str, ...] = ()
    #: The wording of that refusal, one of :data:`REJECT_STYLES`.
    reject_style: str = "openai"
    #: Answer ``n`` > 1 with a single choice, as servers that ignore ``n`` do.
    ignore_n: bool = False
    #: Requests per second above which requests are answered 429 (0 = no cap), and how many
    #: may come at once (0 = one second's worth).
    rate_limit: float = 0.0
    rate_burst: float = 0.0

    def __post_init__(self) -> None:
        """Reject bad settings at construction, not at the first request."""
        if self.style not in STYLES:
            raise ValueError(f"style {self.style!r} is not one of {', '.join(STYLES)}")
        if self.reject_style not in REJECT_STYLES:
            raise ValueError(f"reject_style must be one of {REJECT_STYLES}")
        if self.jitter_distribution not in JITTER_DISTRIBUTIONS:
            raise ValueError(f"jitter_distribution must be one of {JITTER_DISTRIBUTIONS}")
        for name in (
            "reasoning_chars", "answer_chars", "log_size", "max_requests", "rate_limit",
            "rate_burst",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.stream_chunk_chars < 1:
            raise ValueError("stream_chunk_chars must be >= 1")
        unknown = set(self.fault_rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds in fault_rates: {sorted(unknown)}")
        if any(p < 0 for p in self.fault_rates.values()) or sum(self.fault_rates.values()) > 1:
            raise ValueError("fault_rates must be >= 0 and sum to at most 1")
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "fault_rates", MappingProxyType(dict(self.fault_rates)))


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: its kind, for how many requests (None = all), its Retry-After."""

    kind: str
    count: int | None = 1
    retry_after: float | None = None


@dataclass(frozen=True)
class Markers:
    """What the markers of a prompt ask for, and the prompt text without them."""

    text: str
    style: str | None
    faults: tuple[FaultSpec, ...]
    delay: float = 0.0


@dataclass(frozen=True)
class ServerStats:
    """A consistent snapshot of the server's accounting.

    ``by_prompt`` counts chat requests per :func:`prompt_key`; ``outcomes`` counts how requests
    ended ("completed", "content_filter_finish", "fault:KIND", "error:STATUS", "cancelled" when the
    client went away first). ``cpu_seconds`` is the whole process's CPU time.
    """

    total: int
    completed: int
    failed: int
    in_flight: int
    max_in_flight: int
    by_prompt: dict[str, int]
    outcomes: dict[str, int]
    cpu_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON form served at ``GET /_stats``."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- prompts, markers, texts


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def last_user_text(messages: Sequence[Any]) -> str:
    """The last user message's text: what the markers and the generated text depend on."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def prompt_key(messages: str | Sequence[Any]) -> str:
    """The accounting key of a request's messages; a str stands for one user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def parse_markers(prompt: str) -> Markers:
    """Read the style and fault markers of a prompt (cached: benchmarks repeat prompts)."""
    style: str | None = None
    faults: list[FaultSpec] = []
    delay = 0.0
    for match in _MARKER.finditer(prompt):
        if match[1] == "style":
            if match[2] not in STYLES:
                raise MarkerError(f"unknown style {match[2]!r}; styles: {', '.join(STYLES)}")
            style = match[2]
        elif match[1] == "delay":
            delay = _marker_seconds(match[2])
        else:
            faults.append(parse_fault(match[2]))
    return Markers(_MARKER.sub("", prompt).strip(), style, tuple(faults), delay)


def _marker_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 3600:
        raise MarkerError(f"bad delay {text!r}: seconds between 0 and 3600")
    return seconds


def parse_fault(spec: str) -> FaultSpec:
    """Parse ``KIND[:COUNT[:retry_after=SECONDS]]``, the inside of a ``[[fault:...]]`` marker."""
    kind, *rest = spec.split(":")
    if kind not in FAULT_KINDS:
        raise MarkerError(f"unknown fault {kind!r}; faults: {', '.join(FAULT_KINDS)}")
    count: int | None = 1
    retry_after: float | None = None
    try:
        if rest:
            count = None if rest[0] == "*" else int(rest[0])
        for option in rest[1:]:
            name, _, value = option.partition("=")
            if name != "retry_after":
                raise MarkerError(f"unknown fault option {name!r} in {spec!r}")
            retry_after = float(value)
    except ValueError as exc:
        raise MarkerError(f"bad fault marker {spec!r}: {exc}") from exc
    return FaultSpec(kind, count, retry_after)


def scheduled_fault(faults: Sequence[FaultSpec], number: int) -> FaultSpec | None:
    """The marker fault for the ``number``-th (1-based) request of a prompt, served in order."""
    remaining = number
    for fault in faults:
        if fault.count is None or remaining <= fault.count:
            return fault
        remaining -= fault.count
    return None


def planned_fault(rates: Mapping[str, float], seed: int, key: str, number: int) -> str | None:
    """The random plan's fault for a request, drawn from a hash so arrival order does not matter."""
    if not rates:
        return None
    digest = hashlib.sha256(f"{seed}:{key}:{number}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    for kind in sorted(rates):
        draw -= rates[kind]
        if draw < 0:
            return kind
    return None


def approx_tokens(text: str) -> int:
    """A deterministic token count: one token per started group of four characters."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def request_draw(seed: int | None, answer: int = 1) -> str:
    """The draw a request's text comes from: its ``seed`` when it sends one, else the number of
    the answer to its prompt. The first unseeded answer is the empty draw, which gives the text
    this server gave every request before draws existed."""
    if seed is not None:
        return f"seed {seed}"
    return "" if answer == 1 else f"answer {answer}"


def seed_of(body: Mapping[str, Any]) -> int | None:
    """The request's integer ``seed``, or None (absent, or not an integer)."""
    seed = body.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


_CURRENT_DRAW: contextvars.ContextVar[str] = contextvars.ContextVar("current_draw", default="")


def current_draw() -> str:
    """The draw of the request being answered, for a ``respond`` hook that should vary by sample
    as the generated text does ("" outside a request, and for a prompt's first unseeded answer)."""
    return _CURRENT_DRAW.get()


@functools.lru_cache(maxsize=8192)
def generate_texts(
    prompt: str, index: int, reasoning_chars: int, answer_chars: int, draw: str = ""
) -> tuple[str, str]:
    """Reasoning and answer for a marker-free prompt, choice index and draw, of exactly the
    given sizes.

    Cached because the benchmark asks each prompt many times and a 3,800-character text would
    otherwise dominate the server's CPU time per request.
    """
    key = f"{index}\0{prompt}" if not draw else f"{draw}\0{index}\0{prompt}"
    digest = hashlib.sha256(key.encode()).digest()
    rng = random.Random(digest)
    tag = f"{digest[:4].hex()}#{index}"
    return _filler(f"Reasoning {tag}: ", rng, reasoning_chars), _filler(
        f"Answer {tag}: ", rng, answer_chars
    )


def _filler(head: str, rng: random.Random, size: int) -> str:
    """``head`` followed by seeded words, cut to exactly ``size`` characters.

    One random byte picks each word (``randbytes`` runs in C): a word-by-word ``rng.choice`` made
    text generation the biggest CPU cost of a benchmark whose prompts are mostly new.
    """
    text = head.rstrip()
    while len(text) < size:
        needed = (size - len(text)) // 3 + 1  # most words take 3+ characters; the loop tops up
        text += " " + " ".join([_WORD_OF_BYTE[b] for b in rng.randbytes(needed)])
    return text[:size]


def expected_texts(
    prompt: str,
    index: int = 0,
    config: ServerConfig | None = None,
    *,
    seed: int | None = None,
    answer: int = 1,
) -> tuple[str, str]:
    """The (reasoning, answer) the server generates for this last user message and choice index,
    in a request that sends ``seed``, or else as the ``answer``-th answer to its prompt.

    Does not apply ``max_tokens`` truncation, the ``respond`` hook or the style's formatting.
    """
    config = config or ServerConfig()
    text = parse_markers(prompt).text
    draw = request_draw(seed, answer)
    return generate_texts(text, index, config.reasoning_chars, config.answer_chars, draw)


# ---------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Choice:
    """One generated choice before it is put in the wire format of its style.

    ``cut`` means the reasoning itself was cut off, so no closing ``</think>`` tag follows it.
    """

    index: int
    style: str
    reasoning: str
    answer: str
    finish_reason: str | None
    cut: bool = False


def make_choice(
    index: int, style: str, reasoning: str, answer: str, max_tokens: int | None
) -> Choice:
    """Apply the style's own truncation and the ``max_tokens`` budget to a generated text."""
    if style == "none":
        reasoning = ""
    if style == "unterminated":
        return Choice(index, style, reasoning, "", "length", cut=True)
    if max_tokens is None:
        return Choice(index, style, reasoning, answer, "stop")
    budget = max_tokens * CHARS_PER_TOKEN
    if len(reasoning) > budget:
        return Choice(index, style, reasoning[:budget], "", "length", cut=True)
    if len(reasoning) + len(answer) > budget:
        return Choice(index, style, reasoning, answer[: budget - len(reasoning)], "length")
    return Choice(index, style, reasoning, answer, "stop")


def cut_short(choice: Choice) -> Choice:
    """What a reply that broke off half-way through its answer has delivered: no finish reason."""
    return dataclasses.replace(
        choice, answer=choice.answer[: len(choice.answer) // 2], finish_reason=None
    )


def with_lone_surrogates(choice: Choice) -> Choice:
    """A reply carrying a lone high and a lone low surrogate in both its texts."""
    return dataclasses.replace(
        choice,
        reasoning=f"{choice.reasoning}\ud800",
        answer=f"\udfff{choice.answer}",
    )


def replaces_reply(kind: str, streamed: bool) -> bool:
    """Whether a fault takes the place of the reply (an error, a hang, a drop) rather than
    change how an otherwise normal reply ends."""
    if kind in ("content_filter_finish", "surrogate"):
        return False
    if kind in STREAM_FAULTS:
        return not streamed and kind in STREAM_ERROR_FAULTS
    return True


def render_content(choice: Choice) -> str:
    """The ``content`` string of a choice: the answer, with the reasoning in tags for tag styles."""
    reasoning, answer = choice.reasoning, choice.answer
    if choice.style in ("think_tags", "unterminated"):
        return (
            f"<think>\n{reasoning}" if choice.cut else f"<think>\n{reasoning}\n</think>\n\n{answer}"
        )
    if choice.style == "close_only":
        return reasoning if choice.cut else f"{reasoning}\n</think>\n\n{answer}"
    return answer


def reasoning_fields(style: str, reasoning: str) -> dict[str, Any]:
    """The message (or delta) fields that carry the reasoning in the field styles."""
    if style == "reasoning_content":
        return {"reasoning_content": reasoning}
    if style == "reasoning":
        return {"reasoning": reasoning}
    if style == "reasoning_details":
        detail = {"type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0}
        return {"reasoning_details": [detail]}
    return {}


def thinking_block(reasoning: str) -> dict[str, Any]:
    """A Magistral thinking block: its text is itself a list of text chunks."""
    return {"type": "thinking", "thinking": [{"type": "text", "text": reasoning}]}


def content_blocks(choice: Choice) -> list[dict[str, Any]]:
    """The list-shaped ``content`` of the ``content_blocks`` style: thinking, then the answer."""
    blocks = [thinking_block(choice.reasoning)] if choice.reasoning else []
    if not choice.cut:
        blocks.append({"type": "text", "text": choice.answer})
    return blocks


def render_message(choice: Choice) -> dict[str, Any]:
    """The ``choices[i].message`` object of a non-streamed completion."""
    content = content_blocks(choice) if choice.style == "content_blocks" else render_content(choice)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    message.update(reasoning_fields(choice.style, choice.reasoning))
    message["refusal"] = None
    return message


def _pieces(text: str, size: int) -> Iterator[str]:
    """``text`` in slices of ``size`` characters, as a stream would deliver it."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


def render_deltas(choice: Choice, chunk_chars: int) -> Iterator[dict[str, Any]]:
    """The ``delta`` objects of a streamed choice: role, reasoning pieces, content pieces."""
    yield {"role": "assistant", "content": ""}
    if choice.style in REASONING_FIELD_STYLES:
        for piece in _pieces(choice.reasoning, chunk_chars):
            yield reasoning_fields(choice.style, piece)
    if choice.style == "content_blocks":
        for piece in _pieces(choice.reasoning, chunk_chars):
            yield {"content": [thinking_block(piece)]}
    for piece in _pieces(render_content(choice), chunk_chars):
        yield {"content": piece}


def usage_of(messages: Sequence[Any], choices: Sequence[Choice]) -> dict[str, Any]:
    """The ``usage`` object: approximate, but the same for the same request every time. Every
    message before the last counts as read from a prefix cache (``cached_tokens``), as a shared
    system prompt is at a provider that caches prefixes."""
    counts = [approx_tokens(text_of(m.get("content"))) for m in messages if isinstance(m, dict)]
    prompt = sum(counts)
    reasoning = sum(approx_tokens(c.reasoning) for c in choices)
    completion = reasoning + sum(approx_tokens(c.answer) for c in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": sum(counts[:-1])},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


_encode_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_ascii = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _encode(payload: Any) -> str:
    """JSON as servers send it: UTF-8 text, except that text UTF-8 cannot carry (a lone
    surrogate from a respond hook) goes out as ``\\uXXXX`` escapes, still valid JSON."""
    text = _encode_text(payload)
    try:
        text.encode()
    except UnicodeEncodeError:
        return _encode_ascii(payload)
    return text


def _json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response built with the stdlib encoder (cheap enough not to be the bottleneck)."""
    return web.Response(
        status=status,
        body=_encode(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error_body(
    message: str, type_: str | None, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error(
    status: int, message: str, type_: str | None, code: str | None, param: str | None = None
) -> web.Response:
    """An OpenAI-style error response."""
    return _json_response(status, _error_body(message, type_, code, param))


_AZURE_FILTER_RESULT = {
    "hate": {"filtered": False, "severity": "safe"},
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": True, "severity": "medium"},
}


def fault_error(kind: str, request_id: str) -> tuple[int, dict[str, Any]]:
    """Status and body of an error fault, copied from what each provider really sends."""
    if kind == "429":
        return 429, _error_body(
            "Rate limit reached for requests. Please try again later.",
            "requests",
            "rate_limit_exceeded",
        )
    if kind == "500":
        return 500, _error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )
    if kind == "503":
        return 503, _error_body(
            "The engine is currently overloaded, please try again later.", "server_error", None
        )
    if kind == "408":
        return 408, _error_body("Request timed out.", "timeout", None)
    if kind == "content_filter":
        return 400, _error_body(
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_filter",
            "prompt",
        )
    if kind == "azure_filter":
        body = _error_body(
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            None,
            "content_filter",
            "prompt",
        )
        body["error"]["status"] = 400
        body["error"]["innererror"] = {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": _AZURE_FILTER_RESULT,
        }
        return 400, body
    if kind == "dashscope_filter":
        body = _error_body(
            "Input data may contain inappropriate content.",
            "data_inspection_failed",
            "data_inspection_failed",
        )
        return 400, {**body, "id": request_id, "request_id": request_id}
    if kind == "deepseek_filter":
        return 400, _error_body(
            "Content Exists Risk", "invalid_request_error", "invalid_request_error"
        )
    if kind == "zhipu_filter":
        message = "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。"  # noqa: RUF001 (verbatim)
        return 400, {"error": {"code": "1301", "message": message}}
    if kind == "context_length":
        message = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages."
        return 400, _error_body(
            message, "invalid_request_error", "context_length_exceeded", "messages"
        )
    if kind == "llamacpp_context":
        error = {
            "code": 400,
            "message": "request (456 tokens) exceeds the available context size (512 tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": 456,
            "n_ctx": 512,
        }
        return 400, {"error": error}
    if kind == "quota_gateway":
        message = "litellm.RateLimitError: RateLimitError: OpenAIException - You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
        return 429, _error_body(message, None, "429")
    if kind in STREAM_ERROR_FAULTS:
        return stream_error_status(kind), stream_error_body(kind, request_id)
    raise ValueError(f"{kind!r} is not an error fault")


def stream_error_status(kind: str) -> int:
    """The status of a stream fault's error when the request was not streamed."""
    return 400 if kind == "stream_error_filter" else 502


def stream_error_body(kind: str, request_id: str) -> dict[str, Any]:
    """The error of a stream fault: what a mid-stream ``data:`` event (or a plain reply) holds."""
    if kind == "stream_error_filter":  # DashScope's output moderation
        body = _error_body(
            "Output data may contain inappropriate content.",
            "data_inspection_failed",
            "data_inspection_failed",
        )
        return {**body, "id": request_id, "request_id": request_id}
    # OpenRouter: the HTTP status was already 200, so the error's code carries the real one.
    return {"error": {"code": 502, "message": "Provider disconnected unexpectedly"}}


def _seconds(value: float) -> str:
    """A Retry-After value: an integer when whole, as most providers send it."""
    return str(int(value)) if value == int(value) else str(value)


# ---------------------------------------------------------------- accounting


@dataclass
class Flight:
    """One chat request while the server handles it; its outcome is settled exactly once."""

    key: str
    number: int
    outcome: str = "cancelled"
    ok: bool = False
    closed: bool = False
    #: What its text is drawn from (:func:`request_draw`).
    draw: str = ""


class Ledger:
    """Thread-safe counters: the event loop thread writes, test threads read snapshots."""

    def __init__(self, log_size: int) -> None:
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Forget counts and the log; requests in flight stay counted as in flight."""
        with self._lock:
            self._total = self._completed = self._failed = 0
            self._max_in_flight = self._in_flight
            self._by_prompt: Counter[str] = Counter()
            self._answers: Counter[str] = Counter()
            self._outcomes: Counter[str] = Counter()
            self._log.clear()

    def begin(self, key: str, body: dict[str, Any] | None) -> Flight:
        """Count a request on arrival; its number per prompt drives the marker faults."""
        with self._lock:
            self._total += 1
            self._by_prompt[key] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if body is not None and self._log.maxlen:
                self._log.append(body)
            return Flight(key, self._by_prompt[key])

    def next_answer(self, key: str, *, use: bool) -> int:
        """The number of the next answer to the prompt ``key``, used up only when ``use``."""
        with self._lock:
            number = self._answers[key] + 1
            if use:
                self._answers[key] = number
            return number

    def finish(self, flight: Flight) -> None:
        """Settle a request's outcome, once, however many code paths call this."""
        with self._lock:
            if flight.closed:
                return
            flight.closed = True
            self._in_flight -= 1
            self._outcomes[flight.outcome] += 1
            if flight.ok:
                self._completed += 1
            else:
                self._failed += 1

    @property
    def settled(self) -> int:
        """Requests that have ended, however they ended."""
        return self._completed + self._failed

    def snapshot(self) -> ServerStats:
        """All counters, read under the lock so they agree with each other."""
        with self._lock:
            return ServerStats(
                total=self._total,
                completed=self._completed,
                failed=self._failed,
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
                by_prompt=dict(self._by_prompt),
                outcomes=dict(self._outcomes),
                cpu_seconds=time.process_time(),
            )

    def log(self) -> list[dict[str, Any]]:
        """The most recent request bodies, oldest first."""
        with self._lock:
            return list(self._log)


# ---------------------------------------------------------------- the server


class OpenAIServer:
    """The server: an aiohttp app plus in-thread or in-process running and the accounting.

    ``with OpenAIServer(config) as server:`` serves on its own event loop in a daemon thread;
    :meth:`serve` is the coroutine the command-line mode runs on the main thread.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.ledger = Ledger(self.config.log_size)
        self._rng = random.Random(self.config.seed)
        self._stop_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._port: int | None = None
        limit = self.config.rate_limit
        self._rate_cap = RateCap(limit, self.config.rate_burst) if limit else None

    # -- addresses and accounting

    @property
    def port(self) -> int:
        """The bound port (the OS picks one when the config says 0)."""
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. for ``GET /_stats``."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self.ledger.snapshot()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The logged chat request bodies (at most ``config.log_size``), oldest first."""
        return self.ledger.log()

    def requests_for(self, messages: str | Sequence[Any]) -> int:
        """How many chat requests carried these messages (a str is one user message)."""
        return self.stats.by_prompt.get(prompt_key(messages), 0)

    def reset(self) -> None:
        """Zero the counters, the log and the per-prompt fault schedule."""
        self.ledger.reset()

    # -- running

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> OpenAIServer:
        """Serve on a background thread; return once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("an OpenAIServer can be started only once")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_thread, args=(ready,), name="openai-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the OpenAI test server did not start within 30 s")
        if self._error is not None:
            raise RuntimeError("the OpenAI test server failed to start") from self._error
        return self

    def _run_thread(self, ready: threading.Event) -> None:
        """Thread body: run :meth:`serve` on a fresh event loop, reporting startup failures."""
        try:
            asyncio.run(self.serve(on_ready=lambda _server: ready.set()))
        except BaseException as exc:  # handed to start(), which raises it in the caller's thread
            self._error = exc
        finally:
            ready.set()

    def stop(self) -> None:
        """Ask the server to stop (from any thread) and wait for the background thread."""
        loop = self._loop
        if loop is not None:
            # RuntimeError: the loop has already closed, nothing is left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    async def serve(self, on_ready: Callable[[OpenAIServer], None] | None = None) -> None:
        """Serve until :meth:`stop`, a signal handler or a safety limit ends it."""
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(
            self.make_app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port, backlog=4096)
            await site.start()
            self._port = int(runner.addresses[0][1])
            if on_ready is not None:
                on_ready(self)
            await self._wait_for_stop()
        finally:
            self._stop_event.set()  # releases requests stuck in the "hang" fault
            await runner.cleanup()

    async def _wait_for_stop(self) -> None:
        """Wait for the stop event, or for ``max_seconds`` when that limit is set."""
        if self.config.max_seconds <= 0:
            await self._stop_event.wait()
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), self.config.max_seconds)

    def make_app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_reset", self._reset)
        return app

    # -- small routes

    async def _models(self, request: web.Request) -> web.Response:
        """``GET /v1/models``: the known model names."""
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "bsa-testing"}
            for m in self.config.models
        ]
        return _json_response(200, {"object": "list", "data": data})

    async def _stats(self, request: web.Request) -> web.Response:
        """``GET /_stats`` (``?log=1`` adds the request log): accounting for other processes."""
        payload = self.stats.as_dict()
        if request.query.get("log") in ("1", "true"):
            payload["requests"] = self.requests
        return _json_response(200, payload)

    async def _reset(self, request: web.Request) -> web.Response:
        """``POST /_reset``: :meth:`reset` for other processes."""
        self.reset()
        return _json_response(200, {"reset": True})

    # -- chat completions

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``: count the request, answer it, settle its outcome."""
        body = await _read_body(request)
        messages = body.get("messages") if body is not None else None
        key = prompt_key(messages) if isinstance(messages, list) else "invalid"
        flight = self.ledger.begin(key, body)
        try:
            return await self._answer(request, body, flight)
        finally:
            self.ledger.finish(flight)
            limit = self.config.max_requests
            if limit and self.ledger.settled >= limit:
                self._stop_event.set()

    async def _answer(
        self, request: web.Request, body: dict[str, Any] | None, flight: Flight
    ) -> web.StreamResponse:
        """Validate, wait the latency, then inject a fault or answer."""
        rejection = self._check_auth(request)
        if rejection is None:  # no `or`: aiohttp responses are mappings, their truth is murky
            rejection = self._validate(body)
        if rejection is not None:
            flight.outcome = f"error:{rejection.status}"
            return rejection
        assert body is not None  # _validate rejected every other case
        capped = self._over_rate_cap(flight)
        if capped is not None:
            return capped
        try:
            markers = parse_markers(last_user_text(body["messages"]))
        except MarkerError as exc:
            flight.outcome = "error:400"
            return _error(400, str(exc), "invalid_request_error", "invalid_marker")
        await self._delay()
        if markers.delay:
            await asyncio.sleep(markers.delay)
        fault = self._fault_for(markers, flight)
        kind = fault.kind if fault is not None else None
        flight.draw = self._draw(body, flight.key, faulted=fault is not None)
        streamed = bool(body.get("stream"))
        if fault is not None and replaces_reply(fault.kind, streamed):
            flight.outcome = f"fault:{fault.kind}"
            return await self._fault_response(request, body, markers, fault, flight)
        try:
            filtered = kind == "content_filter_finish"
            choices = self._choices(body, markers, flight.draw, filtered=filtered)
        except Exception as exc:  # a broken respond hook must show up in the test, not hang it
            flight.outcome = "error:500"
            return _error(500, f"respond hook failed: {exc!r}", "server_error", None)
        ending = kind if kind in STREAM_FAULTS else None
        if ending is not None:
            choices = [cut_short(choice) for choice in choices]
        if kind == "surrogate":
            choices = [with_lone_surrogates(choice) for choice in choices]
        outcome = {None: "completed", "content_filter_finish": "content_filter_finish"}.get(
            kind, f"fault:{kind}"
        )
        if streamed:
            return await self._stream(request, body, choices, flight, outcome, ending)
        flight.outcome, flight.ok = outcome, ending is None
        return _json_response(200, self._completion(body, choices, flight))

    def _over_rate_cap(self, flight: Flight) -> web.Response | None:
        """OpenAI's 429 with the seconds to the next free request, above the rate cap."""
        wait = self._rate_cap.take() if self._rate_cap is not None else None
        if wait is None:
            return None
        flight.outcome = "rate_capped"
        message = f"Rate limit reached: {self.config.rate_limit:g} requests per second."
        response = _error(429, message, "requests", "rate_limit_exceeded")
        response.headers["Retry-After"] = _seconds(wait)
        return response

    def _check_auth(self, request: web.Request) -> web.Response | None:
        """401 with OpenAI's ``invalid_api_key`` body when a key is required and not given."""
        expected = self.config.api_key
        if expected is None:
            return None
        given = request.headers.get("Authorization", "")
        if given == f"Bearer {expected}":
            return None
        shown = given.removeprefix("Bearer ")[:4] + "***"
        message = f"Incorrect API key provided: {shown}."
        return _error(401, message, "invalid_request_error", "invalid_api_key")

    def _validate(self, body: dict[str, Any] | None) -> web.Response | None:
        """The 400/404 answers a provider gives to a malformed or unsupported request."""
        if body is None:
            return _error(
                400,
                "We could not parse the JSON body of your request.",
                "invalid_request_error",
                None,
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter", "invalid_request_error", None)
        rejected = [name for name in self.config.reject_params if name in body]
        if rejected:
            return self._unknown_fields(rejected)
        if self.config.models and model not in self.config.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return _error(404, message, "invalid_request_error", "model_not_found")
        messages = body.get("messages")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) for m in messages)
        ):
            return _error(
                400,
                "'messages' must be a non-empty array of objects",
                "invalid_request_error",
                None,
                "messages",
            )
        return self._validate_numbers(body)

    def _unknown_fields(self, names: list[str]) -> web.Response:
        """The refusal of request fields the server does not know, in ``reject_style``."""
        if self.config.reject_style == "transformers":
            listed = ", ".join(repr(name) for name in names)
            return _json_response(
                422, {"detail": f"Unexpected fields in the request: {{{listed}}}"}
            )
        message = f"Unrecognized request argument supplied: {names[0]}"
        return _error(400, message, "invalid_request_error", None, names[0])

    def _validate_numbers(self, body: dict[str, Any]) -> web.Response | None:
        """``n`` and the token limits; ``n`` > 1 is refused when the server plays vLLM-like."""
        n = body.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
            return _error(
                400,
                "n must be an integer between 1 and 128",
                "invalid_request_error",
                "invalid_value",
                "n",
            )
        if (n or 1) > 1 and not self.config.support_n:
            return _error(
                400,
                "n > 1 is not supported by this server",
                "invalid_request_error",
                "unsupported_value",
                "n",
            )
        for name in ("max_tokens", "max_completion_tokens"):
            value = body.get(name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                return _error(
                    400,
                    f"{name} must be a positive integer",
                    "invalid_request_error",
                    "invalid_value",
                    name,
                )
        return None

    async def _delay(self) -> None:
        """Sleep the configured latency; no await at all when there is none."""
        config = self.config
        if config.latency <= 0 and config.jitter <= 0:
            return
        if config.jitter_distribution == "gaussian":
            delay = self._rng.gauss(config.latency, config.jitter)
        else:
            delay = config.latency + self._rng.uniform(-config.jitter, config.jitter)
        if delay > 0:
            await asyncio.sleep(delay)

    def _fault_for(self, markers: Markers, flight: Flight) -> FaultSpec | None:
        """The marker fault for this request, else the random plan's, else None."""
        fault = scheduled_fault(markers.faults, flight.number)
        if fault is not None:
            return fault
        kind = planned_fault(self.config.fault_rates, self.config.seed, flight.key, flight.number)
        return FaultSpec(kind, None) if kind is not None else None

    def _draw(self, body: dict[str, Any], key: str, *, faulted: bool) -> str:
        """The request's draw: from its seed, else the next answer number of its prompt (kept
        for the retry when the server faults this request on purpose)."""
        seed = seed_of(body)
        if seed is not None:
            return request_draw(seed)
        return request_draw(None, self.ledger.next_answer(key, use=not faulted))

    def _choices(
        self, body: dict[str, Any], markers: Markers, draw: str, filtered: bool
    ) -> list[Choice]:
        """Generate (or ask the hook for) every choice of a request and shape it to its style."""
        n = 1 if self.config.ignore_n else body.get("n") or 1
        if filtered:
            return [Choice(i, "none", "", "", "content_filter") for i in range(n)]
        style = markers.style or self.config.style
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        max_tokens = limit if self.config.honor_max_tokens else None
        choices = []
        for i in range(n):
            if self.config.respond is not None:
                reasoning, answer = self._respond(body, i, draw)
            else:
                sizes = (self.config.reasoning_chars, self.config.answer_chars)
                reasoning, answer = generate_texts(markers.text, i, *sizes, draw)
            choices.append(make_choice(i, style, reasoning, answer, max_tokens))
        return choices

    def _respond(self, body: dict[str, Any], index: int, draw: str) -> tuple[str, str]:
        """The ``respond`` hook's texts, with :func:`current_draw` telling it the draw."""
        assert self.config.respond is not None
        token = _CURRENT_DRAW.set(draw)
        try:
            return self.config.respond(body, index)
        finally:
            _CURRENT_DRAW.reset(token)

    def _envelope(self, body: dict[str, Any], flight: Flight, kind: str) -> dict[str, Any]:
        """The fields every completion or chunk object starts with."""
        return {
            "id": f"chatcmpl-{flight.key}-{flight.number}",
            "object": kind,
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_bsa_testing",
        }

    def _completion(
        self, body: dict[str, Any], choices: list[Choice], flight: Flight
    ) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        payload = self._envelope(body, flight, "chat.completion")
        payload["choices"] = [
            {
                "index": c.index,
                "message": render_message(c),
                "logprobs": None,
                "finish_reason": c.finish_reason,
            }
            for c in choices
        ]
        payload["usage"] = usage_of(body["messages"], choices)
        return payload

    async def _fault_response(
        self,
        request: web.Request,
        body: dict[str, Any],
        markers: Markers,
        fault: FaultSpec,
        flight: Flight,
    ) -> web.StreamResponse:
        """Carry out a fault: an error body, a hang, a dropped connection or broken JSON."""
        if fault.kind == "hang":
            await self._stop_event.wait()  # the client's disconnect cancels this handler first
            _drop_connection(request)
            return web.Response(status=503)
        if fault.kind == "disconnect":
            _drop_connection(request)
            return web.Response(status=503)
        if fault.kind == "broken_json":
            whole = _encode(
                self._completion(body, self._choices(body, markers, flight.draw, False), flight)
            ).encode()
            return web.Response(
                status=200, body=whole[: len(whole) // 2], content_type="application/json"
            )
        if fault.kind.startswith("echo_key_"):
            status = int(fault.kind.rsplit("_")[-1])
            return await self._echo_key(request, body, markers, flight, status)
        status, payload = fault_error(fault.kind, f"chatcmpl-{flight.key}-{flight.number}")
        headers = None
        if fault.kind == "429":
            retry_after = (
                fault.retry_after if fault.retry_after is not None else self.config.retry_after
            )
            headers = {"Retry-After": _seconds(retry_after)}
        return _json_response(status, payload, headers)

    async def _echo_key(
        self,
        request: web.Request,
        body: dict[str, Any],
        markers: Markers,
        flight: Flight,
        status: int,
    ) -> web.StreamResponse:
        """A provider that repeats the caller's Authorization header, key and all: in an error
        message (``echo_key_400``/``429``/``500``) or in the reasoning and answer (``echo_key_200``),
        so tests can check that no key reaches what bsa writes or prints."""
        sent = request.headers.get("Authorization", "")
        if status != 200:
            headers = {"Retry-After": _seconds(self.config.retry_after)} if status == 429 else None
            message = (
                f"Request failed for Authorization: {sent} (key {sent.removeprefix('Bearer ')})"
            )
            payload = _error_body(message, "invalid_request_error", "echo")
            return _json_response(status, payload, headers)
        choices = [
            dataclasses.replace(c, reasoning=f"{c.reasoning} [{sent}]", answer=f"You sent {sent}")
            for c in self._choices(body, markers, flight.draw, filtered=False)
        ]
        if body.get("stream"):
            return await self._stream(request, body, choices, flight, "fault:echo_key_200")
        flight.ok = True
        return _json_response(200, self._completion(body, choices, flight))

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        choices: list[Choice],
        flight: Flight,
        outcome: str,
        ending: str | None = None,
    ) -> web.StreamResponse:
        """Send the completion as Server-Sent Events, ending with ``data: [DONE]``; a stream
        fault (``ending``) breaks it off instead, with an error event, at EOF or with [DONE]."""
        events = list(self._stream_events(body, choices, flight, ending))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            await self._send_events(response, events)
            # Settled before the last write, so a client that has read [DONE] sees it counted.
            flight.outcome, flight.ok = outcome, ending is None
            self.ledger.finish(flight)
            if ending in (None, "stream_cut_done"):
                await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:  # the client left mid-stream: "cancelled", not a server error
            pass
        return response

    async def _send_events(self, response: web.StreamResponse, events: list[bytes]) -> None:
        """Write the events at once, or one by one ``stream_delay`` apart."""
        if self.config.stream_delay <= 0:
            await response.write(b"".join(events))
            return
        for event in events:
            await response.write(event)
            await asyncio.sleep(self.config.stream_delay)

    def _stream_events(
        self, body: dict[str, Any], choices: list[Choice], flight: Flight, ending: str | None
    ) -> Iterator[bytes]:
        """The ``data:`` lines of a stream: deltas, finish chunks, then the usage chunk; a
        choice without a finish reason gets no finish chunk, and a stream fault no usage."""
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        envelope = self._envelope(body, flight, "chat.completion.chunk")
        if include_usage:
            envelope["usage"] = None

        def event(choice_list: list[dict[str, Any]], **extra: Any) -> bytes:
            return (
                b"data: "
                + _encode({**envelope, "choices": choice_list, **extra}).encode()
                + b"\n\n"
            )

        for choice in choices:
            for delta in render_deltas(choice, self.config.stream_chunk_chars):
                yield event(
                    [
                        {
                            "index": choice.index,
                            "delta": delta,
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            if choice.finish_reason is not None:
                yield event(
                    [
                        {
                            "index": choice.index,
                            "delta": {},
                            "logprobs": None,
                            "finish_reason": choice.finish_reason,
                        }
                    ]
                )
        if ending in STREAM_ERROR_FAULTS:
            yield _error_event(envelope, ending)
        elif ending is None and include_usage:
            yield event([], usage=usage_of(body["messages"], choices))


def _error_event(envelope: dict[str, Any], kind: str) -> bytes:
    """A mid-stream error event: OpenRouter's keeps the chunk envelope and ends the choice with
    finish_reason "error"; DashScope's is its plain error body."""
    error = stream_error_body(kind, envelope["id"])
    if kind == "stream_error":
        ended = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        error = {**envelope, **error, "choices": [ended]}
    return b"data: " + _encode(error).encode() + b"\n\n"


async def _read_body(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object, or None when the body is not one."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _drop_connection(request: web.Request) -> None:
    """Close the TCP connection at once, so the client gets no response at all."""
    if request.transport is not None:
        request.transport.abort()


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The options of ``python -m bsa.testing.openai_server``; one per config field."""
    defaults = ServerConfig()
    p = argparse.ArgumentParser(
        prog="python -m bsa.testing.openai_server",
        description="Serve a fake OpenAI-compatible chat completions API on 127.0.0.1.",
    )
    p.add_argument("--host", default=defaults.host)
    p.add_argument("--port", type=int, default=defaults.port, help="0 = any free port")
    p.add_argument("--style", choices=STYLES, default=defaults.style)
    p.add_argument("--reasoning-chars", type=int, default=defaults.reasoning_chars)
    p.add_argument("--answer-chars", type=int, default=defaults.answer_chars)
    p.add_argument("--latency", type=float, default=0.0, help="mean seconds before each answer")
    p.add_argument("--jitter", type=float, default=0.0, help="half-width or std dev, seconds")
    p.add_argument("--jitter-distribution", choices=JITTER_DISTRIBUTIONS, default="uniform")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-n", action="store_true", help="reject n > 1 with 400, like vLLM")
    p.add_argument("--ignore-n", action="store_true", help="answer n > 1 with one choice")
    p.add_argument(
        "--reject-param", action="append", default=[], metavar="NAME", help="refuse this field"
    )
    p.add_argument("--reject-style", choices=REJECT_STYLES, default=defaults.reject_style)
    p.add_argument("--ignore-max-tokens", action="store_true", help="never cut at max_tokens")
    p.add_argument("--api-key", default=None, help="require this bearer token")
    p.add_argument("--model", action="append", default=[], help="a known model (repeatable)")
    p.add_argument(
        "--fault", action="append", default=[], metavar="KIND=P", help="random fault rate"
    )
    p.add_argument("--retry-after", type=float, default=defaults.retry_after)
    p.add_argument("--stream-chunk-chars", type=int, default=defaults.stream_chunk_chars)
    p.add_argument("--stream-delay", type=float, default=0.0)
    p.add_argument("--log-size", type=int, default=defaults.log_size)
    p.add_argument(
        "--judge", action="store_true", help="answer BSA judge prompts as the mock judge does"
    )
    p.add_argument(
        "--rate-limit", type=float, default=0.0, help="answer 429 above R requests/s (0 = never)"
    )
    p.add_argument("--rate-burst", type=float, default=0.0, help="requests at once (0 = R)")
    p.add_argument("--max-requests", type=int, default=0, help="stop after N requests (0 = never)")
    p.add_argument(
        "--max-seconds", type=float, default=3600.0, help="stop after S seconds (0 = never)"
    )
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Turn parsed options into a :class:`ServerConfig`."""
    rates: dict[str, float] = {}
    for item in args.fault:
        kind, sep, rate = item.partition("=")
        if not sep:
            raise ValueError(f"--fault takes KIND=PROBABILITY, not {item!r}")
        rates[kind] = float(rate)
    return ServerConfig(
        host=args.host,
        port=args.port,
        style=args.style,
        reasoning_chars=args.reasoning_chars,
        answer_chars=args.answer_chars,
        latency=args.latency,
        jitter=args.jitter,
        jitter_distribution=args.jitter_distribution,
        seed=args.seed,
        support_n=not args.no_n,
        ignore_n=args.ignore_n,
        reject_params=tuple(args.reject_param),
        reject_style=args.reject_style,
        honor_max_tokens=not args.ignore_max_tokens,
        api_key=args.api_key,
        models=tuple(args.model),
        fault_rates=rates,
        retry_after=args.retry_after,
        stream_chunk_chars=args.stream_chunk_chars,
        stream_delay=args.stream_delay,
        log_size=args.log_size,
        max_requests=args.max_requests,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        max_seconds=args.max_seconds,
        respond=mock_judge_hook if args.judge else None,
    )


def mock_judge_hook(body: dict[str, Any], index: int) -> tuple[str, str]:
    """Play a well-behaved judge (bsa.providers.mock's verdicts); other prompts get a refusal
    to grade, which a judge client must treat as an unusable reply.

    The verdict is drawn from the prompt and the request's draw (:func:`current_draw`, through
    the mock judge's persona): a prompt's first unseeded answer is the in-process mock judge's
    verdict, later answers and seeded requests draw again, as a judge that samples would."""
    from bsa.providers.mock import mock_judge_reply

    draw = current_draw()
    persona = f"mock {draw}" if draw else "mock"
    reply = mock_judge_reply(last_user_text(body.get("messages") or []), persona)
    return "", reply if reply is not None else "This is not a BSA judge prompt."


async def _serve_until_signal(server: OpenAIServer) -> None:
    """Serve on this loop; SIGTERM and SIGINT stop the server cleanly."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stop)
    await server.serve(on_ready=lambda s: print(s.base_url, flush=True))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the base URL as the first stdout line, serve, then print the final stats to stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    server = OpenAIServer(config)
    asyncio.run(_serve_until_signal(server))
    print(json.dumps(server.stats.as_dict()), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
