"""The OpenAI Batch API (and OpenAI-compatible vendors that offer the same endpoints).

Requests go up as a JSONL file (``POST /v1/files``, purpose ``batch``), one line per request:
``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` with the body the live
path posts; ``POST /v1/batches`` starts it with a 24 h completion window. Once the batch has ended
(``completed``, ``expired``, ``cancelled`` or ``failed``) its output file holds one line per
answered request, ``{"custom_id", "response": {"status_code", "body"}}``, and its error file the
others, with an error response or an ``error`` object (``batch_expired``, ``batch_cancelled``
for requests never run).

Each batch carries bsa's tag as ``metadata`` (:class:`~bsa.batch.api.BatchTag`), so a batch whose
create call a kill cut short is found by ``GET /v1/batches`` (newest first, pages of 100) and
adopted. Once a batch's results are stored, its input, output and error files are deleted
(``DELETE /v1/files/{id}``): they count against the organisation's storage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Final, TypeVar

import openai

from bsa.batch.api import (
    BatchApi,
    BatchLimits,
    BatchResult,
    BatchState,
    BatchTag,
    Outcome,
    request_counts,
)
from bsa.providers.base import FatalError, ProviderError, server_text
from bsa.providers.openai_compat import OpenAICompatible
from bsa.types import Request

#: OpenAI's limits on one batch's input file.
OPENAI_LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
ENDPOINT: Final = "/v1/chat/completions"
COMPLETION_WINDOW: Final = "24h"
ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
#: Error codes of requests the batch never ran: resubmitted, not stored.
NOT_RUN = frozenset({"batch_expired", "batch_cancelled"})
#: How far back, and how many batches at most, a search for a tagged batch looks: a clock
#: off by minutes still finds it, and an account with thousands of batches is not read whole.
LIST_SLACK_S = 600
LIST_MAX = 2000
#: The batch's files, deleted once its results are stored.
FILE_KEYS = ("input_file_id", "output_file_id", "error_file_id")
T = TypeVar("T")


class OpenAIBatch(BatchApi):
    """Batches of chat completions for the model of ``provider``."""

    def __init__(self, provider: OpenAICompatible, limits: BatchLimits = OPENAI_LIMITS) -> None:
        super().__init__(limits)
        self.provider = provider
        self.label = provider.label

    def encode(self, custom_id: str, request: Request) -> bytes:
        line = {
            "custom_id": custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self.provider.request_body(request),
        }
        return json.dumps(line, ensure_ascii=False).encode()

    async def submit(self, entries: Sequence[bytes], tag: BatchTag) -> BatchState:
        client = self.provider.client
        content = b"\n".join(entries) + b"\n"
        upload = await self._call(
            client.files.create(file=("bsa-batch.jsonl", content), purpose="batch")
        )
        batch = await self._call(
            client.batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata=tag.metadata(),
            )
        )
        return _state(batch.model_dump())

    async def find_tagged(self, tags: Sequence[BatchTag], since: float) -> dict[str, str]:
        wanted = {tag.metadata()["bsa_requests"]: tag.metadata() for tag in tags}
        found: dict[str, str] = {}
        listed = 0
        pages = self.provider.client.batches.list(limit=100)
        try:
            async for batch in pages:
                listed += 1
                if batch.created_at < since - LIST_SLACK_S or listed > LIST_MAX:
                    break
                tag = wanted.get((batch.metadata or {}).get("bsa_requests", ""))
                if tag is not None and tag.items() <= (batch.metadata or {}).items():
                    found[tag["bsa_requests"]] = batch.id
        except openai.APIError as error:
            raise self.provider.failure(error) from error
        return found

    async def cancel(self, batch_id: str) -> BatchState:
        batch = await self._call(self.provider.client.batches.cancel(batch_id))
        return _state(batch.model_dump())

    async def clean_up(self, state: BatchState) -> list[str]:
        problems = []
        for key in FILE_KEYS:
            file_id = state.detail.get(key)
            if isinstance(file_id, str) and file_id:
                try:
                    await self._call(self.provider.client.files.delete(file_id))
                except ProviderError as error:
                    problems.append(f"could not delete file {file_id}: {error.message}")
        return problems

    async def poll(self, batch_id: str) -> BatchState:
        batch = await self._call(self.provider.client.batches.retrieve(batch_id))
        return _state(batch.model_dump())

    async def results(self, state: BatchState) -> list[BatchResult]:
        if state.state == "failed":  # refused whole (a bad model, a malformed file): no results
            raise FatalError(f"batch {state.batch_id} failed: {_failure(state.detail)}")
        results: list[BatchResult] = []
        for key in ("output_file_id", "error_file_id"):
            file_id = state.detail.get(key)
            if isinstance(file_id, str) and file_id:
                content = await self._call(self.provider.client.files.content(file_id))
                results.extend(self._read_lines(content.content))
        return results

    def _read_lines(self, content: bytes) -> list[BatchResult]:
        """One result per readable line; a line that is not one is left out (its request stays
        missing and is asked again)."""
        results = []
        for line in content.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, Mapping) and isinstance(row.get("custom_id"), str):
                results.append(BatchResult(row["custom_id"], self._outcome(row)))
        return results

    def _outcome(self, row: Mapping[str, Any]) -> Outcome:
        """A line's reply read as the live path reads a reply with that status and body."""
        response = row.get("response")
        if isinstance(response, Mapping) and isinstance(response.get("status_code"), int):
            return self.provider.read_reply(response["status_code"], response.get("body"), 1)
        error = row.get("error")
        if isinstance(error, Mapping) and error.get("code") in NOT_RUN:
            return None
        return self.provider.read_reply(400, {"error": error}, 1)

    async def _call(self, call: Awaitable[T]) -> T:
        """An SDK call whose failure is classified as a live call's would be."""
        try:
            return await call
        except openai.APIError as error:
            raise self.provider.failure(error) from error


def _failure(batch: Mapping[str, Any]) -> str:
    """Why the vendor refused a whole batch: its first error's message."""
    errors = batch.get("errors")
    data = errors.get("data") if isinstance(errors, Mapping) else None
    first = data[0] if isinstance(data, list) and data else None
    message = first.get("message") if isinstance(first, Mapping) else None
    return server_text(str(message)) if message else "no reason given"


def _state(batch: Mapping[str, Any]) -> BatchState:
    status = str(batch.get("status") or "unknown")
    counts = request_counts(batch.get("request_counts"))
    return BatchState(
        batch_id=str(batch.get("id")),
        state=status,
        ended=status in ENDED,
        counts=counts,
        processed=counts.get("completed", 0) + counts.get("failed", 0),
        detail=batch,
    )
