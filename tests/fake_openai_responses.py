"""A loopback server that speaks OpenAI's Responses API as the official SDK calls it.

``POST /v1/responses`` with ``Authorization: Bearer KEY``. It checks what the real API checks of a
reasoning model's request (``input`` present, no ``temperature``/``top_p``/``n``, a known
``reasoning.summary``) and answers with ``output`` items: ``reasoning`` (``summary`` parts of type
``summary_text``, and ``encrypted_content`` when the request's ``include`` asks for it) and
``message`` (``output_text`` parts), a ``status``, ``incomplete_details`` and a ``usage`` with
``output_tokens_details.reasoning_tokens``; errors come as ``{"error": {"message", "type",
"param", "code"}}``.

By default it answers a BSA judge prompt as the mock judge does and anything else with a summary
and an answer derived from the prompt (:func:`expected_texts`); :meth:`script` queues other replies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .scripted_fake import (
    JUDGE_REASONING,
    Received,
    Reply,
    ScriptedFake,
    default_texts,
    last_user_turn,
)

TEST_KEY = "sk-resp-test-key"
SUMMARY_MODES = ("auto", "concise", "detailed")
#: What reasoning models refuse: ``Unsupported parameter``.
UNSUPPORTED = ("temperature", "top_p", "n", "top_k")
ENCRYPTED = "gAAAAEncryptedReasoningOpaqueBytes=="
#: What the fake's judge summarises before its verdict.
JUDGE_SUMMARY = JUDGE_REASONING


def summary(*texts: str, encrypted: str | None = None) -> dict[str, Any]:
    """A ``reasoning`` output item with these summary parts."""
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": "rs_" + hashlib.sha256("".join(texts).encode()).hexdigest()[:16],
        "summary": [{"type": "summary_text", "text": t} for t in texts],
    }
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def output_text(*texts: str, refusal: str | None = None) -> dict[str, Any]:
    """A ``message`` output item with these text parts (and a refusal part)."""
    parts: list[dict[str, Any]] = [
        {"type": "output_text", "text": t, "annotations": []} for t in texts
    ]
    if refusal is not None:
        parts.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "id": "msg_test", "status": "completed", "role": "assistant",
            "content": parts}  # fmt: skip


def response(
    *output: dict[str, Any],
    incomplete: str | None = None,
    input_tokens: int = 25,
    output_tokens: int = 60,
    reasoning_tokens: int = 40,
    cached_tokens: int = 0,
    model: str = "o4-mini-test",
    **extra: Any,
) -> Reply:
    """A Responses API response with these output items; ``incomplete`` is the reason it stopped
    early (``max_output_tokens``, ``content_filter``)."""
    body = {
        "id": "resp_" + hashlib.sha256(json.dumps(output).encode()).hexdigest()[:24],
        "object": "response",
        "created_at": 1_767_225_600,
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": model,
        "output": list(output),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
        **extra,
    }
    return Reply(200, body)


def failed(code: str, detail: str) -> Reply:
    """A 200 response whose generation failed after it was accepted (``status: failed``)."""
    reply = response()
    assert isinstance(reply.body, dict)
    return Reply(200, {**reply.body, "status": "failed", "output": [],
                       "error": {"code": code, "message": detail}})  # fmt: skip


def error(
    status: int, detail: str, kind: str = "invalid_request_error", code: str | None = None,
    retry_after: str | None = None,
) -> Reply:  # fmt: skip
    """An API error as OpenAI sends it, optionally with a ``retry-after`` header."""
    body = {"error": {"message": detail, "type": kind, "param": None, "code": code}}
    return Reply(status, body, {"retry-after": retry_after} if retry_after else {})


def last_user_text(body: dict[str, Any]) -> str:
    given = body.get("input")
    return given if isinstance(given, str) else last_user_turn(given)


def default_reply(body: dict[str, Any]) -> Reply:
    encrypted = ENCRYPTED if "reasoning.encrypted_content" in body.get("include", []) else None
    reasoning, answer = default_texts(last_user_text(body))
    return response(summary(reasoning, encrypted=encrypted), output_text(answer))


def request_problem(body: dict[str, Any]) -> str | None:
    """Why the real API would reject this body with a 400, or None."""
    if not isinstance(body.get("model"), str):
        return "Missing required parameter: 'model'."
    if not isinstance(body.get("input"), (str, list)) or not body["input"]:
        return "Missing required parameter: 'input'."
    for name in UNSUPPORTED:
        if name in body:
            return f"Unsupported parameter: '{name}' is not supported with this model."
    mode = (body.get("reasoning") or {}).get("summary")
    if mode is not None and mode not in SUMMARY_MODES:
        return f"Invalid value: '{mode}'. Supported values are: {', '.join(SUMMARY_MODES)}."
    return None


class FakeResponses(ScriptedFake[Received]):
    """The server's state: its replies, and every request it received."""

    test_key = TEST_KEY
    record = Received
    prompt_of = staticmethod(last_user_text)
    default_reply = staticmethod(default_reply)

    def unreadable(self) -> Reply:
        return error(400, "We could not parse the JSON body of your request.")

    def check(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        if path != "/v1/responses":
            return error(404, f"Invalid URL (POST {path})")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "Incorrect API key provided.", code="invalid_api_key")
        problem = request_problem(body)
        if problem is not None:
            return error(400, problem)
        if self.models and body["model"] not in self.models:
            detail = f"The model `{body['model']}` does not exist or you do not have access to it."
            return error(404, detail, code="model_not_found")
        return None
