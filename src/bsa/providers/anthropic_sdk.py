"""Anthropic's Messages API with extended thinking, through the official ``anthropic`` SDK.

Claude returns its reasoning as ``thinking`` content blocks beside the ``text`` blocks of the answer,
so the split is structural (source ``thinking_blocks``), not a guess from tags. Three choices follow
from how the API treats thinking:

- Sampling settings are never sent. With thinking on, Anthropic requires temperature 1 and rejects
  top_k and a changed top_p; the SDK of API version 2026-10-21 no longer has these parameters at
  all. The run file still records the requested decoding, so a reader can see what was asked.
- ``redacted_thinking`` blocks (reasoning the safety systems encrypted) have no readable text: the
  reasoning gets the line :data:`REDACTED_MARKER` where each one was, so the thinking judge and a
  reader know part of the trace is hidden, and the raw response keeps the encrypted blocks.
- ``display: "summarized"`` is asked for explicitly: newer models (Opus 4.7 and later) default to
  ``omitted``, which returns empty thinking blocks and would leave nothing to grade.
- Calls stream (:mod:`bsa.providers.anthropic_stream`): the SDK refuses a non-streamed request that
  may exceed ten minutes, which a long budget's ``max_tokens`` triggers. The events are folded back
  into the body a plain call returns, so everything after the call is the same.
- ``--thinking adaptive`` sends ``{"type": "adaptive"}`` for models that size their own thinking
  (and refuse a budget); the budget then only sizes ``max_tokens``.

As in :mod:`bsa.providers.openai_compat`, the SDK's own retries are off (the runner retries) and the
stream's events are read as raw JSON, not the SDK's typed objects; the body rebuilt from them is
what the run file keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    import anthropic
except ImportError:  # pragma: no cover - exercised by patching, see the tests
    anthropic = None  # type: ignore[assignment]

from bsa.errors import BsaError, MissingExtraError
from bsa.providers.anthropic_cache import cached_turn, min_cacheable_tokens
from bsa.providers.anthropic_stream import assemble
from bsa.providers.base import (
    FatalError,
    Provider,
    ProviderError,
    TransientError,
    retry_after_seconds,
)
from bsa.providers.connection import Connection
from bsa.providers.context_overflow import is_context_overflow
from bsa.providers.http_errors import Endpoint, HttpFailure, classify_http, transport_error
from bsa.providers.usage_fields import token_count
from bsa.types import Completion, Message, Request, Usage

DEFAULT_THINKING_BUDGET = 8192
#: Anthropic's smallest thinking budget; 0 turns thinking off instead.
MIN_THINKING_BUDGET = 1024
#: Tokens left for the answer on top of the thinking budget, unless the request asks for more.
ANSWER_TOKENS = 4096
REDACTED_MARKER = "[redacted thinking]"
#: Values of ``--thinking``: a fixed budget (``enabled``), or the model's own (``adaptive``).
THINKING_MODES = ("enabled", "adaptive")
#: The HTTP status each Anthropic error type stands for, to classify an ``error`` event that
#: arrives inside a stream already answered with 200.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
#: How a 404 reads: the endpoint is Anthropic's own unless --base-url says otherwise.
NOT_FOUND = (
    "model {model!r} not found at {base_url} ({where}): check --model and --base-url ({text})"
)
#: stop_reason -> the finish reasons the rest of the pipeline (and the OpenAI provider) use.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicProvider(Provider):
    """``anthropic:MODEL``: one Messages API call per sample (the API has no ``n``)."""

    name = "anthropic"
    supports_n = False

    def __init__(
        self,
        model: str,
        connection: Connection,
        *,
        thinking_budget: int = DEFAULT_THINKING_BUDGET,
        thinking: str = "enabled",
    ) -> None:
        if anthropic is None:
            raise MissingExtraError("the anthropic provider", "anthropic")
        _check_thinking(thinking, thinking_budget)
        self.model = model
        self.api_key_env = connection.api_key_env
        self.base_url = connection.base_url or "https://api.anthropic.com"
        self.thinking_budget = thinking_budget
        self.thinking_mode = thinking
        self._client = anthropic.AsyncAnthropic(
            api_key=connection.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=connection.timeout,
            http_client=_http_client(connection.max_connections, connection.timeout),
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: Request) -> list[Completion]:
        if request.n != 1:
            raise FatalError(
                f"{self.label} returns one sample per request; asked for n={request.n} "
                "(run without --use-n)"
            )
        try:
            return [parse_message(await self._streamed(request))]
        except anthropic.APIStatusError as error:  # also an error event inside the stream
            raise self._classify(error) from error
        except anthropic.APIConnectionError as error:  # includes APITimeoutError
            raise self._transport_error(error) from error
        except ValueError as error:  # an event whose data is not JSON
            raise TransientError(f"malformed stream event ({error})") from error

    async def _streamed(self, request: Request) -> dict[str, Any]:
        """The response body, rebuilt from the stream. Events arrive as plain JSON objects, not
        the SDK's typed ones: the run file keeps the raw body, and the typing costs CPU."""
        stream = await self._client.post(
            "/v1/messages",
            cast_to=object,
            body=self.request_body(request),
            stream=True,
            stream_cls=anthropic.AsyncStream[object],
        )
        return await assemble(stream.__aiter__())

    def request_body(self, request: Request) -> dict[str, Any]:
        """The body a live call streams: :meth:`message_params` asking for a stream."""
        return {**self.message_params(request), "stream": True}

    def message_params(self, request: Request) -> dict[str, Any]:
        """The Messages API parameters (a batch request's ``params``): system messages go to
        the top-level ``system`` parameter, and ``decoding.extra_body`` is merged last, the way
        to send what this provider does not."""
        system, messages = _split_system(request.messages, min_cacheable_tokens(self.model))
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens(request.decoding.max_tokens),
            "messages": messages,
            "thinking": self.thinking(),
        }
        if system:
            body["system"] = system
        body.update(request.decoding.extra_body)
        return body

    def thinking(self) -> dict[str, Any]:
        if not self.thinking_budget:
            return {"type": "disabled"}
        if self.thinking_mode == "adaptive":
            return {"type": "adaptive", "display": "summarized"}
        return {"type": "enabled", "budget_tokens": self.thinking_budget, "display": "summarized"}

    def max_tokens(self, requested: int | None) -> int:
        """Room for the whole budget plus an answer: thinking tokens count toward ``max_tokens``,
        which must exceed the budget."""
        return max(self.thinking_budget + ANSWER_TOKENS, requested or 0)

    def _classify(self, error: anthropic.APIStatusError) -> ProviderError:
        """Map an HTTP status and Anthropic error body to what the runner should do; 529 is
        Anthropic's "overloaded", a 5xx like the others. An error event inside a stream (status
        200) is read by its type, and what would stop the run is retried instead, since the
        request itself was accepted."""
        status = error.status_code
        text = _error_text(error.body, error.message)
        headers = error.response.headers
        if status == 200:
            status = _error_status(error.body)
            outcome = self._classify_status(status, text, headers, "error event in the stream")
            return _within_stream(outcome)
        return self._classify_status(status, text, headers)

    def read_error(self, body: object, where: str) -> ProviderError:
        """An error body read elsewhere (a batch's ``errored`` result): classified by its type,
        as an error event inside a live stream is, but what would stop a run stays fatal."""
        return self._classify_status(_error_status(body), _error_text(body, ""), {}, where)

    def failure(self, error: anthropic.APIError) -> ProviderError:
        """A failed SDK call (a batch's create, poll or download), classified as a live call's
        would be."""
        if isinstance(error, anthropic.APIStatusError):
            return self._classify(error)
        if isinstance(error, anthropic.APIConnectionError):
            return self._transport_error(error)
        return TransientError(f"{self.base_url}: {error.message}")

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client, for the batch endpoints (bsa.batch.anthropic_batch)."""
        return self._client

    def _classify_status(
        self, status: int, text: str, headers: Mapping[str, str], where: str = ""
    ) -> ProviderError:
        overflow = status == 413 or (status == 400 and is_context_overflow(text))
        failure = HttpFailure(
            status,
            text,
            retry_after_seconds(headers),
            where=where,
            overflow=text if overflow else None,
        )
        endpoint = Endpoint(self.base_url, self.model, self.api_key_env)
        return classify_http(failure, endpoint, not_found=NOT_FOUND)

    def _transport_error(self, error: anthropic.APIConnectionError) -> TransientError:
        timed_out = isinstance(error, anthropic.APITimeoutError)
        return transport_error(error, self.base_url, timed_out=timed_out)


def _check_thinking(mode: str, budget: int) -> None:
    """Refuse a mode or budget Anthropic would refuse, in one line before any call."""
    if mode not in THINKING_MODES:
        raise BsaError(f"--thinking {mode!r}: choose {' or '.join(THINKING_MODES)}")
    if budget != 0 and budget < MIN_THINKING_BUDGET:
        raise BsaError(
            f"--thinking-budget {budget} is too small: Anthropic needs at least "
            f"{MIN_THINKING_BUDGET} tokens (or 0 to turn thinking off)"
        )


def _error_status(body: object) -> int:
    """The status an error event's type stands for; an unknown type is a server error."""
    inner = body.get("error") if isinstance(body, Mapping) else None
    kind = inner.get("type") if isinstance(inner, Mapping) else None
    return ERROR_TYPE_STATUS.get(str(kind), 500)


def _within_stream(outcome: ProviderError) -> ProviderError:
    """A setup problem cannot surface after the request was accepted: retry it instead."""
    if isinstance(outcome, FatalError):
        return TransientError(outcome.message)
    return outcome


def parse_message(data: object) -> Completion:
    """A completion from a Messages API response body."""
    if not isinstance(data, Mapping) or not isinstance(data.get("content"), list):
        raise TransientError("malformed response body (no content blocks)")
    stop_reason = data.get("stop_reason")
    finish_reason = FINISH_REASONS.get(stop_reason, stop_reason) if stop_reason else None
    usage = _usage(data.get("usage"))
    raw = dict(data)
    if finish_reason == "content_filter":
        # A refusal stopped the reply mid-way: whatever came before is not the model's answer.
        return Completion("", None, "none", finish_reason, False, usage, raw)
    reasoning = _reasoning(data["content"])
    answer = _answer(data["content"])
    source = "none" if reasoning is None else "thinking_blocks"
    truncated = finish_reason == "length"
    return Completion(answer, reasoning, source, finish_reason, truncated, usage, raw)


def _reasoning(blocks: Sequence[Any]) -> str | None:
    """Thinking texts and a marker per redacted block, in order; None when there are neither.

    Empty thinking blocks (display "omitted") carry only a signature and add nothing.
    """
    parts = []
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "redacted_thinking":
            parts.append(REDACTED_MARKER)
        elif block.get("type") == "thinking" and str(block.get("thinking") or "").strip():
            parts.append(str(block["thinking"]).strip())
    return "\n\n".join(parts) if parts else None


def _answer(blocks: Sequence[Any]) -> str:
    """The text blocks joined as they are: citations split one sentence into several blocks."""
    texts = [
        block["text"]
        for block in blocks
        if isinstance(block, Mapping) and block.get("type") == "text"
        if isinstance(block.get("text"), str)
    ]
    return "".join(texts).strip()


def _usage(usage: object) -> Usage:
    """Input tokens include cache reads and writes, which Anthropic counts apart (and bills
    apart: a read at a tenth of the input price, a write at 1.25 times it), so both are kept."""
    if not isinstance(usage, Mapping):
        return Usage()
    inputs = [
        usage.get(k)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    counted = [n for n in inputs if isinstance(n, int)]
    output = usage.get("output_tokens")
    details = usage.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, Mapping) else None
    return Usage(
        sum(counted) if counted else None,
        output if isinstance(output, int) else None,
        thinking if isinstance(thinking, int) else None,
        cached_tokens=token_count(usage.get("cache_read_input_tokens")),
        cache_write_tokens=token_count(usage.get("cache_creation_input_tokens")),
    )


def _split_system(
    messages: Sequence[Message], min_cache_tokens: int
) -> tuple[str, list[dict[str, Any]]]:
    """The Messages API accepts only user and assistant turns; system text is a parameter. A
    turn with a long enough fixed prefix is sent as two text blocks, the prefix marked for the
    prompt cache (:func:`bsa.providers.anthropic_cache.cached_turn`)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    return system, [cached_turn(m, min_cache_tokens) for m in messages if m.role != "system"]


def _http_client(max_connections: int, timeout: float) -> Any:
    """The SDK's aiohttp transport, as the OpenAI provider uses (httpx's pool costs CPU at high
    concurrency); its default httpx one when the aiohttp transport cannot load."""
    import httpx2

    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    try:
        return anthropic.DefaultAioHttpClient(limits=limits, timeout=timeout)
    except RuntimeError:  # pragma: no cover - the SDK's aiohttp transport is missing
        return anthropic.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)


def _error_text(body: object, fallback: str) -> str:
    """``error.message`` of Anthropic's ``{"type": "error", "error": {...}}`` body."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            kind = inner.get("type")
            return f"{kind}: {inner['message']}" if isinstance(kind, str) else inner["message"]
    return fallback
