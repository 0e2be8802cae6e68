"""Rebuild a Messages API response body from the events of its stream.

The Anthropic provider always streams: the SDK refuses a non-streamed request that may run past
ten minutes, which a long thinking budget (a large ``max_tokens``) triggers, and a held-open HTTP
response with no bytes for minutes is what proxies cut. The events are folded back into the body
a non-streamed call would have returned (``message_start``'s message, each content block grown by
its ``thinking_delta`` / ``signature_delta`` / ``text_delta`` pieces, ``message_delta``'s stop
reason and usage), so parsing, the raw response in the run file and every test of the reply stay
one path (`streaming messages <https://docs.anthropic.com/en/api/messages-streaming>`_).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from bsa.providers.base import TransientError

#: Per delta type: the field of its content block that the delta's same-named field extends.
DELTA_FIELDS = {
    "thinking_delta": "thinking",
    "signature_delta": "signature",
    "text_delta": "text",
    "input_json_delta": "partial_json",
}


class MessageBuilder:
    """The message so far; :meth:`add` takes each event, :meth:`result` the finished body."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.stopped = False

    def add(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self.message = dict(_mapping(event.get("message")))
        elif kind == "content_block_start":
            self.blocks[_index(event)] = dict(_mapping(event.get("content_block")))
        elif kind == "content_block_delta":
            _extend(self.blocks.setdefault(_index(event), {}), _mapping(event.get("delta")))
        elif kind == "message_delta":
            self._finish(_mapping(event.get("delta")), _mapping(event.get("usage")))
        elif kind == "message_stop":
            self.stopped = True

    def result(self) -> dict[str, Any]:
        """The response body; a stream that ended before ``message_stop`` was cut off, and its
        reply is incomplete, not an answer."""
        if self.message is None or not self.stopped:
            raise TransientError("the stream ended before message_stop: the reply is incomplete")
        return {**self.message, "content": [self.blocks[i] for i in sorted(self.blocks)]}

    def _finish(self, delta: Mapping[str, Any], usage: Mapping[str, Any]) -> None:
        if self.message is None:
            raise TransientError("malformed stream (message_delta before message_start)")
        self.message.update(delta)
        self.message["usage"] = {**_mapping(self.message.get("usage")), **usage}


async def assemble(events: AsyncIterator[object]) -> dict[str, Any]:
    """The response body the stream of ``events`` (JSON objects) spells."""
    builder = MessageBuilder()
    async for event in events:
        if not isinstance(event, Mapping):
            raise TransientError("malformed stream event (not a JSON object)")
        builder.add(event)
    return builder.result()


def _extend(block: dict[str, Any], delta: Mapping[str, Any]) -> None:
    name = DELTA_FIELDS.get(str(delta.get("type")))
    piece = delta.get(name) if name else None
    if name and isinstance(piece, str):
        block[name] = str(block.get(name) or "") + piece


def _index(event: Mapping[str, Any]) -> int:
    index = event.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise TransientError("malformed stream event (content block without an index)")
    return index


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
