"""OpenAI reasoning models through the Responses API (``openai-responses:MODEL``).

OpenAI's reasoning models (o3, o4-mini, gpt-5) never return their reasoning; through the Responses
API they return a *summary* of it when asked (``reasoning.summary``), as ``summary_text`` parts of
``reasoning`` output items, beside the ``message`` items of the answer. So:

- The summary is the reasoning, with its own source ``reasoning_summary``: the thinking judge reads
  a summary, not the trace, and scores and reports say so (:mod:`bsa.scoring.reasoning_kind`).
- A reasoning item with no summary text (only ``encrypted_content``, or a summary the model did
  not write) is reasoning that happened but cannot be read: source ``reasoning_encrypted``, no
  reasoning text, so the thinking judge records ``no_reasoning`` rather than grade nothing; the
  raw response keeps what came.
- Sampling settings are not sent: the reasoning models reject ``temperature`` and ``top_p``, and
  the API has no ``top_k``, ``seed`` or ``n``. The run file still records what was asked.
- ``store: false``: benchmark prompts are harmful requests, not for the vendor's 30-day log.

Key, ``--base-url`` and error classification are the chat-completions provider's
(:class:`~bsa.providers.openai_compat.OpenAICompatible`); only the endpoint and the body differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bsa.errors import BsaError
from bsa.providers.base import FatalError, ProviderError, TransientError
from bsa.providers.connection import Connection
from bsa.providers.openai_compat import OpenAICompatible
from bsa.providers.usage_fields import detail_count
from bsa.types import Completion, Request, Usage

#: Values of ``--reasoning-summary``.
SUMMARY_MODES = ("auto", "detailed")
#: The HTTP status a failed response's ``error.code`` stands for; other codes are server errors.
FAILED_STATUS = {"rate_limit_exceeded": 429, "invalid_prompt": 400}
#: ``incomplete_details.reason`` -> the finish reasons the rest of the pipeline uses.
INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


class OpenAIResponses(OpenAICompatible):
    """``openai-responses:MODEL``: one ``POST /responses`` per sample (the API has no ``n``)."""

    name = "openai-responses"
    supports_n = False

    def __init__(
        self, model: str, connection: Connection, *, reasoning_summary: str = "auto"
    ) -> None:
        if reasoning_summary not in SUMMARY_MODES:
            raise BsaError(
                f"--reasoning-summary {reasoning_summary!r}: choose {' or '.join(SUMMARY_MODES)}"
            )
        super().__init__(model, connection)
        self.reasoning_summary = reasoning_summary

    async def _complete_once(self, request: Request) -> list[Completion]:
        if request.n != 1:
            raise FatalError(
                f"{self.label} returns one sample per request; asked for n={request.n} "
                "(run without --use-n)"
            )
        content = await self._http.post("responses", self.request_body(request))
        try:
            data = json.loads(content)
        except (ValueError, UnicodeDecodeError) as error:
            raise TransientError(f"malformed response body ({error})") from error
        return [self.parse_output(data)]

    def request_body(self, request: Request) -> dict[str, Any]:
        """The Responses API body; ``decoding.extra_body`` is merged last, the way to send what
        this provider does not."""
        decoding = request.decoding
        reasoning: dict[str, Any] = {"summary": self.reasoning_summary}
        if decoding.reasoning_effort is not None:
            reasoning["effort"] = decoding.reasoning_effort
        body: dict[str, Any] = {
            "model": self.model,
            "input": [m.as_dict() for m in request.messages],
            "reasoning": reasoning,
            "store": False,
        }
        if decoding.max_tokens is not None:
            body["max_output_tokens"] = decoding.max_tokens
        body.update(decoding.extra_body)
        return body

    def parse_output(self, data: object) -> Completion:
        """A completion from a response body; a ``failed`` response is classified as the same
        error event inside a stream would be (the request itself was accepted)."""
        if not isinstance(data, Mapping):
            raise TransientError("malformed response body (not a JSON object)")
        if data.get("status") == "failed" or isinstance(data.get("error"), Mapping):
            raise self._failed(data.get("error"))
        output = data.get("output")
        if not isinstance(output, list):
            raise TransientError("malformed response body (no output)")
        return _completion(data, output)

    def _failed(self, error: object) -> ProviderError:
        """A response that failed after it was accepted, read by its error code; what would
        stop the run is retried instead, since the request itself was fine."""
        code = error.get("code") if isinstance(error, Mapping) else None
        status = FAILED_STATUS.get(str(code), 500)
        outcome = self._classify_body(status, {"error": error}, "the response failed")
        if isinstance(outcome, FatalError):
            return TransientError(f"the response failed: {outcome.message}")
        return outcome


def _completion(data: Mapping[str, Any], output: Sequence[Any]) -> Completion:
    incomplete = data.get("incomplete_details")
    reason = incomplete.get("reason") if isinstance(incomplete, Mapping) else None
    finish_reason = INCOMPLETE_REASONS.get(str(reason), reason) if reason else "stop"
    usage, raw = _usage(data.get("usage")), dict(data)
    if finish_reason == "content_filter":
        # The filter stopped the reply mid-way: whatever came before is not the model's answer.
        return Completion("", None, "none", finish_reason, False, usage, raw)
    reasoning, source = _reasoning(output)
    answer = _answer(output)
    truncated = finish_reason == "length"
    return Completion(answer, reasoning, source, finish_reason, truncated, usage, raw)


def _items(output: Sequence[Any], kind: str) -> list[Mapping[str, Any]]:
    return [item for item in output if isinstance(item, Mapping) and item.get("type") == kind]


def _texts(parts: object, kind: str, field: str) -> list[str]:
    """The ``field`` of each part of type ``kind`` in a list of parts."""
    found = parts if isinstance(parts, list) else []
    return [
        part[field]
        for part in found
        if isinstance(part, Mapping) and part.get("type") == kind
        if isinstance(part.get(field), str)
    ]


def _reasoning(output: Sequence[Any]) -> tuple[str | None, str]:
    """The summary texts in order, and where the reasoning came from."""
    items = _items(output, "reasoning")
    summaries = [t.strip() for i in items for t in _texts(i.get("summary"), "summary_text", "text")]
    readable = [text for text in summaries if text]
    if readable:
        return "\n\n".join(readable), "reasoning_summary"
    return None, "reasoning_encrypted" if items else "none"


def _answer(output: Sequence[Any]) -> str:
    """The message's text parts joined as they are; a refusal part is the model's own answer."""
    parts = []
    for item in _items(output, "message"):
        for part in item.get("content") or []:
            if isinstance(part, Mapping) and part.get("type") in ("output_text", "refusal"):
                value = part.get("text", part.get("refusal"))
                parts.append(value if isinstance(value, str) else "")
    return "".join(parts).strip()


def _usage(usage: object) -> Usage:
    if not isinstance(usage, Mapping):
        return Usage()
    details = usage.get("output_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    prompt, output = usage.get("input_tokens"), usage.get("output_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else None,
        output if isinstance(output, int) else None,
        reasoning if isinstance(reasoning, int) else None,
        cached_tokens=detail_count(usage, "input_tokens_details", "cached_tokens"),
    )
