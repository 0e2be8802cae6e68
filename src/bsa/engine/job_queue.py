"""The jobs a :class:`~bsa.engine.runner.Runner` works through, which may still be arriving.

A stage that knows all its work up front (``bsa generate``, ``bsa judge``) hands the runner a
list; a judge of a pipelined ``bsa run`` gets its work as generation commits samples, so its
runner reads from a queue that grows while it runs and ends only when it is closed and drained.
:meth:`JobQueue.abandon` is how a stage is stopped without losing anything: no job that has not
started will start, and the calls in flight finish and are stored.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable
from typing import Generic, TypeVar

J = TypeVar("J")


class JobQueue(Generic[J]):
    """Jobs taken one at a time by the runner's workers, in the order they were added."""

    def __init__(self, jobs: Iterable[J] = (), *, closed: bool = False) -> None:
        self._jobs: collections.deque[J] = collections.deque(jobs)
        #: Every job ever added, for the progress total.
        self.added = len(self._jobs)
        self._closed = closed
        self.abandoned = False
        self._arrived = asyncio.Event()

    def add(self, jobs: Iterable[J]) -> None:
        """More work; ignored once abandoned (the stage is stopping)."""
        if self.abandoned:
            return
        before = len(self._jobs)
        self._jobs.extend(jobs)
        self.added += len(self._jobs) - before
        self._arrived.set()

    def close(self) -> None:
        """No more jobs will come: workers end once the queue is empty."""
        self._closed = True
        self._arrived.set()

    def abandon(self) -> None:
        """Drop the jobs not yet started and close: the stage ends with its calls in flight."""
        self.abandoned = True
        self._jobs.clear()
        self.close()

    async def take(self) -> J | None:
        """The next job, waiting for one while the queue is open; None when it is done."""
        while not self._jobs:
            if self._closed:
                return None
            self._arrived.clear()
            await self._arrived.wait()
        return self._jobs.popleft()
