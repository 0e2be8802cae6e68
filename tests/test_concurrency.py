"""``auto`` concurrency's controller (bsa.concurrency), driven by hand with a clock we move."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bsa.concurrency import (
    BACKOFF_RATIO,
    DEFAULT_MAX_CONCURRENCY,
    WARMUP_CALLS,
    AdaptiveLimit,
    ConcurrencyError,
    ConcurrencySetting,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drive(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


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


def test_a_429_multiplies_the_limit_by_the_backoff_ratio_then_growth_is_one_per_round() -> None:
    async def test() -> None:
        clock = Clock()
        limit = AdaptiveLimit(100, initial=40, clock=clock)
        await fill(limit)
        limit.succeeded(1.0)  # a round-trip time for the recovery window
        limit.dropped(None)
        assert limit.limit == int(41 * BACKOFF_RATIO)  # 36: the ratio, not a halving
        clock.now += 2
        await round_trip(limit)
        await round_trip(limit)
        assert 37 <= limit.limit <= 39  # about one per round after a drop (slow start: 144)

    drive(test)


def test_the_drops_of_one_round_trip_are_one_drop() -> None:
    async def test() -> None:
        clock = Clock()
        limit = AdaptiveLimit(100, initial=50, clock=clock)
        await fill(limit)
        limit.succeeded(2.0)  # slow start: 51
        for _ in range(10):  # a burst of 429s answered together
            limit.dropped(None)
        assert limit.limit == int(51 * BACKOFF_RATIO)
        clock.now += 2.5  # a round trip later, a 429 is news again
        limit.dropped(None)
        assert limit.limit == int(51 * BACKOFF_RATIO * BACKOFF_RATIO)

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
            clock.now += 10
            await limit.acquire()
            limit.dropped(None)
        assert limit.limit == 1
        await limit.acquire()  # the floor still lets a call through

    drive(test)


def test_a_503_backs_off_like_a_429_and_other_errors_do_not() -> None:
    async def test() -> None:
        limit = AdaptiveLimit(100, initial=20, clock=Clock())
        await fill(limit)
        limit.ignored()
        assert limit.limit == 20
        limit.dropped(None)
        assert limit.limit == 18

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
        await limit.acquire()
        limit.dropped(0.05)
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
