"""Anthropic's Message Batches.

``POST /v1/messages/batches`` takes ``{"requests": [{"custom_id", "params"}]}``, each ``params``
the Messages API parameters the live path sends (without ``stream``); ``GET
/v1/messages/batches/{id}`` says ``processing_status`` (``in_progress``, ``canceling``, ``ended``)
and ``request_counts``; once ended, its ``results_url`` serves one JSONL line per request,
``{"custom_id", "result": {"type": "succeeded", "message"}}`` or ``errored`` (with the error body
a live call would get), ``canceled`` or ``expired`` (never run: submitted again). ``POST
/v1/messages/batches/{id}/cancel`` stops one. A Message Batch keeps no metadata, so a batch whose
create call a kill cut short cannot be told from another of the account: the runner warns.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import anthropic
import httpx2

from bsa.batch.api import (
    BatchApi,
    BatchLimits,
    BatchResult,
    BatchState,
    BatchTag,
    Outcome,
    request_counts,
)
from bsa.providers.anthropic_sdk import AnthropicProvider, parse_message
from bsa.providers.base import ProviderError
from bsa.types import Request

#: Anthropic's limits on one Message Batch.
ANTHROPIC_LIMITS = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
BATCHES = "/v1/messages/batches"
#: Result types of requests the batch never ran.
NOT_RUN = frozenset({"canceled", "expired"})
#: The bytes around the requests of a create body.
_HEAD, _TAIL = b'{"requests": [', b"]}"
T = TypeVar("T")


class AnthropicBatch(BatchApi):
    """Message Batches for the model of ``provider``."""

    def __init__(self, provider: AnthropicProvider, limits: BatchLimits = ANTHROPIC_LIMITS) -> None:
        # The create body wraps the requests: what it adds must fit within the size limit too.
        room = limits.max_bytes - len(_HEAD) - len(_TAIL)
        super().__init__(BatchLimits(limits.max_requests, room))
        self.provider = provider
        self.label = provider.label

    def encode(self, custom_id: str, request: Request) -> bytes:
        entry = {"custom_id": custom_id, "params": self.provider.message_params(request)}
        return json.dumps(entry, ensure_ascii=False).encode()

    async def submit(self, entries: Sequence[bytes], tag: BatchTag) -> BatchState:
        body = json.loads(_HEAD + b",".join(entries) + _TAIL)
        batch = await self._call(self.provider.client.post(BATCHES, cast_to=object, body=body))
        return _state(batch)

    async def poll(self, batch_id: str) -> BatchState:
        batch = await self._call(self.provider.client.get(f"{BATCHES}/{batch_id}", cast_to=object))
        return _state(batch)

    async def cancel(self, batch_id: str) -> BatchState:
        path = f"{BATCHES}/{batch_id}/cancel"
        return _state(await self._call(self.provider.client.post(path, cast_to=object)))

    async def results(self, state: BatchState) -> list[BatchResult]:
        url = state.detail.get("results_url")
        if not isinstance(url, str) or not url:
            return []
        response = await self._call(self.provider.client.get(url, cast_to=httpx2.Response))
        results = []
        for line in response.content.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # left out: its request stays missing and is asked again
            if isinstance(row, Mapping) and isinstance(row.get("custom_id"), str):
                results.append(BatchResult(row["custom_id"], self._outcome(row.get("result"))))
        return results

    def _outcome(self, result: object) -> Outcome:
        """A result read as the live path reads a message or an error."""
        kind = result.get("type") if isinstance(result, Mapping) else None
        if kind in NOT_RUN:
            return None
        if kind == "succeeded" and isinstance(result, Mapping):
            try:
                return [parse_message(result.get("message"))]
            except ProviderError as malformed:
                return malformed
        body = result.get("error") if isinstance(result, Mapping) else None
        return self.provider.read_error(body, "errored batch request")

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except anthropic.APIError as error:
            raise self.provider.failure(error) from error


def _state(batch: object) -> BatchState:
    detail: Mapping[str, Any] = batch if isinstance(batch, Mapping) else {}
    status = str(detail.get("processing_status") or "unknown")
    counts = request_counts(detail.get("request_counts"))
    return BatchState(
        batch_id=str(detail.get("id")),
        state=status,
        ended=status == "ended",
        counts=counts,
        processed=sum(n for kind, n in counts.items() if kind != "processing"),
        detail=detail,
    )
