"""Run a stdlib HTTP handler on an ephemeral 127.0.0.1 port for the length of a ``with`` block.

The fake vendor servers (Hugging Face Hub, Anthropic, Zhipu, Gemini) differ in what they say, not in
how they listen; this is the one place that starts and stops them. :func:`json_handler` is the
plain JSON request/reply loop a fake needs when it has nothing else to do on the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, TypeVar


@contextmanager
def serve_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` while ``handler`` answers there; stop it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class Reply:
    """One JSON-over-HTTP answer. ``delay`` holds it back (for timeouts); ``drop`` closes the
    connection without any answer."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    def content(self) -> bytes:
        """The body as sent: JSON with ``\\uXXXX`` escapes, so lone surrogates survive the wire."""
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


#: What a fake server does with a POST: (path, lower-cased headers, raw body) -> its reply.
Answer = Callable[[str, dict[str, str], bytes], Reply]


def json_handler(answer: Answer) -> type[BaseHTTPRequestHandler]:
    """A handler that passes every POST to ``answer`` and sends back its :class:`Reply`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = answer(self.path, headers, raw)
            time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
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
            """Quiet: tests read the fake's request log instead."""

    return Handler


class Logged(Protocol):
    """A request as a fake logged it: what it asked, by its last user turn."""

    @property
    def prompt(self) -> str: ...


R = TypeVar("R", bound=Logged)


class ScriptedServer(Generic[R]):
    """What every scripted fake vendor keeps: the requests it received, replies queued per prompt
    (errors, blocks, hangs) and served in order before its default, and its base URL while it
    listens. A subclass reads its vendor's wire format in :meth:`answer`."""

    def __init__(self) -> None:
        self.requests: list[R] = []
        self.base_url = ""
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()

    def script(self, prompt: str, *replies: Reply) -> None:
        """Serve ``replies`` in order to requests whose last user turn is ``prompt``."""
        with self._lock:
            self._scripts.setdefault(prompt, []).extend(replies)

    def calls(self) -> Counter[str]:
        """Requests received per prompt."""
        with self._lock:
            return Counter(r.prompt for r in self.requests)

    def log(self, received: R) -> None:
        with self._lock:
            self.requests.append(received)

    def scripted(self, prompt: str) -> Reply | None:
        """The next reply queued for ``prompt``, if any."""
        with self._lock:
            queue = self._scripts.get(prompt)
            return queue.pop(0) if queue else None

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        raise NotImplementedError

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on an ephemeral loopback port for the duration; yield the base URL."""
        with serve_loopback(json_handler(self.answer)) as root:
            self.base_url = root
            yield self.base_url
