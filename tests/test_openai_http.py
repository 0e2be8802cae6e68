"""The ``openai:`` client's own HTTP (bsa.providers.openai_http), over real loopback HTTP: what
it sends, how it reads a stream whatever its line ends and chunks, where it posts when the base
URL has a query, what a dropped connection is called, the proxy the environment names, and that
a stream's connection is reused. What the SDK path did is in test_wire_quirks.py,
test_openai_errors.py and test_providers_e2e.py, which run unchanged."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest

from bsa.providers.base import RateLimited, TransientError
from bsa.providers.connection import Connection
from bsa.providers.openai_compat import OpenAICompatible
from bsa.providers.openai_http import _EventReader
from bsa.types import Completion, Decoding, Message, Request
from tests.loopback import serve_loopback

REPLY = {
    "id": "c1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
}  # fmt: skip
#: A stream with every line end SSE allows, a comment, a two-line data field, an event name, an
#: error-free [DONE] and, after it, bytes that are not events.
STREAM = (
    b": keep-alive\r\n\r\n"
    b'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}\r\n\r\n'
    b'event: chunk\rdata: {"id": "c1", "choices": [{"index": 0,\rdata: "delta": {"content": "lo"}}]}\r\r'
    b'data: {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]\n\n"
    b"not an event\n\n"
)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every POST with ``body`` (JSON, or an event stream), keeping the connection open;
    records each request's path, headers and body, and the client port it came from."""

    protocol_version = "HTTP/1.1"
    requests: ClassVar[list[dict[str, Any]]] = []
    body: ClassVar[bytes] = json.dumps(REPLY).encode()
    content_type: ClassVar[str] = "application/json"

    def do_POST(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append(
            {"path": self.path, "headers": self.headers, "body": sent, "port": self.client_address[1]}
        )  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[type[_Recorder]]:
    class Recorder(_Recorder):
        requests: ClassVar[list[dict[str, Any]]] = []

    yield Recorder


def ask(base_url: str, *, stream: bool = False, calls: int = 1) -> list[list[Completion]]:
    """``calls`` requests one after another through one provider, closed at the end."""
    provider = OpenAICompatible("m", Connection("sk-test-key", "K", base_url), stream=stream)
    request = Request((Message("user", "Hé"),), Decoding(top_k=None))

    async def run() -> list[list[Completion]]:
        try:
            return [await provider.complete(request) for _ in range(calls)]
        finally:
            await provider.aclose()

    return asyncio.run(run())


def test_a_request_carries_the_key_the_environment_s_organization_and_compact_json(
    recorder: type[_Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-7")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-7")
    with serve_loopback(recorder) as url:
        [[completion]] = ask(f"{url}/v1")
    assert completion.answer == "Hi"
    [sent] = recorder.requests
    assert sent["path"] == "/v1/chat/completions"
    headers = sent["headers"]  # read case-insensitively
    assert headers["authorization"] == "Bearer sk-test-key"
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-7", "proj-7")
    assert headers["content-type"] == "application/json"
    assert (
        sent["body"]
        == (
            '{"model":"m","messages":[{"role":"user","content":"Hé"}],"temperature":0.6,"top_p":0.95}'
        ).encode()
    )


def test_a_base_url_query_stays_a_query(recorder: type[_Recorder]) -> None:
    """Azure-style endpoints take ``?api-version=``: the SDK appended the path to the query."""
    with serve_loopback(recorder) as url:
        ask(f"{url}/openai/v1?api-version=2025-01-01")
    assert recorder.requests[0]["path"] == "/openai/v1/chat/completions?api-version=2025-01-01"


def test_a_stream_is_read_whatever_its_line_ends_and_its_connection_is_reused(
    recorder: type[_Recorder],
) -> None:
    recorder.body, recorder.content_type = STREAM, "text/event-stream"
    with serve_loopback(recorder) as url:
        replies = ask(f"{url}/v1", stream=True, calls=3)
    assert [completion.answer for [completion] in replies] == ["Hello"] * 3
    assert replies[0][0].finish_reason == "stop"
    # What followed [DONE] was read, not left on the connection: all three calls used one.
    assert len({sent["port"] for sent in recorder.requests}) == 1


def test_a_stream_split_anywhere_reads_the_same() -> None:
    whole = list(_EventReader("u").payloads(STREAM))
    assert [event["choices"][0]["delta"] for event in whole] == [
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    for cut in range(1, len(STREAM)):
        reader = _EventReader("u")
        events = list(reader.payloads(STREAM[:cut]))
        if not reader.done:
            events += reader.payloads(STREAM[cut:])
        assert events == whole, cut


class _GzippedRateLimit(BaseHTTPRequestHandler):
    """A 429 whose JSON body is gzip-encoded, as CDNs in front of APIs send it."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = gzip.compress(json.dumps({"error": {"message": "Slow down"}}).encode())
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_compressed_error_body_is_read_once() -> None:
    with serve_loopback(_GzippedRateLimit) as url, pytest.raises(RateLimited) as caught:
        ask(f"{url}/v1")
    assert caught.value.retry_after == 3.0 and "Slow down" in caught.value.message


class _Hangup(BaseHTTPRequestHandler):
    """Reads the request, then closes the connection without a word."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_a_dropped_connection_is_called_so_not_a_timeout() -> None:
    """The SDK's aiohttp transport reported every aiohttp connection error as a timeout."""
    with serve_loopback(_Hangup) as url, pytest.raises(TransientError) as caught:
        ask(f"{url}/v1")
    assert caught.value.message.startswith(f"connection to {url}/v1 failed (")
    assert "timed out" not in caught.value.message


def test_the_proxy_the_environment_names_is_used(
    recorder: type[_Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_loopback(recorder) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        [[completion]] = ask("http://api.example.invalid/v1")
    assert completion.answer == "Hi"
    assert recorder.requests[0]["path"] == "http://api.example.invalid/v1/chat/completions"


def test_a_provider_serves_one_stage_after_another(recorder: type[_Recorder]) -> None:
    """Each stage runs in its own event loop and closes the provider at its end (the SDK's
    client stayed closed)."""
    request = Request((Message("user", "Hi"),), Decoding())

    async def stage(provider: OpenAICompatible) -> list[Completion]:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    with serve_loopback(recorder) as url:
        provider = OpenAICompatible("m", Connection("k", "K", f"{url}/v1"))
        answers = [asyncio.run(stage(provider))[0].answer for _ in range(2)]
    assert answers == ["Hi", "Hi"]
