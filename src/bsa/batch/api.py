"""What a vendor's batch API must offer bsa: encode a request, submit, poll, read the results.

A vendor batch takes the same request bodies as the live endpoint and answers, hours later, with
the same response and error bodies; so a :class:`BatchApi` is built on its live provider, reuses
its body builder, and reads every result through the provider's own reading of a reply
(completions, or the :class:`~bsa.providers.base.ProviderError` a live call would have raised).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bsa.providers.base import ProviderError
from bsa.types import Completion, Request


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold: requests, and bytes of its encoded requests."""

    max_requests: int
    max_bytes: int


@dataclass(frozen=True)
class BatchState:
    """A batch as its vendor last described it."""

    batch_id: str
    #: The vendor's own status word (``in_progress``, ``completed``, ``ended``...).
    state: str
    #: Whether processing has ended, whatever the outcome (completed, expired, cancelled...).
    ended: bool
    counts: Mapping[str, int] = field(default_factory=dict)
    #: Requests the vendor has finished so far, whatever their outcome.
    processed: int = 0
    #: What the vendor needs to fetch the results (file ids, a results URL).
    detail: Mapping[str, Any] = field(default_factory=dict)


#: One request's result: its completions, the error a live call would have raised, or None when
#: the vendor never ran it (the batch expired or was cancelled first).
Outcome = list[Completion] | ProviderError | None


@dataclass(frozen=True)
class BatchTag:
    """What marks a batch as bsa's at a vendor that keeps metadata with it (OpenAI): the run
    file's id, the stage, and the digest of its requests, so a batch whose create call was cut
    short can be found and adopted instead of paid for again."""

    run: str
    stage: str
    digest: str

    def metadata(self) -> dict[str, str]:
        """The tag as the vendor stores it (OpenAI: up to 16 keys, values of 512 characters)."""
        return {"bsa_run": self.run, "bsa_stage": self.stage[:512], "bsa_requests": self.digest}


@dataclass(frozen=True)
class BatchResult:
    custom_id: str
    outcome: Outcome


def request_counts(value: object) -> dict[str, int]:
    """A batch's request counts as its vendor gave them; vendor text, so anything but a JSON
    object of integers counts as none."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, int)}


class BatchApi(ABC):
    """One vendor's batch endpoints, for one model."""

    #: The provider label (``openai:gpt-4o``) for messages.
    label: str

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits

    @abstractmethod
    def encode(self, custom_id: str, request: Request) -> bytes:
        """The request as the batch carries it (one JSONL line, or one entry of a JSON list)."""

    @abstractmethod
    async def submit(self, entries: Sequence[bytes], tag: BatchTag) -> BatchState:
        """Create one batch of these encoded requests (within :attr:`limits`), marked with
        ``tag`` where the vendor keeps metadata."""

    @abstractmethod
    async def poll(self, batch_id: str) -> BatchState:
        """Where the batch stands now."""

    @abstractmethod
    async def results(self, state: BatchState) -> list[BatchResult]:
        """Every result of an ended batch, read as a live reply would be."""

    @abstractmethod
    async def cancel(self, batch_id: str) -> BatchState:
        """Ask the vendor to stop the batch (``bsa batches abandon --cancel``)."""

    async def find_tagged(self, tags: Sequence[BatchTag], since: float) -> dict[str, str] | None:
        """The batches created since ``since`` (Unix time) that carry one of ``tags``: batch id
        by digest. None when the vendor keeps no metadata, so it cannot tell."""
        return None

    async def clean_up(self, state: BatchState) -> list[str]:
        """Delete what the ended batch left at the vendor (its files), once its results are
        stored; return why anything could not be deleted (a warning, never an error)."""
        return []

    async def aclose(self) -> None:  # noqa: B027 - an optional hook
        """Release connections (the provider's are released by its own ``aclose``)."""
