"""What the JSON-over-HTTP vendor fakes (Anthropic, OpenAI Responses, Gemini) share: replies
scripted per prompt, a log of every request, and one handler that writes a :class:`Reply`.

A vendor's fake says only what differs: where the prompt is in a request body, what the real API
would refuse, and its default answer (:meth:`ScriptedFake.check`, :meth:`ScriptedFake.prompt_of`,
``respond``), how a reply goes on the wire (:meth:`ScriptedFake.shape`, for a streamed request),
and what its request log records (``record``: :class:`Received` or a subclass that reads more).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, Generic, TypeVar

from bsa.providers.mock import mock_judge_reply

from .loopback import serve_loopback

#: The ``Content-Type`` of a Server-Sent Events body.
EVENT_STREAM = "text/event-stream"
#: The reasoning a fake judge shows before its verdict.
JUDGE_REASONING = "I compare the text with the criteria."


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. ``delay`` holds it back (for timeouts); ``drop`` closes the connection
    without any answer."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    def content(self) -> bytes:
        """The body as sent: JSON with ``\\uXXXX`` escapes, so lone surrogates survive the wire."""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: The request's last user message, as its vendor's fake reads it.
    prompt: str


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    """Server-Sent Events as vendors send them: ``event:`` and ``data:`` lines, a blank line
    after each."""
    lines = [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events]
    return "".join(lines).encode()


def event_stream(events: list[tuple[str, dict[str, Any]]]) -> Reply:
    """A 200 reply whose body is these events."""
    return Reply(200, sse(events), {"Content-Type": EVENT_STREAM})


def last_user_turn(turns: object) -> str:
    """The text of the last user turn in a list of ``{"role", "content"}`` turns (content as a
    string or as a list of text parts)."""
    for turn in reversed(turns if isinstance(turns, list) else []):
        if isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


def expected_texts(prompt: str) -> tuple[str, str]:
    """The default (reasoning, answer) for a prompt that is no judge prompt."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    head = " ".join(prompt.split()[:6])
    return (
        f"The user asks: {head}. I should weigh the risks before answering ({digest}).",
        f"Here is a careful answer about {head} ({digest}).",
    )


R = TypeVar("R", bound=Received)


def default_texts(prompt: str) -> tuple[str, str]:
    """The (reasoning, answer) a fake gives by default: the mock judge's verdict to a BSA judge
    prompt, :func:`expected_texts` to anything else."""
    verdict = mock_judge_reply(prompt)
    return (JUDGE_REASONING, verdict) if verdict is not None else expected_texts(prompt)


class ScriptedFake(Generic[R]):
    """A vendor fake's state: its key, the models it knows (any, when empty), its replies, and
    every request it received."""

    #: What a request is logged as (a class attribute in each vendor's fake).
    record: type[R]

    #: The key a request must carry unless the fake is made with another.
    test_key: ClassVar[str] = ""

    @staticmethod
    def prompt_of(body: dict[str, Any]) -> str:
        """The last user message of a request body."""
        raise NotImplementedError

    @staticmethod
    def default_reply(body: dict[str, Any]) -> Reply:
        """The answer to a request no script covers."""
        raise NotImplementedError

    def __init__(
        self,
        *,
        api_key: str | None = None,
        respond: Callable[[dict[str, Any]], Reply] | None = None,
        models: tuple[str, ...] = (),
    ) -> None:
        self.api_key = api_key or self.test_key
        self.respond = respond or self.default_reply
        self.models = models
        self.requests: list[R] = []
        self.base_url = ""
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()

    def check(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        """The error the real API would answer this request with, or None."""
        raise NotImplementedError

    def unreadable(self) -> Reply:
        """The answer to a request body that is not a JSON object."""
        raise NotImplementedError

    def shape(self, body: dict[str, Any], reply: Reply) -> Reply:
        """The reply as it goes on the wire for this request (a stream when asked for one)."""
        return reply

    def script(self, prompt: str, *replies: Reply) -> None:
        """Serve ``replies`` in order to requests whose last user message is ``prompt``."""
        with self._lock:
            self._scripts.setdefault(prompt, []).extend(replies)

    def calls(self) -> Counter[str]:
        """Requests received per prompt."""
        with self._lock:
            return Counter(r.prompt for r in self.requests)

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.unreadable()
        refusal = self.received(path, headers, body)
        return refusal or self.shape(body, self.next_reply(body))

    def received(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        """Log a request (a live call, or one request of a batch) and return the error the real
        API would answer it with, or None."""
        with self._lock:
            self.requests.append(self.record(path, headers, body, self.prompt_of(body)))
        return self.check(path, headers, body)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        """The reply scripted next for the request's prompt, else the default one."""
        with self._lock:
            queue = self._scripts.get(self.prompt_of(body))
            scripted = queue.pop(0) if queue else None
        return scripted or self.respond(body)

    def answer_get(self, path: str, headers: dict[str, str]) -> Reply:
        """The answer to a GET; the JSON APIs these fakes speak are all POST unless a fake
        says otherwise (the OpenAI batch fake's polls and downloads)."""
        return Reply(404, {"error": {"message": f"no route GET {path}"}})

    def answer_delete(self, path: str, headers: dict[str, str]) -> Reply:
        """The answer to a DELETE (the OpenAI batch fake's file deletions)."""
        return Reply(404, {"error": {"message": f"no route DELETE {path}"}})

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on an ephemeral loopback port for the duration; yield the base URL."""
        with serve_loopback(_handler_for(self)) as root:
            self.base_url = root
            yield self.base_url


def _handler_for(fake: ScriptedFake[Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            try:
                super().handle()
            except ConnectionResetError:  # the client left mid-exchange (a test cancelled it)
                self.close_connection = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(fake.answer(self.path, self._headers(), raw))

        def do_GET(self) -> None:
            self._send(fake.answer_get(self.path, self._headers()))

        def do_DELETE(self) -> None:
            self._send(fake.answer_delete(self.path, self._headers()))

        def _headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def _send(self, reply: Reply) -> None:
            time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            content = reply.content()
            try:
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the request log instead."""

    return Handler
