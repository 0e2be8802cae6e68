"""A loopback server that speaks Anthropic's Messages API as the official SDK calls it.

``POST /v1/messages`` with an API key (the SDK sends ``Authorization: Bearer`` since version 2;
``x-api-key`` is what older SDKs and the API docs use, so both are accepted) and an
``anthropic-version`` header. It checks what the real API checks about extended thinking (a
budget of at least 1024 below ``max_tokens``, no sampling settings beside it, no system turns in
``messages``) so a request it accepts is one the real API would accept, and answers with content
blocks ``thinking`` (with a signature), ``redacted_thinking`` and ``text``, a ``stop_reason`` and a
``usage``; errors come as ``{"type": "error", "error": {"type": ..., "message": ...}}``.

By default it answers a BSA judge prompt as the mock judge does (:func:`mock_judge_reply`) and
anything else with a thinking block and an answer derived from the prompt. :meth:`script` queues
other replies for one prompt (errors, refusals, hangs), served in order before the default.
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
from typing import Any

from bsa.providers.mock import mock_judge_reply

from .loopback import serve_loopback

TEST_KEY = "sk-ant-test-key"
MIN_BUDGET = 1024
SAMPLING_FIELDS = ("temperature", "top_p", "top_k")


@dataclass(frozen=True)
class Reply:
    """One HTTP answer. ``delay`` holds it back (for timeouts); ``drop`` closes the connection
    without any answer."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        return last_user_text(self.body)


def thinking(text: str) -> dict[str, Any]:
    signature = hashlib.sha256(text.encode()).hexdigest()
    return {"type": "thinking", "thinking": text, "signature": f"sig-{signature[:32]}"}


def redacted(data: str = "EncryptedReasoningOpaqueBytes==") -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": data}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def message(
    *blocks: dict[str, Any],
    stop_reason: str = "end_turn",
    input_tokens: int = 25,
    output_tokens: int = 60,
    model: str = "claude-test",
    **extra: Any,
) -> Reply:
    """A successful Messages API response with these content blocks."""
    body = {
        "id": "msg_" + hashlib.sha256(json.dumps(blocks).encode()).hexdigest()[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(blocks),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        **extra,
    }
    return Reply(200, body)


def error(status: int, kind: str, detail: str, retry_after: str | None = None) -> Reply:
    """An API error as Anthropic sends it, optionally with a ``retry-after`` header."""
    body = {"type": "error", "error": {"type": kind, "message": detail}, "request_id": "req_test"}
    headers = {"request-id": "req_test"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Reply(status, body, headers)


def last_user_text(body: dict[str, Any]) -> str:
    for turn in reversed(body.get("messages") or []):
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


def default_reply(body: dict[str, Any]) -> Reply:
    prompt = last_user_text(body)
    verdict = mock_judge_reply(prompt)
    if verdict is not None:
        return message(thinking("I compare the text with the criteria."), text(verdict))
    reasoning, answer = expected_texts(prompt)
    return message(thinking(reasoning), text(answer))


def request_problem(body: dict[str, Any]) -> str | None:
    """Why the real API would reject this body with a 400, or None."""
    if not isinstance(body.get("model"), str) or not isinstance(body.get("max_tokens"), int):
        return "model: Field required; max_tokens: Field required"
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        return "messages: at least one message is required"
    roles = {str(t.get("role")) for t in turns if isinstance(t, dict)}
    if not roles <= {"user", "assistant"}:
        return f"messages: Unexpected role {sorted(roles - {'user', 'assistant'})}"
    config = body.get("thinking") or {}
    if config.get("type") == "enabled":
        budget = config.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            return f"thinking.enabled.budget_tokens: Input should be >= {MIN_BUDGET}"
        if budget >= body["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
        sent = [name for name in SAMPLING_FIELDS if name in body]
        if sent:
            return f"{sent[0]} may not be set when thinking is enabled"
    return None


class FakeAnthropic:
    """The server's state: its replies, and every request it received."""

    def __init__(
        self,
        *,
        api_key: str = TEST_KEY,
        respond: Callable[[dict[str, Any]], Reply] = default_reply,
        models: tuple[str, ...] = (),
    ) -> None:
        self.api_key = api_key
        self.respond = respond
        self.models = models
        self.requests: list[Received] = []
        self.base_url = ""
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()

    def script(self, prompt: str, *replies: Reply) -> None:
        """Serve ``replies`` in order to requests whose last user message is ``prompt``."""
        with self._lock:
            self._scripts.setdefault(prompt, []).extend(replies)

    def calls(self) -> Counter[str]:
        """Requests received per prompt."""
        with self._lock:
            return Counter(r.prompt for r in self.requests)

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if path != "/v1/messages":
            return error(404, "not_found_error", f"no route {path}")
        try:
            body = json.loads(raw)
        except ValueError:
            return error(400, "invalid_request_error", "request body is not valid JSON")
        with self._lock:
            self.requests.append(Received(headers, body))
        refusal = self._check(headers, body)
        if refusal is not None:
            return refusal
        with self._lock:
            queue = self._scripts.get(last_user_text(body))
            scripted = queue.pop(0) if queue else None
        return scripted or self.respond(body)

    def _check(self, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        keys = {headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer ")}
        if self.api_key not in keys:
            return error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version header is required")
        problem = request_problem(body)
        if problem is not None:
            return error(400, "invalid_request_error", problem)
        if self.models and body["model"] not in self.models:
            return error(404, "not_found_error", f"model: {body['model']}")
        return None

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on an ephemeral loopback port for the duration; yield the base URL."""
        with serve_loopback(_handler_for(self)) as root:
            self.base_url = root
            yield self.base_url


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = fake.answer(self.path, headers, raw)
            time.sleep(reply.delay)
            if reply.drop:
                self.close_connection = True
                return
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
            content = payload.encode() if isinstance(payload, str) else payload
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
