"""ZhipuAI (智谱) GLM models through the official ``zhipuai`` SDK: ``zhipuai:glm-z1-air``.

Why the SDK beside Zhipu's OpenAI-compatible endpoint (which the ``openai`` provider also reaches):
it is the client Zhipu documents, it adapts sampling to what the platform accepts (temperature 0
becomes ``do_sample=false``; temperature and top_p are kept inside the open interval (0, 1)), and
Zhipu's errors carry business codes that say more than the HTTP status: HTTP 429 means "slow down"
(1302) but also "account in arrears" (1113), which no retry can fix.

The SDK is synchronous (``httpx.Client``), so each call runs on its own daemon thread (see
:func:`_in_thread`). Its retries are off (the runner retries) and its response is read raw, as
the other providers do: the body is what the run file keeps, and reasoning arrives in fields or
tags that :func:`bsa.engine.reasoning.split_reasoning` handles.

Not sent: ``top_k`` and ``reasoning_effort`` (no Zhipu parameters; recorded in
``dropped_parameters``) and ``n`` (Zhipu returns one sample per request, so ``supports_n`` is
False). Streaming is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bsa.engine.reasoning import split_reasoning
from bsa.errors import MissingExtraError
from bsa.providers.base import (
    FatalError,
    Provider,
    ProviderError,
    TransientError,
    retry_after_seconds,
)
from bsa.providers.connection import Connection
from bsa.providers.context_overflow import is_context_overflow
from bsa.providers.http_errors import (
    Endpoint,
    HttpFailure,
    authentication_failed,
    classify_http,
)
from bsa.providers.usage_fields import detail_count
from bsa.types import Completion, Request, Usage

T = TypeVar("T")

DEFAULT_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"
#: The SDK's switch for "return the HTTP response unparsed" (zhipuai/core/_constants.py
#: RAW_RESPONSE_HEADER): the raw body, without the SDK's pydantic models dropping any field.
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
#: Decoding fields with no Zhipu parameter: never sent.
UNSENT_PARAMETERS = ("top_k", "reasoning_effort")
#: Finish reasons meaning the reply was cut short, so the split flags it truncated.
CUT_FINISH_REASONS = frozenset({"length", "model_context_window_exceeded"})

# Zhipu's business error codes: https://docs.bigmodel.cn/cn/api/api-code (rate limits explained at
# https://docs.bigmodel.cn/cn/api/rate-limit; 1301 at the content-safety guide, 内容安全).
#: 1301: the content-safety review refused the input or output; 1300: "API call blocked by
#: policy", the category code of the policy-block family (its other members are quotas).
CONTENT_FILTER_CODES = frozenset({"1300", "1301"})
# 1261, "Prompt 超长" (prompt too long), is in the shared table of bsa.providers.context_overflow.
#: 1302: concurrency too high; 1303: frequency too high; 1305: traffic limit (platform overload);
#: 1312: model overloaded, try later.
RATE_LIMIT_CODES = frozenset({"1302", "1303", "1305", "1312"})
#: 500: internal error; 1120: account unreachable, retry later; 1230: API call process error;
#: 1234: network error.
TRANSIENT_CODES = frozenset({"500", "1120", "1230", "1234"})
#: 1000-1004: authentication failed, missing, invalid or expired.
AUTH_CODES = frozenset({"1000", "1001", "1002", "1003", "1004"})
#: Codes no retry can fix, with what to do ({env}, {model} and {base_url} are filled in).
FATAL_HINTS = {
    "1110": "the Zhipu account of the key in ${env} is inactive: check the account",
    "1111": "the Zhipu account of the key in ${env} does not exist: check the key",
    "1112": "the Zhipu account of the key in ${env} is locked: contact Zhipu support",
    "1113": "the Zhipu account of the key in ${env} is in arrears: top it up, then rerun",
    "1121": "the Zhipu account of the key in ${env} is locked: contact Zhipu support",
    "1211": "model {model!r} does not exist at {base_url}: check --model (e.g. zhipuai:glm-z1-air)",
    "1220": "the key in ${env} may not use this API or model {model!r}",
    "1221": "this Zhipu API has been taken offline",
    "1222": "this Zhipu API does not exist: check --base-url ({base_url})",
    "1304": "today's call limit for this API is reached: rerun tomorrow",
    "1308": "a Zhipu usage limit is reached: rerun after it resets",
    "1309": "the GLM Coding Plan of the key in ${env} has expired",
    "1310": "the weekly or monthly Zhipu usage limit is reached: rerun after it resets",
    "1311": "the plan of the key in ${env} does not include model {model!r}",
    "1313": "the account of the key in ${env} is rate-restricted under Zhipu's fair-use policy",
}


class ZhipuAIProvider(Provider):
    name = "zhipuai"
    supports_n = False

    def __init__(self, model: str, connection: Connection) -> None:
        zhipuai, httpx = _import_sdk()
        self.model = model
        self.api_key_env = connection.api_key_env
        self.base_url = (
            connection.base_url or os.environ.get("ZHIPUAI_BASE_URL") or DEFAULT_BASE_URL
        )
        self.dropped_parameters: set[str] = set()
        self._sdk = zhipuai
        # Our own pool, sized like the other providers' (the SDK's keeps only 10 idle connections).
        pool = connection.max_connections
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self._http = httpx.Client(timeout=connection.timeout, limits=limits)
        self._client = zhipuai.ZhipuAI(
            api_key=connection.api_key,
            base_url=self.base_url,
            timeout=connection.timeout,
            max_retries=0,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        self._http.close()

    async def complete(self, request: Request) -> list[Completion]:
        if request.n > 1:
            raise FatalError(
                "the zhipuai provider asks for one sample per request (Zhipu has no n "
                "parameter): run without --use-n"
            )
        self._note_unsent(request)
        try:
            response = await _in_thread(lambda: self._create(request))
        except self._sdk.APIStatusError as error:
            raise self._classify_status(error) from error
        except self._sdk.APIConnectionError as error:  # includes APITimeoutError
            raise self._transport_error(error) from error
        return self.parse_response(_json_body(response))

    def _create(self, request: Request) -> Any:
        """One blocking SDK call; the raw-response header makes the SDK return the HTTP response
        instead of its parsed model."""
        decoding = request.decoding
        sampling = {
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "max_tokens": decoding.max_tokens,
            "seed": decoding.seed,
        }
        return self._client.chat.completions.create(
            model=self.model,
            messages=[m.as_dict() for m in request.messages],
            extra_headers={RAW_RESPONSE_HEADER: "true"},
            extra_body=dict(decoding.extra_body) or None,
            **{k: v for k, v in sampling.items() if v is not None},
        )

    def _note_unsent(self, request: Request) -> None:
        """Record the decoding fields asked for but never sent, so the run file says so."""
        for name in UNSENT_PARAMETERS:
            if getattr(request.decoding, name) is not None:
                self.dropped_parameters.add(name)

    def parse_response(self, data: Any) -> list[Completion]:
        """The completion in a response body; a body without one is an error outcome."""
        if not isinstance(data, Mapping):
            raise TransientError("malformed response body (not a JSON object)")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            if isinstance(data.get("error"), Mapping):
                raise self._classify(200, data, {}, "")
            raise TransientError("malformed response body (no choices)")
        return [_completion(data, choices[0])]

    def _classify_status(self, error: Any) -> ProviderError:
        response = error.response
        return self._classify(
            response.status_code, _parse_json(response.text), response.headers, response.text
        )

    def _classify(
        self, status: int, body: object, headers: Mapping[str, str], text: str
    ) -> ProviderError:
        """Map an HTTP status and Zhipu's error code to what the runner should do. The code
        decides first: Zhipu sends both rate limits and an empty balance as HTTP 429."""
        code, message = _error_fields(body, text or f"HTTP {status}")
        where = f"HTTP {status}, Zhipu code {code}" if code else f"HTTP {status}"
        endpoint = Endpoint(self.base_url, self.model, self.api_key_env)
        failure = HttpFailure(
            status,
            message,
            retry_after_seconds(headers),
            where,
            blocked=f"{message} (Zhipu code {code})" if code in CONTENT_FILTER_CODES else None,
            overflow=f"prompt too long for {self.model} ({where}): {message}"
            if is_context_overflow(message, code)
            else None,
            fatal=self._fatal(status, code, where, message, endpoint),
            rate_limited=code in RATE_LIMIT_CODES,
            transient=code in TRANSIENT_CODES,
        )
        return classify_http(failure, endpoint)

    def _fatal(
        self, status: int, code: str | None, where: str, message: str, endpoint: Endpoint
    ) -> str | None:
        """What Zhipu's code says no retry can fix, whatever the status: a bad key, an account
        or plan problem."""
        if status == 401 or code in AUTH_CODES:
            return authentication_failed(endpoint, where)
        if code in FATAL_HINTS:
            return f"{self._hint(code)} ({where}: {message})"
        return None

    def _hint(self, code: str) -> str:
        return FATAL_HINTS[code].format(
            env=self.api_key_env, model=self.model, base_url=self.base_url
        )

    def _transport_error(self, error: Any) -> TransientError:
        if isinstance(error, self._sdk.APITimeoutError):
            return TransientError(f"no response from {self.base_url} within the timeout")
        return TransientError(f"cannot connect to {self.base_url} ({error.__cause__ or error})")


def _import_sdk() -> tuple[Any, Any]:
    """The SDK and its HTTP library, imported only when the provider is built, so ``import bsa``
    never needs the optional extra."""
    try:
        import httpx  # type: ignore[import-not-found,unused-ignore]
        import zhipuai  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as error:
        raise MissingExtraError("the zhipuai provider", "zhipuai") from error
    return zhipuai, httpx


async def _in_thread(call: Callable[[], T]) -> T:
    """Run a blocking SDK call on a daemon thread of its own and await its result.

    Not ``asyncio.to_thread``: the default executor has min(32, CPUs + 4) threads, which would
    quietly cap ``--concurrency``, and its threads are joined at exit, so Ctrl-C would wait for
    every call in flight. A thread per call costs microseconds against calls of seconds; a call
    the runner gave up on (timeout, Ctrl-C) finishes in the background and is ignored.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result = call()
        except Exception as error:  # handed to the awaiting coroutine, which raises it
            _post(loop, _reject, future, error)
        else:
            _post(loop, _resolve, future, result)

    threading.Thread(target=run, name="zhipuai-call", daemon=True).start()
    return await future


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while the call ran
        loop.call_soon_threadsafe(callback, *args)


def _resolve(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # not cancelled by a timeout meanwhile
        future.set_result(result)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _json_body(response: Any) -> Any:
    """The body as JSON: ``response`` is the SDK's raw response when it honours the raw-response
    header, its parsed model otherwise (a future SDK that drops the header)."""
    content = getattr(response, "content", None)
    if isinstance(content, bytes):
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError) as error:
            raise TransientError(f"malformed response body ({error})") from error
    if hasattr(response, "model_dump"):
        return response.model_dump()
    raise TransientError("malformed response body (not JSON)")


def _completion(data: Mapping[str, Any], choice: Any) -> Completion:
    """A choice as a completion. GLM-Z1 thinks in ``<think>`` tags in the content, later GLM
    models in ``reasoning_content``; ``split_reasoning`` reads both. Zhipu's finish reason
    "sensitive" (output stopped by its content review) becomes "content_filter", stored as
    blocked; "network_error" (inference failed) is worth another try."""
    if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
        raise TransientError("malformed response body (choice without a message)")
    finish = choice.get("finish_reason")
    if finish == "network_error":
        raise TransientError("Zhipu reported a model inference error (finish_reason network_error)")
    split = split_reasoning(choice["message"], "length" if finish in CUT_FINISH_REASONS else finish)
    finish_reason = "content_filter" if finish == "sensitive" else finish
    usage = _usage(data.get("usage"))
    return Completion(
        split.answer,
        split.reasoning,
        split.source,
        finish_reason,
        split.truncated,
        usage,
        dict(data),
    )


def _usage(usage: object) -> Usage:
    if not isinstance(usage, Mapping):
        return Usage()
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    return Usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(reasoning),
        cached_tokens=detail_count(usage, "prompt_tokens_details", "cached_tokens"),
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _error_fields(body: object, fallback: str) -> tuple[str | None, str]:
    """Zhipu's error code and message from ``{"error": {"code": "1301", "message": ...}}``, the
    message on one line."""
    inner = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        return None, _one_line(fallback)[:300]
    code = inner.get("code")
    message = inner.get("message")
    text = message if isinstance(message, str) and message.strip() else fallback
    return (None if code is None else str(code)), _one_line(text)[:500]


def _one_line(text: str) -> str:
    return " ".join(text.split())
