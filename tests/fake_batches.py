"""What the vendor batch fakes (OpenAI's Batch API, Anthropic's Message Batches) share: which
batches were created with which requests, and when each one runs.

A batch answers ``in_progress`` for :attr:`BatchBook.polls_in_progress` polls (forever while
:attr:`BatchBook.hold`), then runs; a number queued in :attr:`BatchBook.expiring` makes the next
batch created run only that many of its requests and expire with the others never run. How a batch
and its results look on the wire is each vendor fake's business.
"""

from __future__ import annotations

from typing import Any


class BatchBook:
    def __init__(self) -> None:
        #: The requests of every batch created, in order (batch ids are ``<prefix>1``, ...).
        self.created: list[list[dict[str, Any]]] = []
        self.polls_in_progress = 1
        self.hold = False
        self.expiring: list[int] = []
        self._index: dict[str, int] = {}
        self._polls: dict[str, int] = {}
        self._runs: dict[str, int] = {}

    def add(self, prefix: str, requests: list[dict[str, Any]]) -> str:
        """Record a new batch of ``requests``; return its id."""
        batch_id = f"{prefix}{len(self.created) + 1}"
        self._index[batch_id] = len(self.created)
        self.created.append(requests)
        self._polls[batch_id] = 0
        self._runs[batch_id] = self.expiring.pop(0) if self.expiring else len(requests)
        return batch_id

    def requests(self, batch_id: str) -> list[dict[str, Any]]:
        return self.created[self._index[batch_id]]

    def polls(self, batch_id: str) -> int:
        """How many times the batch was polled so far."""
        return self._polls.get(batch_id, 0)

    def due(self, batch_id: str) -> bool:
        """Count a poll of a running batch; whether it runs its requests now."""
        self._polls[batch_id] += 1
        return not self.hold and self._polls[batch_id] > self.polls_in_progress

    def runs(self, batch_id: str) -> int:
        """How many of its requests the batch runs before it expires."""
        return self._runs[batch_id]
