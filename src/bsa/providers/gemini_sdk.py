"""Google's Gemini models through the official ``google-genai`` SDK: ``gemini:gemini-2.5-flash``.

Gemini shows its reasoning only when asked: with ``thinking_config.include_thoughts`` the reply's
parts include *thought summaries* (parts marked ``thought: true``) beside the text parts of the
answer. The split is therefore structural, and its source is ``thought_summary``: what the
thinking judge reads is Google's summary of the thinking, not the full trace (as the published
BSA leaderboard's Gemini rows are). The thinking budget is this provider's option
(``--thinking-budget``, 8192 by default like Anthropic's; ``-o thinking_budget -1`` lets the
model decide, 0 turns thinking off on the models that allow it).

What the API says beyond the text:

- ``finishReason`` ``SAFETY``, ``PROHIBITED_CONTENT``, ``BLOCKLIST`` or ``SPII`` (the reply was
  stopped by a content filter) and ``promptFeedback.blockReason`` (the prompt was refused, no
  candidates) are ``blocked``: whatever text came before the stop is not the model's answer.
- Errors are Google RPC statuses: ``RESOURCE_EXHAUSTED`` (HTTP 429) is a rate limit whose wait is
  the ``RetryInfo.retryDelay`` the server sends; a bad key is a 400 with reason
  ``API_KEY_INVALID`` (not a 401) and, like an unknown model (404), stops the run.

As for the other SDK providers, the SDK's own retries are off (the runner retries: an explicit
single-attempt retry policy also turns off the SDK's hidden retry of dropped connections) and the
response body is read raw (``should_return_http_response``): the body is what the run file
keeps, and no SDK model drops a field. ``vertexai=False`` and an explicit base URL keep the SDK's
environment variables (``GOOGLE_GENAI_USE_VERTEXAI``, ``GOOGLE_GEMINI_BASE_URL``) from sending
the key elsewhere; the key itself comes from bsa (``GEMINI_API_KEY`` unless told otherwise),
never from the SDK's own lookup.

Not sent: ``reasoning_effort`` (the budget is the setting; recorded in ``dropped_parameters``)
and ``n`` (one candidate per request, so ``supports_n`` is False).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

from bsa.errors import MissingExtraError
from bsa.providers.base import (
    FatalError,
    Provider,
    ProviderError,
    TransientError,
    retry_after_seconds,
    server_text,
)
from bsa.providers.connection import Connection
from bsa.providers.context_overflow import is_context_overflow
from bsa.providers.http_errors import (
    Endpoint,
    HttpFailure,
    authentication_failed,
    classify_http,
    transport_error,
)
from bsa.types import Completion, Message, Request, Usage

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
DEFAULT_THINKING_BUDGET = 8192
#: The budget value that lets the model choose how long to think.
DYNAMIC_THINKING_BUDGET = -1
#: Decoding fields with no Gemini parameter here: never sent.
UNSENT_PARAMETERS = ("reasoning_effort",)
#: Finish reasons of a reply stopped by a content filter.
BLOCKED_FINISH_REASONS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"})
#: finishReason -> the finish reasons the rest of the pipeline uses; others are lower-cased.
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    **dict.fromkeys(BLOCKED_FINISH_REASONS, "content_filter"),
}
#: The ``ErrorInfo`` reasons of a key the API does not accept.
BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
#: A ``google.protobuf.Duration`` in JSON: seconds with an ``s`` ("7s", "0.5s").
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
#: How a 404 reads: the endpoint is Google's own unless --base-url says otherwise.
NOT_FOUND = (
    "model {model!r} not found at {base_url} ({where}): check --model (a Gemini API model id "
    "such as gemini-2.5-flash) and --base-url ({text})"
)


class GeminiProvider(Provider):
    """``gemini:MODEL``: one ``generateContent`` call per sample."""

    name = "gemini"
    supports_n = False

    def __init__(
        self, model: str, connection: Connection, *, thinking_budget: int = DEFAULT_THINKING_BUDGET
    ) -> None:
        self._sdk = _import_sdk()
        self.model = model
        self.api_key_env = connection.api_key_env
        self.base_url = connection.base_url or DEFAULT_BASE_URL
        self.thinking_budget = thinking_budget
        self.dropped_parameters: set[str] = set()
        types = self._sdk.types
        self._client = self._sdk.genai.Client(
            api_key=connection.api_key,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=self.base_url,
                api_version=API_VERSION,
                timeout=max(1, round(connection.timeout * 1000)),  # milliseconds
                retry_options=types.HttpRetryOptions(attempts=1),
                client_args={"verify": _tls_context()},
                # aiohttp takes ``ssl``, httpx ``verify``: the SDK gives each only its own.
                async_client_args={"ssl": _tls_context(), "verify": _tls_context()},
            ),
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()

    async def complete(self, request: Request) -> list[Completion]:
        if request.n != 1:
            raise FatalError(
                f"{self.label} returns one sample per request; asked for n={request.n} "
                "(run without --use-n)"
            )
        self._note_unsent(request)
        system, contents = split_system(request.messages)
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=contents, config=self.config(request, system)
            )
        except self._sdk.errors.APIError as error:
            raise self._classify(error) from error
        except self._sdk.transport_errors as error:
            timed_out = isinstance(error, self._sdk.timeout_errors)
            raise transport_error(error, self.base_url, timed_out=timed_out) from error
        except json.JSONDecodeError as error:  # an error status whose JSON body is broken
            raise TransientError(f"malformed error body ({error})") from error
        return [parse_response(_json_body(response))]

    def config(self, request: Request, system: str | None) -> Any:
        """The ``GenerateContentConfig``: sampling as asked, thinking with its summaries, the raw
        body returned, and ``decoding.extra_body`` merged into the request body last."""
        types, decoding = self._sdk.types, request.decoding
        sampling = {
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "top_k": decoding.top_k,
            "max_output_tokens": decoding.max_tokens,
            "seed": decoding.seed,
        }
        extra = dict(decoding.extra_body)
        return types.GenerateContentConfig(
            system_instruction=system,
            thinking_config=self.thinking(),
            should_return_http_response=True,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            http_options=types.HttpOptions(extra_body=extra) if extra else None,
            **{k: v for k, v in sampling.items() if v is not None},
        )

    def thinking(self) -> Any:
        """Thought summaries on, unless thinking is off (a budget of 0 leaves nothing to show)."""
        budget = self.thinking_budget
        return self._sdk.types.ThinkingConfig(include_thoughts=budget != 0, thinking_budget=budget)

    def _note_unsent(self, request: Request) -> None:
        """Record the decoding fields asked for but never sent, so the run file says so."""
        for name in UNSENT_PARAMETERS:
            if getattr(request.decoding, name) is not None:
                self.dropped_parameters.add(name)

    def _classify(self, error: Any) -> ProviderError:
        """Map a Google RPC error to what the runner should do. The RPC status and the error's
        details decide before the HTTP status: a bad key arrives as a 400."""
        status = int(error.code or 0)
        inner = _error_object(error.details)
        name = str(inner.get("status") or error.status or "")
        text = server_text(str(inner.get("message") or error.message or f"HTTP {status}"))
        where = f"HTTP {status} {name}".strip()
        endpoint = Endpoint(self.base_url, self.model, self.api_key_env)
        details = _details(inner)
        bad_key = (
            status == 401 or name == "UNAUTHENTICATED" or bool(_reasons(details) & BAD_KEY_REASONS)
        )
        delay = _retry_delay(details)
        if delay is None:
            delay = retry_after_seconds(getattr(error.response, "headers", None) or {})
        failure = HttpFailure(
            status,
            text,
            delay,
            where,
            overflow=text if status == 400 and is_context_overflow(text) else None,
            fatal=f"{authentication_failed(endpoint, where)} ({text})" if bad_key else None,
            rate_limited=name == "RESOURCE_EXHAUSTED",
        )
        return classify_http(failure, endpoint, not_found=NOT_FOUND)


class _Sdk:
    """The parts of ``google-genai`` the provider uses, imported once it is built."""

    def __init__(self) -> None:
        try:
            import httpx2  # the SDK's own HTTP library when aiohttp is absent
            from google import genai
            from google.genai import errors, types
        except ImportError as error:
            raise MissingExtraError("the gemini provider", "gemini") from error
        import aiohttp

        self.genai, self.types, self.errors = genai, types, errors
        #: What a request that never got an HTTP answer raises, on either transport.
        self.transport_errors: tuple[type[BaseException], ...] = (
            aiohttp.ClientError,
            httpx2.TransportError,
            TimeoutError,
            asyncio.TimeoutError,
        )
        self.timeout_errors: tuple[type[BaseException], ...] = (
            TimeoutError,
            asyncio.TimeoutError,
            httpx2.TimeoutException,
            aiohttp.ServerTimeoutError,
        )


def _import_sdk() -> _Sdk:
    """Imported only when the provider is built, so ``import bsa`` never needs the extra."""
    return _Sdk()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process, made as the SDK makes its own for aiohttp (certifi's CA
    bundle unless SSL_CERT_FILE or SSL_CERT_DIR say otherwise): left alone, the SDK loads the CA
    bundle three times for every client, about a second per provider (a judge panel, every
    test) spent before any call."""
    import certifi

    return ssl.create_default_context(
        cafile=os.environ.get("SSL_CERT_FILE", certifi.where()),
        capath=os.environ.get("SSL_CERT_DIR"),
    )


def split_system(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """Gemini takes ``user`` and ``model`` turns; system text is the ``system_instruction``."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    contents = [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
        for m in messages
        if m.role != "system"
    ]
    return system or None, contents


def _json_body(response: Any) -> Any:
    """The body the SDK returned unparsed (``should_return_http_response``)."""
    body = getattr(getattr(response, "sdk_http_response", None), "body", None)
    if not isinstance(body, str):
        raise TransientError("malformed response body (empty)")
    try:
        return json.loads(body)
    except ValueError as error:
        raise TransientError(f"malformed response body ({error})") from error


def parse_response(data: object) -> Completion:
    """A completion from a ``generateContent`` response body."""
    if not isinstance(data, Mapping):
        raise TransientError("malformed response body (not a JSON object)")
    usage = _usage(data.get("usageMetadata"))
    raw = dict(data)
    feedback = data.get("promptFeedback")
    if isinstance(feedback, Mapping) and feedback.get("blockReason"):
        return _blocked(usage, raw)
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], Mapping):
        raise TransientError("malformed response body (no candidates)")
    finish = candidates[0].get("finishReason")
    finish_reason = FINISH_REASONS.get(finish, finish.lower()) if isinstance(finish, str) else None
    if finish_reason == "content_filter":
        return _blocked(usage, raw)
    parts = _parts(candidates[0])
    reasoning = "".join(_texts(parts, thought=True)).strip() or None
    answer = "".join(_texts(parts, thought=False)).strip()
    source = "none" if reasoning is None else "thought_summary"
    truncated = finish_reason == "length"
    return Completion(answer, reasoning, source, finish_reason, truncated, usage, raw)


def _blocked(usage: Usage, raw: dict[str, Any]) -> Completion:
    """A reply a content filter stopped: no answer, no reasoning; the raw body says why."""
    return Completion("", None, "none", "content_filter", False, usage, raw)


def _parts(candidate: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The candidate's parts; a reply that spent its budget thinking may have no content."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return [part for part in parts or () if isinstance(part, Mapping)]


def _texts(parts: Sequence[Mapping[str, Any]], *, thought: bool) -> list[str]:
    """The text of the thought parts, or of the answer's parts, in order."""
    return [
        part["text"]
        for part in parts
        if isinstance(part.get("text"), str) and bool(part.get("thought")) is thought
    ]


def _usage(usage: object) -> Usage:
    """Completion tokens include the thinking, as the other providers count them; Gemini reports
    the answer's (``candidatesTokenCount``) and the thinking's (``thoughtsTokenCount``) apart."""
    if not isinstance(usage, Mapping):
        return Usage()
    answer = _count(usage.get("candidatesTokenCount"))
    thoughts = _count(usage.get("thoughtsTokenCount"))
    completion = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
    return Usage(
        _count(usage.get("promptTokenCount")),
        completion,
        thoughts,
        cached_tokens=_count(usage.get("cachedContentTokenCount")),
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_object(details: object) -> Mapping[str, Any]:
    """The ``error`` object of ``{"error": {"code", "message", "status", "details"}}``."""
    inner = details.get("error", details) if isinstance(details, Mapping) else None
    return inner if isinstance(inner, Mapping) else {}


def _details(inner: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = inner.get("details")
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _reasons(details: Sequence[Mapping[str, Any]]) -> set[str]:
    """The ``ErrorInfo`` reasons among an error's details."""
    return {str(d.get("reason")) for d in details if d.get("@type") == ERROR_INFO}


def _retry_delay(details: Sequence[Mapping[str, Any]]) -> float | None:
    """The wait a ``RetryInfo`` detail asks for, in seconds; None when there is none."""
    for detail in details:
        delay = detail.get("retryDelay") if detail.get("@type") == RETRY_INFO else None
        matched = _DURATION.match(delay) if isinstance(delay, str) else None
        if matched:
            return float(matched[1])
    return None
