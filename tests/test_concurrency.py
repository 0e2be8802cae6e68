"""``auto`` concurrency's controller (bsa.engine.concurrency), driven by hand with a clock we move."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bsa.engine.concurrency import (
    BACKOFF_RATIO,
    DEFAULT_MAX_CONCURRENCY,
    WARMUP_CALLS,
    AdaptiveLimit,
    ConcurrencyError,
    ConcurrencySetting,
)
from bsa.engine.runner import JobResult, RateLimiter, RetryPolicy, Runner
from bsa.providers.base import RateLimited
from bsa.types import Completion, Usage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drive(test: Callable[[], Awaitable[None]]) -> None:
    """Run ``test``; a permit that never comes fails it instead of hanging the suite."""
    asyncio.run(asyncio.wait_for(test(), 60))


async def fill(limit: AdaptiveLimit) -> None:
    """Take every free permit, as the runner's waiting workers do."""
    while limit.in_flight < limit.limit:
        await limit.acquire()


async def round_trip(limit: AdaptiveLimit, latency: float = 1.0) -> None:
    """Every call in flight succeeds, each followed by a new call in its place."""
    await fill(limit)
    for _ in range(limit.in_flight):
        limit.succeeded(latency)
        await fill(limit)


def test_slow_start_doubles_the_limit_per_round_of_successes() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(100, initial=4, clock=Clock())
        for expected in (8, 16, 32):
            await round_trip(limit)
            assert limit.limit == expected

    drive(test)


def test_the_first_429_halves_the_limit_later_ones_take_a_tenth_then_growth_is_linear() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(1000, initial=80, clock=Clock())
        first = await limit.acquire()
        limit.dropped(first, None)
        assert limit.limit == 40, "the end of slow start halves (it overshoots up to twice)"
        await round_trip(limit)
        limit.ignored()  # one call ends without news, and a new one takes its permit
        later = await limit.acquire()
        before = limit.limit
        limit.dropped(later, None)
        assert limit.limit == int(before * BACKOFF_RATIO)  # not halved again
        settled = limit.limit
        await round_trip(limit)
        await round_trip(limit)
        assert settled + 1 <= limit.limit <= settled + 3  # about one a round (slow start: x4)

    drive(test)


def test_429s_to_calls_started_before_a_decrease_are_that_decrease() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(1000, initial=100, clock=Clock())
        tickets = [await limit.acquire() for _ in range(100)]
        for ticket in tickets[:30]:  # a burst of 429s answered together
            limit.dropped(ticket, None)
        assert limit.limit == 50
        await round_trip(limit)  # calls started after the decrease
        limit.ignored()
        after = await limit.acquire()
        limit.dropped(tickets[30], None)
        assert limit.limit >= 50, "still old news"
        grown = limit._limit
        limit.dropped(after, None)
        assert limit.limit == int(grown * BACKOFF_RATIO), "a 429 to a newer call is news"

    drive(test)


def test_the_limit_stays_between_its_floor_and_its_ceiling() -> None:
    async def test() -> None:
        clock = Clock()
        limit = AdaptiveLimit(10, initial=8, clock=clock)
        for _ in range(5):
            await round_trip(limit)
        assert limit.limit == 10
        while limit.in_flight:
            limit.ignored()
        for _ in range(100):
            limit.dropped(await limit.acquire(), None)
        assert limit.limit == 1
        await limit.acquire()  # the floor still lets a call through

    drive(test)


def test_a_drop_shrinks_the_limit_and_a_call_that_says_nothing_about_load_does_not() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(100, initial=20, clock=Clock())
        await fill(limit)
        limit.ignored()
        assert limit.limit == 20
        limit.dropped(await limit.acquire(), None)
        assert limit.limit == 10

    drive(test)


def test_growth_stops_while_latency_rises_and_while_the_limit_is_not_used() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(1000, initial=WARMUP_CALLS, clock=Clock())
        for _ in range(3):
            await round_trip(limit)
        grown = limit.limit
        for _ in range(3):  # the server queues: latency climbs to five times its baseline
            await round_trip(limit, 5.0)
        # the smoothed latency passes twice its baseline after three slow calls; then no growth
        # (as it held, three rounds would have taken 160 to 1000)
        assert grown == 160 and limit.limit <= grown + 3
        idle = AdaptiveLimit(1000, initial=100, clock=Clock())
        for _ in range(200):  # one call at a time: the limit is not what holds the stage back
            await idle.acquire()
            idle.succeeded(1.0)
        assert idle.limit == 100

    drive(test)


def test_retry_after_pauses_every_new_call_until_it_ends() -> None:
    async def test() -> None:
        loop = asyncio.get_running_loop()
        limit = AdaptiveLimit(100, initial=10, clock=loop.time)
        limit.dropped(await limit.acquire(), 0.05)
        assert limit.paused_until >= loop.time() + 0.04
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        assert not waiting.done(), "a permit is free, but the server asked for a pause"
        await asyncio.wait_for(waiting, 5)
        assert loop.time() >= limit.paused_until
        assert limit.in_flight == 1

    drive(test)


def test_a_cancelled_waiter_leaves_no_permit_behind() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(100, initial=1, clock=Clock())
        await limit.acquire()
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        limit.ignored()
        assert limit.in_flight == 0
        await limit.acquire()
        assert limit.in_flight == 1

    drive(test)


def test_a_setting_names_its_ceiling_and_refuses_what_cannot_work() -> None:
    assert ConcurrencySetting(32).ceiling == 32
    assert ConcurrencySetting(32).limit() is None
    assert ConcurrencySetting("auto").ceiling == DEFAULT_MAX_CONCURRENCY
    auto = ConcurrencySetting("auto", 1024).limit()
    assert auto is not None and auto.ceiling == 1024
    with pytest.raises(ConcurrencyError, match="above the maximum concurrency 8"):
        ConcurrencySetting(64, 8)
    with pytest.raises(ConcurrencyError, match="positive integer or 'auto'"):
        ConcurrencySetting("fast")


def test_the_runner_keeps_auto_within_its_limit_beside_an_rpm_limit_and_retry_after() -> None:
    """The runner passes the gate on every attempt: never more in flight than the limit allows,
    a 429 shrinks the limit and is retried after its Retry-After, the rpm limiter still runs."""
    in_flight = peak = 0
    refused: set[str] = set()

    async def call(job: str) -> list[Completion]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.001)
            if job.endswith("3") and job not in refused:
                refused.add(job)
                raise RateLimited("slow down", retry_after=0.01)
            return [Completion("a", "r", "reasoning_content", "stop", False, Usage(1, 1, 0), {})]
        finally:
            in_flight -= 1

    results: dict[str, JobResult] = {}
    runner: Runner[str] = Runner(
        call,
        results.__setitem__,
        concurrency=ConcurrencySetting("auto", 6),
        policy=RetryPolicy(base_delay_s=0.0),
        limiter=RateLimiter(rpm=600_000),
    )
    counters = asyncio.run(asyncio.wait_for(runner.run([f"j{n}" for n in range(60)]), 60))
    assert counters.ok == 60 and len(refused) == 6
    assert all(results[job].attempts == 2 for job in refused)
    assert peak <= 6
    assert counters.max_concurrency == 6
    assert counters.concurrency is not None and counters.concurrency < 6, "the 429s shrank it"
