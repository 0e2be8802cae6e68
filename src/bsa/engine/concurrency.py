"""How many calls a stage keeps in flight: a fixed number, or ``auto``, found while running.

A fixed limit needs no gate: the runner starts that many workers. ``auto`` is an
:class:`AdaptiveLimit` the runner's workers pass before every attempt. Its controller is AIMD as
Netflix's concurrency-limits library implements it (``AIMDLimit``: grow by one per success while
the limit is in use, multiply by a backoff ratio of 0.9 on a drop;
https://github.com/Netflix/concurrency-limits), with TCP Reno's slow start before the first drop
(RFC 5681: grow by one per success, so the limit doubles per round trip, then by one per round
trip) so a ceiling of a thousand is reached in seconds, not minutes. As in Reno, the first drop
halves the limit (slow start overshoots by up to twice what the server takes; a server whose
rate limit lets a burst through shows it late), later ones multiply it by 0.9. After a drop the
limit grows by one per round trip, then by twice as much each round trip without a drop (BIC's
max probing, Xu et al., INFOCOM 2004): a limit far below what the server takes, or left low
when latency rose, climbs back in a few round trips instead of hundreds. Refinements:

- a drop is a 429 or a 503 (:class:`~bsa.providers.base.RateLimited`,
  :class:`~bsa.providers.base.Overloaded`); the other errors say nothing about load;
- the drops of calls started before the last decrease are that decrease (Reno's fast recovery,
  RFC 6582: one decrease per window of data): a burst of 429s answered together must not
  collapse the limit to its floor, while a 429 to a call started after it is news;
- the limit stops growing while the smoothed latency of successes is more than
  :data:`LATENCY_TOLERANCE` times its lowest value (the server queues rather than refuses). The
  smoothed value, not single calls: a model's latency follows its output's length, so one short
  answer must not set the bar;
- a drop's Retry-After pauses every new call of the stage, not only the refused one.

The halving of classic AIMD costs a quarter of the throughput on average against a rate cap
(the limit saws between the cap and half of it); 0.9 costs about a twentieth.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

from bsa.errors import BsaError

#: What ``--concurrency`` takes besides a number.
AUTO = "auto"
#: The ceiling of ``auto`` when ``--max-concurrency`` is not given.
DEFAULT_MAX_CONCURRENCY = 256
#: Where ``auto`` starts (the ceiling, when that is lower).
INITIAL_LIMIT = 16
#: Growth stops while successes take longer than this times the lowest latency seen.
LATENCY_TOLERANCE = 2.0
#: The multiplicative decrease on a 429 or 503 (Netflix AIMDLimit's default).
BACKOFF_RATIO = 0.9
#: The decrease on the first drop, which ends slow start (TCP's ssthresh = cwnd / 2).
SLOW_START_EXIT_RATIO = 0.5
#: The weight of a new latency in the smoothed round-trip time.
SMOOTHING = 0.1
#: Successes smoothed before the lowest smoothed latency counts as the baseline.
WARMUP_CALLS = 20


class ConcurrencyError(BsaError):
    """A concurrency setting that cannot work (a ceiling below a fixed concurrency)."""


@dataclass(frozen=True)
class ConcurrencySetting:
    """``--concurrency`` (a number or :data:`AUTO`) with ``--max-concurrency`` (None: the
    default ceiling); frozen so an :class:`~bsa.engine.runner.Execution` can carry it."""

    value: int | str = 16
    maximum: int | None = None

    def __post_init__(self) -> None:
        if self.value != AUTO and not (isinstance(self.value, int) and self.value >= 1):
            raise ConcurrencyError(
                f"concurrency must be a positive integer or 'auto', not {self.value!r}"
            )
        if self.maximum is not None and self.maximum < 1:
            raise ConcurrencyError(
                f"the maximum concurrency must be at least 1, not {self.maximum}"
            )
        if isinstance(self.value, int) and self.maximum is not None and self.value > self.maximum:
            raise ConcurrencyError(
                f"concurrency {self.value} is above the maximum concurrency {self.maximum}; "
                "lower one, or use 'auto' to find the concurrency below the maximum"
            )

    @property
    def adaptive(self) -> bool:
        return self.value == AUTO

    @property
    def ceiling(self) -> int:
        """The most calls ever in flight: the workers to start and the connection pool's size."""
        if isinstance(self.value, int):
            return self.value
        return self.maximum or DEFAULT_MAX_CONCURRENCY

    def limit(self, clock: Callable[[], float] = time.monotonic) -> AdaptiveLimit | None:
        """The gate ``auto`` needs; None for a fixed number (its workers are the limit)."""
        return AdaptiveLimit(self.ceiling, clock=clock) if self.adaptive else None


class AdaptiveLimit:
    """A gate of ``limit`` permits that the outcomes of the calls move (see the module doc)."""

    def __init__(
        self,
        ceiling: int,
        *,
        initial: int = INITIAL_LIMIT,
        floor: int = 1,
        backoff_ratio: float = BACKOFF_RATIO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self._limit = float(max(self.floor, min(initial, self.ceiling)))
        self._backoff_ratio = backoff_ratio
        self._clock = clock
        self._slow_start = True
        #: After slow start: the growth per round trip, and the successes left in this round.
        self._growth = 1.0
        self._round_left = 0.0
        self._in_flight = 0
        self._successes = 0
        self._baseline_latency: float | None = None
        self._smoothed_latency: float | None = None
        #: Each permit's number; drops of permits numbered below ``_recovered_from`` were
        #: already answered by a decrease.
        self._tickets = 0
        self._recovered_from = 0
        self.paused_until = 0.0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._wake_timer: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> int:
        """The calls allowed in flight now."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self) -> int:
        """Wait for a permit: a free one under the limit, outside a Retry-After pause. Return
        its ticket, to give back with the call's outcome."""
        if not self._waiters and self._can_start():
            self._in_flight += 1
            return self._ticket()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake()  # a pause with nothing in flight needs its timer
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_permit()  # granted and cancelled at once: hand it on
            raise
        return self._ticket()

    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def succeeded(self, latency_s: float) -> None:
        """A call worked in ``latency_s``: release its permit and grow while latency holds."""
        in_use = self._in_flight >= self._limit / 2
        self._observe_latency(latency_s)
        if in_use and self._latency_holds():
            self._limit = min(float(self.ceiling), self._limit + self._step())
        self._release_permit()

    def _step(self) -> float:
        """One success's share of the growth: a whole permit in slow start, else the round's
        growth spread over a round's successes (doubled when a round ends without a drop)."""
        if self._slow_start:
            return 1.0
        self._round_left -= 1
        if self._round_left <= 0:
            self._growth = min(self._growth * 2, self._limit / 2)
            self._round_left = self._limit
        return self._growth / self._limit

    def dropped(self, ticket: int, retry_after: float | None) -> None:
        """A 429 or 503 to the call of ``ticket``: shrink, unless a decrease since that call
        started answered it already; pause new calls for its Retry-After."""
        now = self._clock()
        if ticket >= self._recovered_from:
            ratio = SLOW_START_EXIT_RATIO if self._slow_start else self._backoff_ratio
            self._limit = max(float(self.floor), self._limit * ratio)
            self._slow_start = False
            self._growth, self._round_left = 0.5, self._limit  # one a round, after the first
            self._recovered_from = self._tickets + 1
        if retry_after:
            self.paused_until = max(self.paused_until, now + retry_after)
        self._release_permit()

    def ignored(self) -> None:
        """A call that says nothing about load (another error, a timeout): only release."""
        self._release_permit()

    def _observe_latency(self, latency_s: float) -> None:
        previous = self._smoothed_latency
        smoothed = latency_s if previous is None else previous + SMOOTHING * (latency_s - previous)
        self._smoothed_latency = smoothed
        self._successes += 1
        if self._successes >= WARMUP_CALLS:
            baseline = self._baseline_latency
            self._baseline_latency = smoothed if baseline is None else min(baseline, smoothed)

    def _latency_holds(self) -> bool:
        baseline, smoothed = self._baseline_latency, self._smoothed_latency
        return baseline is None or smoothed is None or smoothed <= LATENCY_TOLERANCE * baseline

    def _can_start(self) -> bool:
        return self._in_flight < int(self._limit) and self._clock() >= self.paused_until

    def _release_permit(self) -> None:
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        """Hand free permits to waiters in order; while paused, look again when it ends."""
        while self._waiters and self._in_flight < int(self._limit):
            if self._clock() < self.paused_until:
                self._wake_after_pause()
                return
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._in_flight += 1

    def _wake_after_pause(self) -> None:
        if self._wake_timer is not None:
            return
        delay = self.paused_until - self._clock()

        def wake() -> None:
            self._wake_timer = None
            self._wake()

        self._wake_timer = asyncio.get_running_loop().call_later(max(0.0, delay), wake)
