"""The runner's decisions, with an in-process call standing in for a provider."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import replace

import pytest

from bsa.engine.job_queue import JobQueue
from bsa.engine.runner import (
    SETUP_FAILURE_PROMPTS,
    JobResult,
    RateLimiter,
    RetryPolicy,
    RunAborted,
    RunCounters,
    Runner,
)
from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.types import Completion, Usage
from tests.conftest import FAST_RETRIES

FAST = replace(FAST_RETRIES, max_attempts=4)


def completion(text: str = "answer") -> Completion:
    return Completion(text, "reasoning", "reasoning_content", "stop", False, Usage(3, 4, 1), {})


class Script:
    """Per job, a list of outcomes to play in order; the last one repeats."""

    def __init__(self, plan: dict[str, list[ProviderError | str]]) -> None:
        self.plan = plan
        self.calls: Counter[str] = Counter()

    async def __call__(self, job: str) -> list[Completion]:
        outcomes = self.plan.get(job, ["ok"])
        outcome = outcomes[min(self.calls[job], len(outcomes) - 1)]
        self.calls[job] += 1
        await asyncio.sleep(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        if outcome == "hang":
            await asyncio.sleep(3600)
        if outcome == "sleep":
            await asyncio.sleep(0.2)
        return [completion(job)]


def run(
    script: Script, jobs: list[str], policy: RetryPolicy = FAST, **kwargs: object
) -> dict[str, JobResult]:
    results: dict[str, JobResult] = {}
    runner: Runner[str] = Runner(
        script,
        lambda job, r: results.__setitem__(job, r),
        policy=policy,
        rng=random.Random(0),
        **kwargs,
    )  # type: ignore[arg-type]
    asyncio.run(runner.run(jobs))
    return results


def test_retries_rate_limits_and_transient_errors() -> None:
    script = Script({"a": [RateLimited("slow down"), TransientError("502"), "ok"]})
    results = run(script, ["a", "b"])
    assert results["a"].completions is not None
    assert results["a"].attempts == 3
    assert results["b"].attempts == 1


def test_gives_up_after_max_attempts_once_something_worked() -> None:
    script = Script({"a": ["ok"], "b": [TransientError("500")]})
    results = run(script, ["a", "b"], concurrency=1)
    assert results["b"].completions is None
    assert isinstance(results["b"].error, TransientError)
    assert results["b"].attempts == FAST.max_attempts == script.calls["b"]


def test_content_filter_and_context_overflow_are_not_retried() -> None:
    script = Script(
        {"x": ["ok"], "blocked": [ContentBlocked("no")], "long": [ContextOverflow("too long")]}
    )
    results = run(script, ["x", "blocked", "long"], concurrency=1)
    assert script.calls["blocked"] == 1
    assert script.calls["long"] == 1
    assert isinstance(results["blocked"].error, ContentBlocked)


def test_fatal_error_stops_the_run() -> None:
    script = Script({"a": [FatalError("authentication failed (HTTP 401)")]})
    with pytest.raises(RunAborted, match="authentication failed"):
        run(script, ["a"] + [f"j{n}" for n in range(100)], concurrency=1)
    assert sum(script.calls.values()) == 1


def test_distinct_prompts_failing_alike_with_nothing_working_stop_the_run() -> None:
    script = Script({f"j{n}": [TransientError("cannot connect")] for n in range(50)})
    with pytest.raises(
        RunAborted,
        match="5 different prompts failed the same way and no call has worked yet; check the "
        "setup: cannot connect",
    ):
        run(script, [f"j{n}" for n in range(50)], concurrency=2)
    assert sum(script.calls.values()) <= (SETUP_FAILURE_PROMPTS + 2) * FAST.max_attempts


def test_one_fast_failing_prompt_does_not_stop_a_healthy_run() -> None:
    """The rule "the first job to finish failed before anything succeeded" used to stop here."""
    failing = {"bad": [TransientError("HTTP 500: broken prompt")] * FAST.max_attempts}
    script = Script({**failing, **{f"slow{n}": ["sleep"] for n in range(58)}})
    results = run(script, ["bad"] + [f"slow{n}" for n in range(58)], concurrency=59)
    assert results["bad"].error is not None
    assert sum(1 for r in results.values() if r.completions is not None) == 58


def test_the_samples_of_one_prompt_are_not_distinct_prompts() -> None:
    """Five failing samples of one prompt say nothing about the setup; the run goes on."""
    jobs = [f"bad#{n}" for n in range(5)] + ["good"]
    script = Script({job: [TransientError("HTTP 500")] * FAST.max_attempts for job in jobs[:5]})
    results = run(script, jobs, concurrency=6, job_key=lambda job: job.split("#")[0])
    assert results["good"].completions is not None


def test_timeout_is_transient() -> None:
    script = Script({"slow": ["hang", "ok"]})
    policy = RetryPolicy(max_attempts=3, timeout_s=0.05, base_delay_s=0.0)
    results = run(script, ["slow"], policy=policy)
    assert results["slow"].attempts == 2


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=60)
    rng = random.Random(1)
    assert all(policy.backoff(1, 7.0, rng) >= 7.0 for _ in range(100))
    delays = [policy.backoff(3, None, rng) for _ in range(1000)]
    assert min(delays) >= 0 and max(delays) <= 2.0  # full jitter below 0.5 * 2**2
    assert max(policy.backoff(30, None, rng) for _ in range(100)) <= 60


def test_retry_after_is_capped() -> None:
    """A server asking for 28 hours gets the policy's ceiling, not its wish."""
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=60, max_retry_after_s=300)
    rng = random.Random(1)
    assert all(policy.backoff(1, 100_000.0, rng) == 300 for _ in range(100))
    assert all(policy.backoff(1, 7.0, rng) >= 7.0 for _ in range(100))


def test_a_long_wait_is_counted_while_it_lasts() -> None:
    seen: list[tuple[int, float]] = []

    class Watch:
        def update(self, counters: RunCounters) -> None:
            seen.append((counters.waiting, counters.waiting_until - time.monotonic()))

    policy = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_retry_after_s=0.3)
    runner: Runner[str] = Runner(
        Script({"a": [RateLimited("slow down", retry_after=1000.0), "ok"]}),
        lambda job, result: None,
        policy=policy,
        progress=Watch(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bsa.engine.runner.SHOWN_WAIT_S", 0.2)
        counters = asyncio.run(runner.run(["a"]))
    assert counters.ok == 1 and counters.waiting == 0
    assert any(waiting == 1 and 0 < left <= 0.3 for waiting, left in seen)


def test_concurrency_is_respected() -> None:
    peak = 0
    active = 0

    async def call(job: str) -> list[Completion]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1
        return [completion()]

    runner: Runner[str] = Runner(call, lambda job, r: None, concurrency=7, policy=FAST)
    counters = asyncio.run(runner.run([str(n) for n in range(100)]))
    assert peak == 7
    assert (counters.done, counters.ok, counters.prompt_tokens) == (100, 100, 300)


def test_requests_per_minute_are_spaced() -> None:
    async def measure() -> float:
        limiter = RateLimiter(rpm=1200)  # one start every 50 ms
        start = time.monotonic()
        for _ in range(5):
            await limiter.acquire()
        return time.monotonic() - start

    assert asyncio.run(measure()) >= 0.19


def test_a_queue_is_worked_as_it_grows_until_it_is_closed() -> None:
    results: dict[str, JobResult] = {}

    async def scenario() -> RunCounters:
        queue: JobQueue[str] = JobQueue(["a"])
        runner: Runner[str] = Runner(Script({}), results.__setitem__, concurrency=2, policy=FAST)
        task = asyncio.ensure_future(runner.run(queue))
        while "a" not in results:
            await asyncio.sleep(0)
        queue.add(["b", "c"])
        while len(results) < 3:
            await asyncio.sleep(0)
        assert not task.done(), "an open queue may still bring work"
        queue.close()
        return await asyncio.wait_for(task, 30)

    counters = asyncio.run(scenario())
    assert sorted(results) == ["a", "b", "c"] and (counters.total, counters.done) == (3, 3)


def test_stop_lets_calls_in_flight_finish_and_starts_nothing_more() -> None:
    results: dict[str, JobResult] = {}

    async def scenario() -> RunCounters:
        script = Script({"first": ["sleep"]})
        runner: Runner[str] = Runner(script, results.__setitem__, concurrency=1, policy=FAST)
        task = asyncio.ensure_future(runner.run(["first", "second", "third"]))
        while not script.calls["first"]:
            await asyncio.sleep(0)
        runner.stop()
        return await asyncio.wait_for(task, 30)

    counters = asyncio.run(scenario())
    assert list(results) == ["first"], "the call in flight is kept, no other is made"
    assert results["first"].completions is not None and counters.done == 1


def test_stop_ends_a_backoff_without_the_retry() -> None:
    script = Script({"a": [RateLimited("slow down", retry_after=1000.0), "ok"]})
    policy = replace(FAST, max_retry_after_s=1000.0)
    results: dict[str, JobResult] = {}

    async def scenario() -> RunCounters:
        runner: Runner[str] = Runner(script, results.__setitem__, policy=policy)
        task = asyncio.ensure_future(runner.run(["a"]))
        while not runner.counters.retries:
            await asyncio.sleep(0)
        runner.stop()
        return await asyncio.wait_for(task, 30)

    counters = asyncio.run(scenario())
    assert script.calls["a"] == 1 and results == {}, "no retry, and no result stored as failed"
    assert counters.done == 0
