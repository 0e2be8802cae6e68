"""The link between generation and the judges of a pipelined ``bsa run``.

Generation tells the feed about each sample once the run file's writer has committed it (from the
writer thread, see :class:`bsa.runfile.writer.ResultWriter`), never before: a judge must not
grade, and pay for, a sample that a crash could still take back. Each judge holds a
:class:`Subscription` taken before generation starts, so none misses a sample whatever the order
the stages start in; a judge drops what it already read from the run file itself.

The feed also carries the one decision the stages share: :meth:`SampleFeed.stop`. When a stage
fails, every other stage starts nothing new and ends with its calls in flight stored (see
:mod:`bsa.pipeline` for why this, rather than cancelling them or finishing the run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from bsa.runfile.store import Generation

SamplesHandler = Callable[[Sequence[Generation]], None]


class Stopper:
    """A stop that every stage registers with; registering after it fired stops at once."""

    def __init__(self) -> None:
        self.stopped = False
        self._callbacks: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        if self.stopped:
            callback()
        else:
            self._callbacks.append(callback)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        for callback in self._callbacks:
            callback()


class Subscription:
    """One judge's view of the feed: samples delivered so far are kept until it attaches."""

    def __init__(self, stopper: Stopper) -> None:
        self.stopper = stopper
        self._pending: list[Generation] = []
        self._ended = False
        self._on_samples: SamplesHandler | None = None
        self._on_end: Callable[[], None] | None = None

    def attach(self, on_samples: SamplesHandler, on_end: Callable[[], None]) -> None:
        """Hear every sample (those already delivered at once), then the end of the feed."""
        self._on_samples, self._on_end = on_samples, on_end
        if self._pending:
            on_samples(self._pending)
            self._pending = []
        if self._ended:
            on_end()

    def deliver(self, samples: Sequence[Generation]) -> None:
        if self._ended:
            return
        if self._on_samples is None:
            self._pending.extend(samples)
        else:
            self._on_samples(samples)

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._on_end is not None:
            self._on_end()


class SampleFeed:
    """Committed samples, from generation to every judge; make it on the run's event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.stopper = Stopper()
        self._subscriptions: list[Subscription] = []
        self.stopper.watch(self._end)
        #: Set once the run file holds generation's settings and prompts: the judges may check
        #: them (a judge that is the model under test) and plan from the file.
        self.ready = asyncio.Event()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.stopper)
        self._subscriptions.append(subscription)
        return subscription

    def committed(self, notes: Sequence[object]) -> None:
        """The writer committed these samples (called from its thread). A failed sample is not
        judged, so it is not passed on (its retry will be, once it is stored)."""
        samples = [n for n in notes if isinstance(n, Generation) and n.status != "failed"]
        if samples:
            self._loop.call_soon_threadsafe(self._deliver, samples)

    def finish(self) -> None:
        """Generation has ended and its writer is closed: after the samples already on their
        way to the loop (the loop runs callbacks in the order they were scheduled), the judges
        hear that no more will come."""
        self._loop.call_soon_threadsafe(self._end)

    def _deliver(self, samples: Sequence[Generation]) -> None:
        for subscription in self._subscriptions:
            subscription.deliver(samples)

    def _end(self) -> None:
        for subscription in self._subscriptions:
            subscription.end()
