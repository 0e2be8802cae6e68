"""A loopback server that speaks the Gemini API's REST wire format as the ``google-genai`` SDK
calls it.

``POST /v1beta/models/{model}:generateContent`` with the key in ``x-goog-api-key`` (or ``?key=``),
a body of ``contents`` (``user``/``model`` turns of ``parts``), an optional ``systemInstruction``
and a ``generationConfig`` (``temperature``, ``topP``, ``topK``, ``maxOutputTokens``, ``seed``,
``thinkingConfig``). It answers as the API does (shapes from the SDK's own tests and replay files):
``candidates[].content.parts[]`` where thought summaries are parts with ``"thought": true``, a
``finishReason``, ``usageMetadata`` with ``thoughtsTokenCount``, and, for a prompt the API refuses
to answer, no candidates but ``promptFeedback.blockReason``. Errors are
``{"error": {"code", "message", "status", "details"}}``; a bad key is a 400 ``INVALID_ARGUMENT``
with reason ``API_KEY_INVALID``, as Google sends it, and this fake repeats the key it was given in
the message (servers do echo what they were sent), so tests can check it never reaches output.

By default it answers a BSA judge prompt as the mock judge does (:func:`mock_judge_reply`) and
anything else with a thought summary and an answer derived from the prompt. :meth:`script` queues
other replies for one prompt (errors, blocks, hangs), served in order before the default.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .scripted_fake import Received, Reply, ScriptedFake, default_texts

TEST_KEY = "AIzaSyTestKey-0123456789abcdefghijklm"
ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
ROLES = frozenset({"user", "model"})


@dataclass(frozen=True)
class GeminiReceived(Received):
    """A logged request, with the model and settings Gemini reads from its path and body."""

    @property
    def model(self) -> str:
        route = ROUTE.match(urlsplit(self.path).path)
        return route["model"] if route else ""

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.body.get("generationConfig") or {}
        return config

    @property
    def thinking(self) -> dict[str, Any]:
        """``thinkingConfig`` with its keys in camelCase (protobuf JSON takes both spellings; the
        SDK sends snake_case)."""
        return thinking_config(self.body)


def thought(value: str) -> dict[str, Any]:
    return {"text": value, "thought": True}


def text(value: str) -> dict[str, Any]:
    return {"text": value}


def content(
    *parts: dict[str, Any],
    finish_reason: str | None = "STOP",
    prompt_tokens: int = 25,
    answer_tokens: int = 40,
    thoughts_tokens: int | None = 120,
    cached_tokens: int | None = None,
    **candidate: Any,
) -> Reply:
    """A successful ``generateContent`` response with one candidate of these parts;
    ``cached_tokens`` adds ``cachedContentTokenCount`` (of the prompt's tokens)."""
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": answer_tokens,
        "totalTokenCount": prompt_tokens + answer_tokens + (thoughts_tokens or 0),
    }
    if thoughts_tokens is not None:
        usage["thoughtsTokenCount"] = thoughts_tokens
    if cached_tokens is not None:
        usage["cachedContentTokenCount"] = cached_tokens
    first: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish_reason is not None:
        first["finishReason"] = finish_reason
    first.update(candidate)
    return Reply(200, {**_envelope(parts), "candidates": [first], "usageMetadata": usage})


def prompt_blocked(reason: str = "PROHIBITED_CONTENT") -> Reply:
    """The API's answer to a prompt it will not answer: no candidates, a block reason."""
    feedback = {"blockReason": reason}
    usage = {"promptTokenCount": 25, "totalTokenCount": 25}
    return Reply(200, {**_envelope(()), "promptFeedback": feedback, "usageMetadata": usage})


def _envelope(parts: Any) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()[:20]
    return {"modelVersion": "gemini-test", "responseId": f"resp-{digest}"}


def error(
    status: int, name: str, message: str, *details: dict[str, Any], retry_delay: str | None = None
) -> Reply:
    """A Google API error; ``retry_delay`` adds the ``RetryInfo`` detail a 429 carries."""
    listed = list(details)
    if retry_delay is not None:
        listed.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    inner: dict[str, Any] = {"code": status, "message": message, "status": name}
    if listed:
        inner["details"] = listed
    return Reply(status, {"error": inner})


def bad_key(given: str) -> Reply:
    reason = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    message = f"API key not valid. Please pass a valid API key. (got {given})"
    return error(400, "INVALID_ARGUMENT", message, reason)


def unknown_model(model: str) -> Reply:
    return error(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def last_user_text(body: dict[str, Any]) -> str:
    for turn in reversed(body.get("contents") or []):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            parts = turn.get("parts") or []
            return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    return ""


def thinking_config(body: dict[str, Any]) -> dict[str, Any]:
    """The request's ``thinkingConfig``, keys in camelCase whichever spelling was sent."""
    config = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    return {_camel(key): value for key, value in config.items()}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def default_reply(body: dict[str, Any]) -> Reply:
    reasoning, answer = default_texts(last_user_text(body))
    return content(thought(reasoning), text(answer))


def request_problem(body: dict[str, Any]) -> str | None:
    """Why the real API would reject this body with a 400 ``INVALID_ARGUMENT``, or None."""
    turns = body.get("contents")
    if not isinstance(turns, list) or not turns:
        return "* GenerateContentRequest.contents: contents is not specified"
    roles = {str(t.get("role")) for t in turns if isinstance(t, dict)}
    if not roles <= ROLES:
        return f"Please use a valid role: user, model. (got {sorted(roles - ROLES)})"
    budget = thinking_config(body).get("thinkingBudget")
    if budget is not None and (not isinstance(budget, int) or budget < -1):
        return f"thinking_budget must be -1 or between 0 and 32768 (got {budget})"
    return None


class FakeGemini(ScriptedFake[GeminiReceived]):
    """The server's state: its replies, and every request it received."""

    test_key = TEST_KEY
    record = GeminiReceived
    prompt_of = staticmethod(last_user_text)
    default_reply = staticmethod(default_reply)

    def unreadable(self) -> Reply:
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")

    def check(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        url = urlsplit(path)
        route = ROUTE.match(url.path)
        if route is None:
            return error(404, "NOT_FOUND", f"no route {url.path}")
        given = headers.get("x-goog-api-key") or "".join(parse_qs(url.query).get("key", []))
        if given != self.api_key:
            return bad_key(given)
        problem = request_problem(body)
        if problem is not None:
            return error(400, "INVALID_ARGUMENT", problem)
        if self.models and route["model"] not in self.models:
            return unknown_model(route["model"])
        return None
