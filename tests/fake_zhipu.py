"""A loopback stand-in for the Zhipu open platform (v4) chat completions API, for testing the
``zhipuai`` provider through the real ``zhipuai`` SDK without the internet or a key.

It speaks what the SDK (2.1.x) sends and expects:

* ``POST {base}/chat/completions`` with a JSON body (``model``, ``messages``, ``temperature``,
  ``top_p``, ``do_sample``, ``max_tokens``, ``seed``, ...), ``base`` being ``/api/paas/v4``;
* ``Authorization: Bearer <API key>`` (the SDK's default), or ``Bearer <JWT>`` when the SDK's
  token cache is on: HS256, signed with the secret of the ``id.secret`` key, header
  ``sign_type: SIGN``, payload ``api_key`` (the id), ``exp`` and ``timestamp`` in milliseconds;
* replies ``{"id", "request_id", "created", "model", "choices": [{"index", "finish_reason",
  "message": {"role", "content"[, "reasoning_content"]}}], "usage": {...}}``;
* errors ``{"error": {"code": "1301", "message": "..."}}`` with the HTTP status Zhipu uses
  (codes and messages from https://docs.bigmodel.cn/cn/api/api-code).

What a request gets is chosen by markers in its last user message (removed before the reply text
is derived from it):

* ``[[style:think_tags]]`` (the default: GLM-Z1 puts its reasoning in ``<think>`` tags),
  ``[[style:reasoning_content]]`` (GLM-4.5 and later), ``[[style:none]]``;
* ``[[finish:REASON]]``: the reply's finish reason, e.g. ``sensitive`` or ``network_error``;
* ``[[error:CODE]]``, ``[[error:CODE:COUNT]]``, ``[[error:CODE:COUNT:RETRY_AFTER]]``: the first
  COUNT (default 1, ``*`` = every) requests with this message get Zhipu error CODE (one of
  :data:`ERRORS`), with a ``Retry-After`` header if given; later ones succeed;
* ``[[fault:hang]]`` (answer after :attr:`FakeZhipu.hang_s`), ``[[fault:disconnect]]`` (close the
  connection unanswered), ``[[fault:broken_json]]`` (a 200 whose body is not JSON).

A ``respond`` hook may supply the reply text instead (e.g. a judge's verdict).
"""

# Zhipu's messages are Chinese text with fullwidth punctuation, kept as the platform sends them.
# ruff: noqa: RUF001

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import serve_loopback

API_PATH = "/api/paas/v4"
TEST_KEY = "fake-id.fake-secret"
MODELS = ("glm-z1-air", "glm-4-plus", "glm-4.5")

#: Zhipu's errors by business code: (HTTP status, message).
ERRORS: dict[str, tuple[int, str]] = {
    "500": (500, "Internal Error"),
    "1001": (401, "Header中未收到Authentication参数，无法进行身份验证。"),
    "1002": (401, "Authentication Token非法，请确认Authentication Token正确传递。"),
    "1003": (401, "Authentication Token已过期，请重新生成/获取。"),
    "1113": (429, "您的账户已欠费，请充值后重试。"),
    "1211": (400, "模型不存在，请检查模型代码。"),
    "1214": (400, "max_tokens参数非法。请检查文档。"),
    "1261": (400, "Prompt 超长"),
    "1300": (400, "API 调用被策略阻止"),
    "1301": (
        400,
        "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。",
    ),
    "1302": (429, "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"),
    "1303": (429, "您当前使用该API的频率过高，请降低频率，或联系客服增加限额。"),
    "1304": (429, "该API已达今日调用次数限额，如有更多需求，请联系客服购买。"),
    "1305": (429, "该API已触发流量限制"),
}
STYLES = ("think_tags", "reasoning_content", "none")
_MARKER = re.compile(r"\[\[(style|finish|error|fault):([^\]]*)\]\]")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Markers:
    text: str
    style: str = "think_tags"
    finish: str = "stop"
    error: str | None = None
    fault: str | None = None


def parse_markers(prompt: str) -> Markers:
    found = dict(m.groups() for m in _MARKER.finditer(prompt))
    text = " ".join(_MARKER.sub("", prompt).split())
    return Markers(
        text, found.get("style", "think_tags"), found.get("finish", "stop"),
        found.get("error"), found.get("fault"),
    )  # fmt: skip


def last_user_text(messages: object) -> str:
    if not isinstance(messages, list):
        return ""
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""


def expected_texts(prompt: str) -> tuple[str, str]:
    """The (reasoning, answer) the server writes for ``prompt`` (markers removed)."""
    text = parse_markers(prompt).text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    reasoning = f"[fake glm] The user asks: {text[:80]}. Is anything here risky? ({digest})"
    return reasoning, f"[fake glm] A careful answer ({digest})."


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def error_body(code: str) -> tuple[int, dict[str, Any]]:
    status, message = ERRORS[code]
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if code == "1301":  # the content-safety guide's example also says whose text was refused
        body["contentFilter"] = [{"level": 1, "role": "user"}]
    return status, body


class FakeZhipu:
    """The server's state: the key it accepts, the request log, per-message call counts."""

    def __init__(
        self,
        *,
        api_key: str = TEST_KEY,
        respond: Callable[[dict[str, Any]], str | None] | None = None,
        hang_s: float = 3.0,
    ) -> None:
        self.api_key = api_key
        self.respond = respond
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.base_url = ""

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def requests_for(self, prompt: str) -> int:
        """How many requests had ``prompt`` (markers included) as their last user message."""
        with self._lock:
            return self._counts[prompt]

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply | None:
        """The reply to one request; None means: drop the connection unanswered."""
        if path != f"{API_PATH}/chat/completions":
            return _json(404, {"timestamp": int(time.time() * 1000), "status": 404, "path": path})
        body = json.loads(raw)
        prompt = last_user_text(body.get("messages"))
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self._counts[prompt] += 1
            number = self._counts[prompt]
        refused = self._check_auth(headers.get("authorization"))
        if refused:
            return _json(*error_body(refused))
        if body.get("model") not in MODELS:
            return _json(*error_body("1211"))
        return self._reply(body, prompt, number)

    def _check_auth(self, authorization: str | None) -> str | None:
        """The Zhipu error code for a request whose credentials fail, else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return "1001"
        token = authorization.removeprefix("Bearer ")
        if token == self.api_key:
            return None
        import jwt  # PyJWT comes with the zhipuai SDK, which the tests of this fake require

        key_id, _, secret = self.api_key.partition(".")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.PyJWTError:
            return "1002"
        if claims.get("api_key") != key_id:
            return "1002"
        return None if claims.get("exp", 0) > time.time() * 1000 else "1003"

    def _reply(self, body: dict[str, Any], prompt: str, number: int) -> Reply | None:
        markers = parse_markers(prompt)
        if markers.error and _due(markers.error, number):
            code, *rest = markers.error.split(":")
            status, error = error_body(code)
            extra = {"Retry-After": rest[1]} if len(rest) > 1 else {}
            return _json(status, error, extra)
        if markers.fault == "disconnect":
            return None
        if markers.fault == "hang":
            time.sleep(self.hang_s)
        if markers.fault == "broken_json":
            return Reply(200, {"Content-Type": "application/json; charset=UTF-8"}, b'{"choices": [')
        return _json(200, self._completion(body, markers))

    def _completion(self, body: dict[str, Any], markers: Markers) -> dict[str, Any]:
        reasoning, answer = expected_texts(markers.text)
        hooked = self.respond(body) if self.respond else None
        if hooked is not None:
            reasoning, answer = "", hooked
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if reasoning and markers.style == "think_tags":
            message["content"] = f"<think>\n{reasoning}\n</think>\n\n{answer}"
        elif reasoning and markers.style == "reasoning_content":
            message["reasoning_content"] = reasoning
        counts = [approx_tokens(str(m.get("content"))) for m in body["messages"]]
        prompt_tokens = sum(counts)
        thinking = approx_tokens(reasoning) if reasoning and markers.style != "none" else 0
        completion_tokens = approx_tokens(answer) + thinking
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            # Every message before the last reads as cached, as a shared system prompt would.
            "prompt_tokens_details": {"cached_tokens": sum(counts[:-1])},
        }
        if thinking:
            usage["completion_tokens_details"] = {"reasoning_tokens": thinking}
        request_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
        return {
            "id": request_id,
            "request_id": request_id,
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": markers.finish, "message": message}],
            "usage": usage,
        }

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on an ephemeral loopback port for the duration; yield the SDK's base URL."""
        with serve_loopback(_handler_for(self)) as root:
            self.base_url = f"{root}{API_PATH}"
            yield self.base_url


def _due(spec: str, number: int) -> bool:
    """Whether request ``number`` of a message falls within the error's COUNT."""
    parts = spec.split(":")
    count = parts[1] if len(parts) > 1 and parts[1] else "1"
    return count == "*" or number <= int(count)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    content = json.dumps(body, ensure_ascii=False).encode()
    return Reply(
        status, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}, content
    )


def _handler_for(fake: FakeZhipu) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = fake.answer(self.path, headers, raw)
            if reply is None:
                self.close_connection = True
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the request log is on the fake."""

    return Handler
