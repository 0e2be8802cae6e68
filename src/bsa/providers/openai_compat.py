"""OpenAI-compatible chat completions: OpenAI, DeepSeek, vLLM, SGLang, Ollama, OpenRouter, Together,
Moonshot, Volcengine Ark, DashScope, Zhipu's compatible endpoint, and anything else that speaks it.

Posts with aiohttp directly (:mod:`bsa.providers.openai_http`: the SDK's request path was half
the client's CPU per call) and reads the raw response JSON rather than the SDK's parsed objects:
vendors put reasoning in fields the SDK does not model, and the raw body is what the run file
keeps. Failures arrive as the SDK's own exceptions, classified here; nothing is retried here (the
runner retries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import aclosing
from typing import Any

import openai

from bsa.engine.reasoning import split_reasoning
from bsa.providers.base import (
    FatalError,
    NIgnored,
    Provider,
    ProviderError,
    TransientError,
    retry_after_seconds,
    server_text,
)
from bsa.providers.connection import Connection
from bsa.providers.context_overflow import is_context_overflow
from bsa.providers.http_errors import Endpoint, HttpFailure, classify_http, transport_error
from bsa.providers.openai_http import OpenAIHttp
from bsa.providers.usage_fields import detail_count
from bsa.types import Completion, Request, Usage

#: Error codes and message fragments by which vendors say "my content filter refused this".
CONTENT_FILTER_CODES = frozenset(
    {"content_filter", "content_policy_violation", "data_inspection_failed", "1301", "sensitive"}
)
CONTENT_FILTER_PHRASES = (
    "content_filter",
    "content filter",
    "content management policy",
    "content exists risk",
    "data_inspection_failed",
    "inappropriate content",
    "responsibleaipolicyviolation",
    "content policy",
    # OpenAI's words, all that is left when a gateway (LiteLLM) rewrites the code to "400".
    "rejected as a result of our safety system",
)
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
#: How an exhausted quota or balance reads when a gateway (LiteLLM) has replaced the code with
#: "429": retrying it as a rate limit would only wait out every attempt.
QUOTA_PHRASES = (
    "insufficient_quota",
    "exceeded your current quota",
    "check your plan and billing details",
    "billing_hard_limit_reached",
    "insufficient balance",
    "insufficient credits",
)
#: HTTP statuses with which endpoints refuse a request field they do not know: OpenAI's 400,
#: FastAPI servers' (``transformers serve``) 422.
UNKNOWN_FIELD_STATUSES = (400, 422)
#: Sampling parameters that not every endpoint accepts: dropped (with the run continuing) the
#: first time the endpoint rejects one by name.
OPTIONAL_PARAMETERS = ("top_k",)


class OpenAICompatible(Provider):
    name = "openai"

    #: Whether ``n`` is honoured is the endpoint's business: one that ignores it answers with one
    #: choice, and the runner asks for the other samples one by one (:class:`NIgnored`). The
    #: runner asks for several only with ``--use-n`` (``Execution.use_n``).
    supports_n = True

    def __init__(self, model: str, connection: Connection, *, stream: bool = False) -> None:
        self.model = model
        self.api_key_env = connection.api_key_env
        self.base_url = connection.base_url or "https://api.openai.com/v1"
        self.stream = stream
        self.dropped_parameters: set[str] = set()
        self._http = OpenAIHttp(self.base_url, connection.api_key, connection.limits)
        self._connection = connection
        self._batch_client: openai.AsyncOpenAI | None = None

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._batch_client is not None:
            await self._batch_client.close()

    async def complete(self, request: Request) -> list[Completion]:
        while True:
            # What this attempt sends: requests already in flight when another one learnt that
            # top_k is refused still carry it, and their refusal must drop it too, not stop the run.
            dropped_before = frozenset(self.dropped_parameters)
            try:
                return await self._complete_once(request)
            except openai.APIStatusError as error:
                rejected = self._rejected_optional_parameter(error)
                if rejected is None or rejected in dropped_before:
                    raise self._classify(error) from error
                self.dropped_parameters.add(rejected)
            except openai.APIConnectionError as error:  # includes APITimeoutError
                raise self._transport_error(error) from error
            except openai.APIError as error:  # an error event inside a stream
                raise self._classify_stream_error(error.body, error.message) from error

    async def _complete_once(self, request: Request) -> list[Completion]:
        arguments = self._arguments(request)
        if self.stream:
            return await self._stream(arguments, request.n)
        content = await self._http.post("chat/completions", _flat(arguments))
        try:
            data = json.loads(content)
        except (ValueError, UnicodeDecodeError) as error:
            raise TransientError(f"malformed response body ({error})") from error
        return self.parse_response(data, request.n)

    def _arguments(self, request: Request) -> dict[str, Any]:
        decoding = request.decoding
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in request.messages],
        }
        optional = {
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "max_tokens": decoding.max_tokens,
            "seed": decoding.seed,
            "reasoning_effort": decoding.reasoning_effort,
        }
        arguments.update({k: v for k, v in optional.items() if v is not None})
        if request.n > 1:
            arguments["n"] = request.n
        extra = dict(decoding.extra_body)
        if decoding.top_k is not None and "top_k" not in self.dropped_parameters:
            extra.setdefault("top_k", decoding.top_k)
        if extra:
            arguments["extra_body"] = extra
        return arguments

    def parse_response(self, data: Any, n: int) -> list[Completion]:
        """Completions from a response body; a body without ``n`` choices is an error outcome."""
        if not isinstance(data, Mapping):
            raise TransientError("malformed response body (not a JSON object)")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            if isinstance(data.get("error"), Mapping):
                raise self._classify_body(200, data)
            raise TransientError("malformed response body (no choices)")
        usage = _usage(data.get("usage"), len(choices))
        if len(choices) == 1 < n:
            ignored = f"the endpoint ignored n (asked for {n} samples, got 1)"
            raise NIgnored(ignored, [_completion(data, choices[0], usage)])
        if len(choices) < n:
            raise TransientError(f"asked for {n} samples, got {len(choices)}")
        return [_completion(data, choice, usage) for choice in choices[:n]]

    async def _stream(self, arguments: dict[str, Any], n: int) -> list[Completion]:
        # Each event arrives as the plain JSON object it is: the SDK's typed chunks cost about
        # 10 ms of CPU per streamed call at a few hundred in flight (benchmarks/generation.py
        # --stream), four times a whole call's budget. An error event arrives as the SDK's
        # ``openai.APIError``.
        body = {**_flat(arguments), "stream": True, "stream_options": {"include_usage": True}}
        messages: dict[int, dict[str, Any]] = {}
        finish: dict[int, str | None] = {}
        last: dict[str, Any] = {}
        try:
            async with aclosing(self._http.events("chat/completions", body)) as stream:
                async for payload in stream:
                    last = _take_event(payload, messages, finish)
        except ValueError as error:  # an event whose data is not JSON
            raise TransientError(f"malformed stream event ({error})") from error
        head = {k: last[k] for k in ("id", "model", "created", "usage") if last.get(k)}
        _check_finished(finish, messages)
        choices = [
            {"index": i, "message": messages[i], "finish_reason": finish.get(i)}
            for i in sorted(messages)
        ]
        return self.parse_response({**head, "choices": choices, "streamed": True}, n)

    def request_body(self, request: Request) -> dict[str, Any]:
        """The body the live path posts for ``request`` (never streamed), for a batch file."""
        return _flat(self._arguments(request))

    def read_reply(self, status: int, body: object, n: int) -> list[Completion] | ProviderError:
        """What a reply read elsewhere (a batch's output or error file) ends in: the same
        reading as a live call's body (:meth:`parse_response`) or error (:meth:`_classify_body`)."""
        if not 200 <= status < 300:
            return self._classify_body(status, body)
        try:
            return self.parse_response(body, n)
        except ProviderError as error:
            return error

    def failure(self, error: openai.APIError) -> ProviderError:
        """A failed SDK call (a batch's upload, create, poll or download) classified as a live
        call's would be."""
        if isinstance(error, openai.APIStatusError):
            return self._classify(error)
        if isinstance(error, openai.APIConnectionError):
            return self._transport_error(error)
        return self._classify_stream_error(error.body, error.message)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """An SDK client for the batch endpoints (bsa.batch.openai_batch), made on first use:
        live calls post through aiohttp directly (:mod:`bsa.providers.openai_http`), where the
        SDK's CPU per call counts; a batch makes a handful of calls (upload, create, polls,
        downloads), and the SDK's file and batch methods spell their wire format."""
        if self._batch_client is None:
            self._batch_client = openai.AsyncOpenAI(
                api_key=self._connection.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self._connection.timeout,
            )
        return self._batch_client

    def _transport_error(self, error: openai.APIConnectionError) -> TransientError:
        timed_out = isinstance(error, openai.APITimeoutError)
        return transport_error(error, self.base_url, timed_out=timed_out)

    def _rejected_optional_parameter(self, error: openai.APIStatusError) -> str | None:
        if error.status_code not in UNKNOWN_FIELD_STATUSES:
            return None
        text = _error_text(error.body, error.message).lower()
        for name in OPTIONAL_PARAMETERS:
            if name in text:
                return name
        return None

    def _classify(self, error: openai.APIStatusError) -> ProviderError:
        return self._classify_body(
            error.status_code, error.body, error.message, error.response.headers
        )

    def _classify_stream_error(self, body: object, message: str) -> ProviderError:
        """An error event after a 200 stream began (DashScope's output moderation, OpenRouter's
        mid-stream errors): classified as the same error outside a stream would be, except that
        what would stop the run is retried instead, since the request itself was accepted."""
        outcome = self._classify_body(200, body, message)
        if isinstance(outcome, FatalError):
            text = server_text(_error_text(body, message))
            return TransientError(f"error inside the stream: {text}")
        return outcome

    def _classify_body(
        self,
        status: int,
        body: object,
        message: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> ProviderError:
        """Map an HTTP status and vendor error body to what the runner should do."""
        words = _error_text(body, message)
        text, lowered = server_text(words), words.lower()
        code = _error_code(body)
        blocked = code in CONTENT_FILTER_CODES or any(p in lowered for p in CONTENT_FILTER_PHRASES)
        quota = code in QUOTA_CODES or any(p in lowered for p in QUOTA_PHRASES)
        failure = HttpFailure(
            status,
            text,
            retry_after_seconds(headers or {}),
            blocked=text if blocked else None,
            overflow=text if is_context_overflow(words, code, _error_type(body)) else None,
            fatal=f"quota exhausted at {self.base_url} (HTTP 429): {text}"
            if status == 429 and quota
            else None,
        )
        return classify_http(failure, Endpoint(self.base_url, self.model, self.api_key_env))


def _flat(arguments: dict[str, Any]) -> dict[str, Any]:
    """The request body: ``create``'s keyword arguments with ``extra_body`` merged in."""
    body = {k: v for k, v in arguments.items() if k != "extra_body"}
    body.update(arguments.get("extra_body", {}))
    return body


def _completion(data: Mapping[str, Any], choice: Any, usage: Usage) -> Completion:
    if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
        raise TransientError("malformed response body (choice without a message)")
    finish_reason = choice.get("finish_reason")
    split = split_reasoning(choice["message"], finish_reason)
    raw = {**data, "choices": [choice]}
    return Completion(
        split.answer, split.reasoning, split.source, finish_reason, split.truncated, usage, raw
    )


def _usage(usage: object, choices: int) -> Usage:
    """Token usage per sample: a response with n choices reports the sum of all of them."""
    if not isinstance(usage, Mapping):
        return Usage()
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None

    def share(value: object) -> int | None:
        return value // choices if isinstance(value, int) else None

    prompt = usage.get("prompt_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else None,
        share(usage.get("completion_tokens")),
        share(reasoning),
        cached_tokens=detail_count(usage, "prompt_tokens_details", "cached_tokens"),
    )


def _take_event(
    payload: object, messages: dict[int, dict[str, Any]], finish: dict[int, str | None]
) -> dict[str, Any]:
    """Add one streamed event's deltas and finish reasons to the choices being rebuilt; return
    the event (the last one's id, model, created and usage head the reply)."""
    if not isinstance(payload, dict):
        raise TransientError("malformed stream event (not a JSON object)")
    for choice in payload.get("choices") or []:
        index = choice.get("index", 0)
        _accumulate(messages.setdefault(index, {}), choice.get("delta") or {})
        finish[index] = choice.get("finish_reason") or finish.get(index)
    return payload


def _accumulate(message: dict[str, Any], delta: Mapping[str, Any]) -> None:
    """Append a streamed delta's text fields to the message being rebuilt. List-shaped content
    (Magistral's typed blocks) is kept as a list of blocks, string pieces joining it as text
    blocks, so :func:`bsa.engine.reasoning.split_reasoning` reads it as it reads a whole message."""
    for key, value in delta.items():
        if key == "content" and (isinstance(value, list) or isinstance(message.get(key), list)):
            message[key] = _as_blocks(message.get(key)) + _as_blocks(value)
        elif isinstance(value, str):
            message[key] = message.get(key, "") + value if key != "role" else value
        elif key == "reasoning_details" and isinstance(value, list):
            message.setdefault(key, []).extend(value)


def _as_blocks(content: object) -> list[Any]:
    """Content as a list of typed blocks: a string is one text block."""
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if isinstance(content, str) and content else []


def _check_finished(finish: Mapping[int, str | None], messages: Mapping[int, Any]) -> None:
    """A streamed choice that never got a finish_reason was cut off (llama-cpp-python's server
    ends concurrent streams so, at EOF or with [DONE]): its reply is incomplete, not an answer."""
    unfinished = [i for i in sorted(messages) if not finish.get(i)]
    if unfinished:
        raise TransientError(
            f"the stream ended without a finish_reason for choice {unfinished[0]}: the reply is "
            "incomplete"
        )


def _error_text(body: object, fallback: str) -> str:
    """The server's own words: OpenAI's ``error.message``, FastAPI's ``detail`` (a string or a
    list of validation errors), a plain-text body; else the SDK's message."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if "detail" in body:
            return _detail_text(body["detail"])
    if isinstance(body, str) and body.strip():
        return body
    return fallback or json.dumps(body, ensure_ascii=False)[:500]


def _detail_text(detail: object) -> str:
    """FastAPI's ``detail``: a message, or validation errors as ``body.top_k: Extra inputs...``."""
    if not isinstance(detail, list):
        return str(detail)
    parts = []
    for problem in detail:
        if isinstance(problem, Mapping):
            where = ".".join(str(part) for part in problem.get("loc") or ())
            parts.append(f"{where}: {problem.get('msg')}" if where else str(problem.get("msg")))
    return "; ".join(parts) or json.dumps(detail, ensure_ascii=False)


def _error_type(body: object) -> str | None:
    """The error's ``type``, where llama.cpp names its errors (its ``code`` is the status)."""
    inner = body.get("error", body) if isinstance(body, Mapping) else None
    kind = inner.get("type") if isinstance(inner, Mapping) else None
    return kind if isinstance(kind, str) else None


def _error_code(body: object) -> str | None:
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error", body)
    if not isinstance(inner, Mapping):
        return None
    code = inner.get("code")
    inner_error = inner.get("innererror")
    if isinstance(inner_error, Mapping) and inner_error.get("code"):
        return "content_filter" if "ResponsibleAI" in str(inner_error["code"]) else str(code)
    return None if code is None else str(code)
