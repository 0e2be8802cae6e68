"""A loopback server that speaks Anthropic's Messages API as the official SDK calls it.

``POST /v1/messages`` with an API key (the SDK sends ``Authorization: Bearer`` since version 2;
``x-api-key`` is what older SDKs and the API docs use, so both are accepted) and an
``anthropic-version`` header. It checks what the real API checks about extended thinking (a
budget of at least 1024 below ``max_tokens``, no budget with ``adaptive``, no sampling settings
beside either, no system turns in ``messages``) so a request it accepts is one the real API would accept, and answers with content
blocks ``thinking`` (with a signature), ``redacted_thinking`` and ``text``, a ``stop_reason`` and a
``usage``; errors come as ``{"type": "error", "error": {"type": ..., "message": ...}}``.

A request with ``"stream": true`` (what the provider sends) gets the same reply as Anthropic's
Server-Sent Events: ``message_start``, per block ``content_block_start``, ``thinking_delta`` /
``signature_delta`` / ``text_delta`` pieces and ``content_block_stop``, then ``message_delta`` (stop
reason and output usage) and ``message_stop``; :func:`stream_error` cuts such a stream with an
``error`` event, as the API does when it is overloaded mid-reply.

It also speaks Message Batches: ``POST /v1/messages/batches`` (``{"requests": [{"custom_id",
"params"}]}``, each ``params`` checked as a live request is when the batch runs), ``GET
/v1/messages/batches/{id}`` (``processing_status`` ``in_progress`` until it runs, then ``ended``,
with ``request_counts``: see :class:`tests.fake_batches.BatchBook`) and its ``results_url``, one
JSONL line per request: ``succeeded`` with the message, ``errored`` with the error body, or
``expired`` for the requests an expiring batch never ran.

By default it answers a BSA judge prompt as the mock judge does (:func:`mock_judge_reply`) and
anything else with a thinking block and an answer derived from the prompt. :meth:`script` queues
other replies for one prompt (errors, refusals, hangs), served in order before the default.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .fake_batches import BatchBook
from .scripted_fake import (
    Received,
    Reply,
    ScriptedFake,
    default_texts,
    event_stream,
    last_user_turn,
)

TEST_KEY = "sk-ant-test-key"
MIN_BUDGET = 1024
SAMPLING_FIELDS = ("temperature", "top_p", "top_k")
#: Characters per streamed delta: small, so every test text arrives in several pieces.
DELTA_CHARS = 7
#: What ``message_start`` carries; the rest of a message comes in ``message_delta``.
START_FIELDS = ("id", "type", "role", "model")
#: The usage counts that ``message_start`` carries; output counts come in ``message_delta``.
INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
#: Per streamed block type: the field its deltas extend and the delta's type.
DELTA_FIELDS = {"thinking": ("thinking", "thinking_delta"), "text": ("text", "text_delta")}
BATCHES = "/v1/messages/batches"
#: What the API accepts as a batch request's custom id.
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: A batch's request counts before it runs, by result type.
RESULT_TYPES = ("processing", "succeeded", "errored", "canceled", "expired")


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
    cache_read: int | None = None,
    cache_write: int | None = None,
    **extra: Any,
) -> Reply:
    """A successful Messages API response with these content blocks; ``cache_read`` and
    ``cache_write`` add ``cache_read_input_tokens`` / ``cache_creation_input_tokens``."""
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    for key, count in (("cache_read_input_tokens", cache_read),
                       ("cache_creation_input_tokens", cache_write)):  # fmt: skip
        if count is not None:
            usage[key] = count
    body = {
        "id": "msg_" + hashlib.sha256(json.dumps(blocks).encode()).hexdigest()[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(blocks),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
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
    return last_user_turn(body.get("messages"))


def default_reply(body: dict[str, Any]) -> Reply:
    reasoning, answer = default_texts(last_user_text(body))
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
    if config.get("type") == "adaptive" and "budget_tokens" in config:
        return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
    sent = [name for name in SAMPLING_FIELDS if name in body]
    if sent and config.get("type") in ("enabled", "adaptive"):
        return f"{sent[0]} may not be set when thinking is enabled"
    return None


def message_events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A Messages API response as the events of its stream."""
    usage = body.get("usage") or {}
    start = {k: body[k] for k in START_FIELDS if k in body}
    start |= {"content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {k: v for k, v in usage.items() if k in INPUT_USAGE} | {"output_tokens": 1}
    events = [("message_start", {"type": "message_start", "message": start}), _event("ping")]
    for index, block in enumerate(body["content"]):
        events += _block_events(index, block)
    rest = {k: v for k, v in body.items() if k not in (*START_FIELDS, "content", "usage")}
    output_usage = {k: v for k, v in usage.items() if k not in INPUT_USAGE}
    events.append(_event("message_delta", delta=rest, usage=output_usage))
    return [*events, _event("message_stop")]


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One content block as ``content_block_start``, its deltas and ``content_block_stop``;
    a block without text deltas (``redacted_thinking``) comes whole in its start event."""
    kind = block.get("type", "")
    if kind not in DELTA_FIELDS:
        return [_event("content_block_start", index=index, content_block=block),
                _event("content_block_stop", index=index)]  # fmt: skip
    name, delta_type = DELTA_FIELDS[kind]
    value = str(block.get(name, ""))
    opened = {**block, name: ""} | ({"signature": ""} if "signature" in block else {})
    events = [_event("content_block_start", index=index, content_block=opened)]
    for at in range(0, len(value), DELTA_CHARS):
        piece = {"type": delta_type, name: value[at : at + DELTA_CHARS]}
        events.append(_event("content_block_delta", index=index, delta=piece))
    if "signature" in block:
        signed = {"type": "signature_delta", "signature": block["signature"]}
        events.append(_event("content_block_delta", index=index, delta=signed))
    return [*events, _event("content_block_stop", index=index)]


def _event(name: str, **data: Any) -> tuple[str, dict[str, Any]]:
    return name, {"type": name, **data}


def stream_error(kind: str, detail: str, before: Reply | None = None) -> Reply:
    """A stream that begins as ``before`` would (its message up to the last block) and is cut by
    an ``error`` event, as Anthropic does when it is overloaded mid-reply."""
    head = message_events(before.body)[:-2] if before and isinstance(before.body, dict) else []
    failure = ("error", {"type": "error", "error": {"type": kind, "message": detail}})
    return event_stream([*head, failure])


def streamed(reply: Reply, *, cut: int = 0) -> Reply:
    """A message reply as its stream, without its last ``cut`` events (a connection that ended
    early)."""
    assert isinstance(reply.body, dict)
    events = message_events(reply.body)
    return event_stream(events[: len(events) - cut])


class FakeAnthropic(ScriptedFake[Received]):
    """The server's state: its replies, and every request it received."""

    test_key = TEST_KEY
    record = Received
    prompt_of = staticmethod(last_user_text)
    default_reply = staticmethod(default_reply)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.book = BatchBook()
        self.batches: dict[str, dict[str, Any]] = {}
        self._batch_headers: dict[str, dict[str, str]] = {}
        self._results: dict[str, list[dict[str, Any]]] = {}
        #: Seconds the answer to a batch create is held back (see the OpenAI batch fake).
        self.create_delay = 0.0
        #: Batches asked to cancel (``POST /v1/messages/batches/{id}/cancel``).
        self.cancelled: list[str] = []

    def unreadable(self) -> Reply:
        return error(400, "invalid_request_error", "request body is not valid JSON")

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        batch_id = path.removeprefix(BATCHES + "/").removesuffix("/cancel")
        if path.endswith("/cancel") and batch_id in self.batches:
            return self._refuse(headers) or self._cancel(batch_id)
        if path != BATCHES:
            return super().answer(path, headers, raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return self.unreadable()
        return self._refuse(headers) or self._create(headers, body)

    def answer_get(self, path: str, headers: dict[str, str]) -> Reply:
        refusal = self._refuse(headers)
        if refusal is not None:
            return refusal
        batch_id, _, rest = path.removeprefix(BATCHES + "/").partition("/")
        if batch_id not in self.batches or rest not in ("", "results"):
            return error(404, "not_found_error", f"no route GET {path}")
        if rest == "":
            return Reply(200, self._poll(batch_id))
        if self.batches[batch_id]["processing_status"] != "ended":
            return error(400, "invalid_request_error", "the batch is still processing")
        lines = b"".join(json.dumps(row).encode() + b"\n" for row in self._results[batch_id])
        return Reply(200, lines, {"Content-Type": "application/binary"})

    def _create(self, headers: dict[str, str], body: object) -> Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return error(400, "invalid_request_error", "requests: at least one is required")
        ids = [r.get("custom_id") for r in requests if isinstance(r, dict)]
        if len(set(ids)) != len(requests) or not all(CUSTOM_ID.fullmatch(str(i)) for i in ids):
            return error(400, "invalid_request_error", "custom_id: unique, [a-zA-Z0-9_-]{1,64}")
        if any("stream" in r.get("params", {}) for r in requests):
            return error(400, "invalid_request_error", "stream is not supported in batches")
        batch_id = self.book.add("msgbatch_", requests)
        self._batch_headers[batch_id] = headers
        counts = dict.fromkeys(RESULT_TYPES, 0) | {"processing": len(requests)}
        self.batches[batch_id] = {
            "id": batch_id, "type": "message_batch", "processing_status": "in_progress",
            "request_counts": counts, "created_at": "2026-01-01T00:00:00Z", "ended_at": None,
            "expires_at": "2026-01-02T00:00:00Z", "cancel_initiated_at": None,
            "archived_at": None, "results_url": None,
        }  # fmt: skip
        return Reply(200, self.batches[batch_id], delay=self.create_delay)

    def _cancel(self, batch_id: str) -> Reply:
        """A cancelled batch ends at its next poll with every request ``canceled``."""
        self.cancelled.append(batch_id)
        batch = self.batches[batch_id]
        if batch["processing_status"] == "in_progress":
            batch["processing_status"] = "canceling"
        return Reply(200, batch)

    def _poll(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        status = batch["processing_status"]
        if status == "canceling" or (status == "in_progress" and self.book.due(batch_id)):
            self._run(batch)
        return batch

    def _run(self, batch: dict[str, Any]) -> None:
        """Each request (up to the batch's expiry) answered as a live call would be."""
        requests, runs = self.book.requests(batch["id"]), self.book.runs(batch["id"])
        canceling = batch["processing_status"] == "canceling"
        runs = 0 if canceling else runs
        headers = self._batch_headers[batch["id"]]
        rows = []
        for index, request in enumerate(requests):
            params = request["params"]
            if index >= runs:
                result: dict[str, Any] = {"type": "canceled" if canceling else "expired"}
            else:
                reply = self.received("/v1/messages", headers, params) or self.next_reply(params)
                result = (
                    {"type": "succeeded", "message": reply.body}
                    if reply.status == 200
                    else {"type": "errored", "error": reply.body}
                )
            rows.append({"custom_id": request["custom_id"], "result": result})
        counts = dict.fromkeys(RESULT_TYPES, 0)
        for row in rows:
            counts[row["result"]["type"]] += 1
        batch |= {"processing_status": "ended", "request_counts": counts,
                  "ended_at": "2026-01-01T01:00:00Z",
                  "results_url": f"{self.base_url}{BATCHES}/{batch['id']}/results"}  # fmt: skip
        self._results[batch["id"]] = rows

    def _refuse(self, headers: dict[str, str]) -> Reply | None:
        """The refusal of a request without the key or the version header."""
        keys = {headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer ")}
        if self.api_key not in keys:
            return error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version header is required")
        return None

    def check(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        if path != "/v1/messages":
            return error(404, "not_found_error", f"no route {path}")
        refusal = self._refuse(headers)
        if refusal is not None:
            return refusal
        problem = request_problem(body)
        if problem is not None:
            return error(400, "invalid_request_error", problem)
        if self.models and body["model"] not in self.models:
            return error(404, "not_found_error", f"model: {body['model']}")
        return None

    def shape(self, body: dict[str, Any], reply: Reply) -> Reply:
        """A message as its event stream when the request asked to stream."""
        whole = isinstance(reply.body, dict) and isinstance(reply.body.get("content"), list)
        if body.get("stream") is True and reply.status == 200 and whole:
            return streamed(reply)
        return reply
