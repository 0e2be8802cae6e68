"""The OpenAI wire protocol over one persistent aiohttp session: POST a JSON body, get the
response bytes or its server-sent events as plain JSON objects.

Why not the OpenAI SDK's own request path: at a few hundred calls in flight it was half of the
client's CPU (benchmarks/generation.py). Each call built an httpx request (URL and header
models, a deep copy of the options) that its aiohttp transport then turned back into an aiohttp
one. Here the URL, the headers and the proxy are worked out once, the body is encoded once, and
the bytes go straight to aiohttp.

What the SDK did that callers rely on is kept: a response outside 2xx becomes the SDK's own
status error (``openai.BadRequestError`` for a 400, …, body and message read as the SDK read
them), an error event inside a stream its ``APIError``, a failed connection or a timeout its
``APIConnectionError`` or ``APITimeoutError`` chained to aiohttp's error; the same headers
(``Authorization``, and ``OpenAI-Organization`` and ``OpenAI-Project`` from ``OPENAI_ORG_ID``
and ``OPENAI_PROJECT_ID``), the same timeout (to connect and per read; the runner bounds the
whole call), redirects followed, and the proxy the environment names. The SDK is imported for
its exception types only: ``--debug`` shows the same chained exception, and code that catches
``openai.APIStatusError`` still does. Two things differ, on purpose: a query in the base URL
stays a query (the SDK appended the path to it), and a dropped connection is called so (the
SDK's aiohttp transport called it a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import urllib.request
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import openai
import yarl

try:  # the HTTP library the installed SDK's exceptions are built on: httpx2 from openai 3
    import httpx2 as http_lib
except ImportError:  # pragma: no cover - older openai SDKs
    import httpx as http_lib  # type: ignore[no-redef,import-not-found,unused-ignore]

from bsa import __version__
from bsa.providers.connection import Limits

#: How long the rest of a stream is read after ``[DONE]`` so its connection can be reused (the
#: SDK's own bound): a server that keeps sending after it only loses the connection.
DRAIN_SECONDS = 0.1
#: How long an idle pooled connection is kept (httpx's default, which the SDK used).
KEEPALIVE_SECONDS = 5.0
#: The environment variables the SDK read for these headers.
ENV_HEADERS = (("OpenAI-Organization", "OPENAI_ORG_ID"), ("OpenAI-Project", "OPENAI_PROJECT_ID"))
#: What aiohttp raises for a connection that failed or a server that went silent.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class OpenAIHttp:
    """One endpoint's HTTP client: a session per event loop, pooled to ``limits``."""

    def __init__(self, base_url: str, api_key: str, limits: Limits) -> None:
        self.base_url = base_url
        self._limits = limits
        self._headers = request_headers(api_key)
        self._proxy = environment_proxy(base_url)
        self._urls: dict[str, yarl.URL] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, path: str, body: Mapping[str, Any]) -> bytes:
        """The body of a 2xx response to ``body`` posted at ``path``; else the SDK's errors."""
        url = self._url(path)
        try:
            async with self._post(url, body) as response:
                content = await response.read()
        except TRANSPORT_ERRORS as error:
            raise connection_error(error, str(url)) from error
        if not 200 <= response.status < 300:
            raise status_error(response.status, response.headers, content, str(url))
        return content

    async def events(self, path: str, body: Mapping[str, Any]) -> AsyncGenerator[Any, None]:
        """The JSON events of a streamed response, up to ``[DONE]`` or the end of the body."""
        url = self._url(path)
        try:
            async with self._post(url, body) as response:
                if not 200 <= response.status < 300:
                    content = await response.read()
                    raise status_error(response.status, response.headers, content, str(url))
                reader = _EventReader(str(url))
                async for chunk in response.content.iter_any():
                    for payload in reader.payloads(chunk):
                        yield payload
                    if reader.done:
                        break
                await _drain(response.content)
        except TRANSPORT_ERRORS as error:
            raise connection_error(error, str(url)) from error

    def _url(self, path: str) -> yarl.URL:
        """``path``'s URL, parsed once (aiohttp would parse a string on every call)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = yarl.URL(endpoint_url(self.base_url, path), encoded=True)
        return url

    def _post(
        self, url: yarl.URL, body: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        data = encode_body(body)
        return self._current_session().post(
            url, data=data, headers=self._headers, proxy=self._proxy
        )

    def _current_session(self) -> aiohttp.ClientSession:
        """The session of the running loop: a stage runs in its own ``asyncio.run``, and an
        aiohttp session cannot outlive the loop it was made in."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            self._session, self._loop = new_session(self._limits), loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()


def endpoint_url(base_url: str, path: str) -> str:
    """``path`` under the base URL, whose query (``?api-version=``) is kept."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + path.lstrip("/")))


def new_session(limits: Limits) -> aiohttp.ClientSession:
    """A session pooled to the stage's concurrency, with the SDK's timeout: ``timeout_s`` to
    connect and between two reads, none on the whole call."""
    connector = aiohttp.TCPConnector(
        limit=limits.max_connections, keepalive_timeout=KEEPALIVE_SECONDS
    )
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=limits.timeout_s,
        sock_connect=limits.timeout_s,
        sock_read=limits.timeout_s,
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


def request_headers(api_key: str) -> dict[str, str]:
    """Every request's headers, built once."""
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"bsa-bench/{__version__}",
    }
    for header, variable in ENV_HEADERS:
        value = os.environ.get(variable)
        if value:
            headers[header] = value
    return headers


def environment_proxy(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``, ``HTTP_PROXY`` or ``ALL_PROXY`` names for ``url``, unless
    ``NO_PROXY`` exempts its host (httpx honoured them for the SDK). Read once: aiohttp's own
    ``trust_env`` would also look each request's host up in ``~/.netrc`` on a thread."""
    parts = urlsplit(url)
    # Untyped in typeshed; on every platform it reads NO_PROXY, as httpx did.
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all")


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The request body as the SDK encoded it: UTF-8, compact, no NaN."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode()


def status_error(
    status: int, headers: Mapping[str, str], content: bytes, url: str
) -> openai.APIStatusError:
    """The SDK's error for a response outside 2xx: its class by status, its message (the
    status and the body's ``error.message``), its ``body`` (the parsed ``error`` object, else the
    body's JSON, else its text), and the response's headers (Retry-After)."""
    text = content.decode("utf-8", errors="replace").strip()
    body: object = text
    message = f"Error code: {status}"
    try:
        body = json.loads(text)
    except ValueError:
        pass
    else:
        inner = body.get("error", body) if isinstance(body, Mapping) else None
        words = inner.get("message") if isinstance(inner, Mapping) else None
        if isinstance(words, str) and words:
            message += f" - {words}"
    if isinstance(body, Mapping):
        body = body.get("error", body)
    # aiohttp has decoded the body already: httpx would decode it again by Content-Encoding.
    kept = [(k, v) for k, v in headers.items() if k.lower() != "content-encoding"]
    response = http_lib.Response(status, headers=kept, content=content, request=_request(url))
    return _status_class(status)(message, response=response, body=body)


def _status_class(status: int) -> type[openai.APIStatusError]:
    classes: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    if status >= 500:
        return openai.InternalServerError
    return classes.get(status, openai.APIStatusError)


def connection_error(error: BaseException, url: str) -> openai.APIConnectionError:
    """The SDK's error for a call that got no complete response; a timeout is its own kind."""
    if isinstance(error, asyncio.TimeoutError):
        return openai.APITimeoutError(request=_request(url))
    return openai.APIConnectionError(request=_request(url))


def _request(url: str) -> Any:
    return http_lib.Request("POST", url)


class _EventReader:
    """A stream's JSON events out of its chunks, as the SDK's decoder and stream read them (the
    WHATWG event-stream rules: lines end at CR, LF or CRLF, a blank line ends an event, an
    unfinished last event is dropped; ``[DONE]`` ends the stream; an event whose data holds an
    ``error`` is the SDK's ``APIError``; data that is not JSON raises ``ValueError``). One sync
    pass per chunk: a streamed reply is one event per few tokens, so each layer of async
    iteration per event would cost more than the parsing."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: Whether ``[DONE]`` came: what follows it is not read as events.
        self.done = False
        self._lines = _LineSplitter()
        self._fields = _EventFields()

    def payloads(self, chunk: bytes) -> Iterator[Any]:
        for line in self._lines.feed(chunk):
            event = self._fields.take(line.decode("utf-8"))
            if event is None:
                continue
            name, data = event
            if data.startswith("[DONE]"):
                self.done = True
                return
            yield self._payload(name, data)

    def _payload(self, name: str | None, data: str) -> Any:
        payload = json.loads(data)
        if name and name.startswith("thread."):  # the SDK's Assistants events, passed as is
            return {"data": payload, "event": name}
        if isinstance(payload, dict) and payload.get("error"):
            error = payload["error"]
            message = error.get("message") if isinstance(error, dict) else None
            if not message or not isinstance(message, str):
                message = "An error occurred during streaming"
            raise openai.APIError(message, _request(self.url), body=error)
        return payload


class _LineSplitter:
    """Complete lines out of chunks, whatever line ends they use (a CRLF may be split between
    two chunks)."""

    def __init__(self) -> None:
        self._pending = b""
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        lines = (self._pending + chunk if self._pending else chunk).splitlines(keepends=True)
        self._pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        # A chunk that ends in CR may have its LF at the start of the next one.
        self._skip_lf = chunk.endswith(b"\r")
        return [line.rstrip(b"\r\n") for line in lines]


class _EventFields:
    """The SDK's SSE field rules, line by line (``openai._streaming.SSEDecoder``)."""

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._last_id: str | None = None
        self._retry: int | None = None

    def take(self, line: str) -> tuple[str | None, str] | None:
        """The event (its name and data) that ``line`` ends, if it ends one."""
        if not line:
            if not (self._event or self._data or self._last_id or self._retry is not None):
                return None
            event = (self._event or None, "\n".join(self._data))
            self._event, self._data, self._retry = None, [], None  # the id stays (the spec)
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._last_id = value
        elif field == "retry":
            self._retry = _integer(value, self._retry)
        return None


def _integer(text: str, otherwise: int | None) -> int | None:
    try:
        return int(text)
    except ValueError:
        return otherwise


async def _drain(content: aiohttp.StreamReader) -> None:
    """Read what follows ``[DONE]`` (the chunked body's end, usually) so the connection goes
    back to the pool instead of being closed."""
    if content.at_eof():
        return
    with contextlib.suppress(asyncio.TimeoutError, aiohttp.ClientError):
        await asyncio.wait_for(content.read(), DRAIN_SECONDS)
