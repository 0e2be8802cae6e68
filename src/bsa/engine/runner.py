"""One asyncio scheduler for every stage that calls a model (generation now, judging later).

It owns all waiting: a pool of workers (the concurrency limit, fixed or adapted to the server's
answers by :mod:`bsa.engine.concurrency`), optional requests- and
tokens-per-minute limits, a per-request timeout, and exponential backoff with full jitter that
honours Retry-After. Providers only classify (bsa.providers.base); the runner decides:

- rate limits and transient errors are retried up to ``max_attempts``, then the job is failed;
- a content-filter block or a context overflow ends the job at once (retrying pays for the same
  refusal);
- a fatal error (bad key, unknown model, wrong URL) stops the run at once;
- so does evidence that the setup is broken although no single error says so: several distinct
  prompts (:data:`SETUP_FAILURE_PROMPTS`) exhausted their retries with the same kind of error and
  no call has worked yet. One prompt failing fast while healthy calls are still in flight is not
  such evidence: it is stored as failed and the run goes on;
- a server's Retry-After is honoured up to ``RetryPolicy.max_retry_after_s`` (default 300 s): a
  server that asks for hours must not stall a run in silence. Long waits show in the progress line.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bsa.engine.concurrency import AdaptiveLimit, ConcurrencySetting
from bsa.engine.job_queue import JobQueue
from bsa.errors import BsaError
from bsa.providers.base import (
    ContentBlocked,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.types import Completion

J = TypeVar("J")

#: Distinct prompts that must fail the same way, with nothing working yet, to stop the run (all
#: of them when a run asks fewer).
SETUP_FAILURE_PROMPTS = 5
#: Waits at least this long are shown in the progress line.
SHOWN_WAIT_S = 5.0


class RunAborted(BsaError):
    """The run stopped because every further call would fail the same way."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    timeout_s: float = 600.0
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    #: The longest a server's Retry-After may make one job wait before its next attempt.
    max_retry_after_s: float = 300.0

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Full jitter spreads retries of many workers that failed together; a server's Retry-After
        is a floor, never shortened, up to ``max_retry_after_s``.
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        delay = rng.uniform(0, ceiling)
        if retry_after is None:
            return delay
        return max(delay, min(retry_after, self.max_retry_after_s))


@dataclass(frozen=True)
class Execution:
    """How a stage runs, which may change between resumes without changing its results; here,
    beside the runner it configures, so generation and judging share it without importing each
    other."""

    k: int = 5
    #: A number, or ``"auto"`` (bsa.engine.concurrency) up to ``max_concurrency``.
    concurrency: int | str = 16
    max_concurrency: int | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rpm: float | None = None
    tpm: float | None = None
    use_n: bool = False
    #: Through the vendor's batch API (bsa.batch) instead of live calls, polled every
    #: ``poll_interval_s`` seconds at first.
    batch: bool = False
    poll_interval_s: float = 30.0

    def __post_init__(self) -> None:
        self.concurrency_setting  # noqa: B018 - checks the pair when the stage is planned

    @property
    def concurrency_setting(self) -> ConcurrencySetting:
        return ConcurrencySetting(self.concurrency, self.max_concurrency)


@dataclass(frozen=True)
class JobResult:
    """How a job ended: completions, or the error that ended it."""

    completions: list[Completion] | None
    error: ProviderError | None
    attempts: int
    latency_s: float | None


@dataclass
class RunCounters:
    """Live counts for progress displays and the closing summary."""

    total: int = 0
    done: int = 0
    ok: int = 0
    blocked: int = 0
    failed: int = 0
    retries: int = 0
    in_flight: int = 0
    #: ``auto`` concurrency's limit now and its ceiling; None at a fixed concurrency.
    concurrency: int | None = None
    max_concurrency: int | None = None
    #: Jobs waiting out a long backoff (at least SHOWN_WAIT_S), and when the last of them ends
    #: (``time.monotonic()``), for the progress line.
    waiting: int = 0
    waiting_until: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: What the vendor's batches say while they run (``--batch``), for the progress line.
    batch_note: str = ""
    #: What a batched stage has to tell the user at its end (a batch that may be at the vendor
    #: unrecorded, a vendor file it could not delete): warnings, never errors.
    warnings: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)


class Progress(Protocol):
    def update(self, counters: RunCounters) -> None: ...


class RateLimiter:
    """Requests-per-minute by even spacing; tokens-per-minute over a sliding 60 s window."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self._interval = 60.0 / rpm if rpm else 0.0
        self._next_start = 0.0
        self._tpm = tpm
        self._tokens: collections.deque[tuple[float, int]] = collections.deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self._interval and not self._tpm:
            return
        async with self._lock:
            now = time.monotonic()
            if self._interval:
                wait = self._next_start - now
                self._next_start = max(now, self._next_start) + self._interval
                if wait > 0:
                    await asyncio.sleep(wait)
            await self._wait_for_tokens()

    async def _wait_for_tokens(self) -> None:
        while self._tpm:
            now = time.monotonic()
            while self._tokens and self._tokens[0][0] <= now - 60:
                self._tokens.popleft()
            if sum(n for _, n in self._tokens) < self._tpm:
                return
            await asyncio.sleep(self._tokens[0][0] + 60 - now)

    def record(self, tokens: int) -> None:
        if self._tpm and tokens:
            self._tokens.append((time.monotonic(), tokens))


class Runner(Generic[J]):
    """Run ``call`` on every job with ``concurrency`` workers; report each ending to ``on_done``."""

    def __init__(
        self,
        call: Callable[[J], Awaitable[list[Completion]]],
        on_done: Callable[[J, JobResult], None],
        *,
        concurrency: int | ConcurrencySetting = 16,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        progress: Progress | None = None,
        rng: random.Random | None = None,
        job_key: Callable[[J], Hashable] | None = None,
    ) -> None:
        """``job_key`` names the prompt a job asks (several jobs may ask one prompt): the setup
        is judged broken only when distinct prompts fail, never by the samples of one."""
        self._call = call
        self._on_done = on_done
        setting = (
            concurrency
            if isinstance(concurrency, ConcurrencySetting)
            else ConcurrencySetting(max(1, concurrency))
        )
        self._workers = setting.ceiling
        self._gate: AdaptiveLimit | None = setting.limit()
        self._policy = policy or RetryPolicy()
        self._limiter = limiter or RateLimiter()
        self._progress = progress
        self._rng = rng or random.Random()
        self._job_key: Callable[[J], Hashable] = job_key or id
        #: Error kind -> prompts that failed with it while nothing had worked yet.
        self._early_failures: dict[str, set[Hashable]] = {}
        self._setup_failure_prompts = SETUP_FAILURE_PROMPTS
        self._queue: JobQueue[J] = JobQueue(closed=True)
        self._stopping = asyncio.Event()
        self.counters = RunCounters()

    async def run(self, jobs: Sequence[J] | JobQueue[J]) -> RunCounters:
        """Process all jobs (a queue: until it is closed and drained); raise RunAborted on a fatal
        error (finished results are kept). A queue's prompts are not known in advance, so its
        setup is judged broken after SETUP_FAILURE_PROMPTS of them, never fewer."""
        if not isinstance(jobs, JobQueue):
            self._setup_failure_prompts = min(
                SETUP_FAILURE_PROMPTS, len({self._job_key(job) for job in jobs})
            )
            jobs = JobQueue(jobs, closed=True)
        self._queue = jobs
        stopped = self._stopping.is_set()
        self._stopping = asyncio.Event()  # of this run's event loop
        if stopped:  # stopped before it started
            self.stop()
        self.counters = RunCounters(total=jobs.added)
        self._show_limit()
        self._report()
        workers = [asyncio.ensure_future(self._worker(jobs)) for _ in range(self._workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return self.counters

    def stop(self) -> None:
        """Start nothing more (no new job, no retry) and end once the calls in flight are done:
        their results are kept, the rest stays missing for a rerun (a pipelined stage stops so
        when another stage failed)."""
        self._stopping.set()
        self._queue.abandon()

    async def _worker(self, jobs: JobQueue[J]) -> None:
        while (job := await jobs.take()) is not None:
            result = await self._attempt_until_done(job)
            if result is not None:
                self._finish(job, result)

    async def _attempt_until_done(self, job: J) -> JobResult | None:
        """How ``job`` ended; None if the runner was stopped before its next attempt."""
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            if self._stopping.is_set():
                return None
            outcome, latency = await self._call_once(job)
            if not isinstance(outcome, ProviderError):
                return JobResult(outcome, None, attempt, latency)
            if isinstance(outcome, FatalError):
                raise RunAborted(outcome.message) from outcome
            if not outcome.retryable or attempt >= self._policy.max_attempts:
                return JobResult(None, outcome, attempt, None)
            self.counters.retries += 1
            await self._wait(self._policy.backoff(attempt, outcome.retry_after, self._rng))

    async def _call_once(self, job: J) -> tuple[list[Completion] | ProviderError, float]:
        """One attempt inside the concurrency limit: its completions or error, and its latency."""
        ticket = await self._gate.acquire() if self._gate is not None else 0
        started = time.monotonic()
        self.counters.in_flight += 1
        outcome: list[Completion] | ProviderError | None = None
        try:
            outcome = await asyncio.wait_for(self._call(job), self._policy.timeout_s)
        except ProviderError as error:
            outcome = error
        except asyncio.TimeoutError:
            outcome = TransientError(f"no response within {self._policy.timeout_s:g} s")
        finally:
            self.counters.in_flight -= 1
            latency = time.monotonic() - started
            self._settle(ticket, outcome, latency)
        return outcome, latency

    def _settle(
        self, ticket: int, outcome: list[Completion] | ProviderError | None, latency: float
    ) -> None:
        """Tell ``auto`` concurrency how an attempt went: 429 and 503 mean back off."""
        gate = self._gate
        if gate is None:
            return
        if isinstance(outcome, list):
            gate.succeeded(latency)
        elif isinstance(outcome, (RateLimited, Overloaded)):
            retry_after = outcome.retry_after
            gate.dropped(
                ticket,
                None if retry_after is None else min(retry_after, self._policy.max_retry_after_s),
            )
        else:
            gate.ignored()
        self._show_limit()

    def _show_limit(self) -> None:
        if self._gate is not None:
            self.counters.concurrency = self._gate.limit
            self.counters.max_concurrency = self._gate.ceiling

    async def _wait(self, seconds: float) -> None:
        """Sleep before a retry; a long wait is counted so the progress line can show it."""
        if seconds < SHOWN_WAIT_S:
            self._report()
            await self._sleep(seconds)
            return
        counters = self.counters
        counters.waiting += 1
        counters.waiting_until = max(counters.waiting_until, time.monotonic() + seconds)
        self._report()
        try:
            await self._sleep(seconds)
        finally:
            counters.waiting -= 1

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or less if the runner is stopped meanwhile (the retry will not be made)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _finish(self, job: J, result: JobResult) -> None:
        counters = self.counters
        counters.done += 1
        if result.completions is not None:
            counters.ok += 1
            for completion in result.completions:
                counters.prompt_tokens += completion.usage.prompt_tokens or 0
                counters.completion_tokens += completion.usage.completion_tokens or 0
            self._limiter.record(sum(c.usage.total for c in result.completions))
        elif isinstance(result.error, ContentBlocked):
            counters.blocked += 1
        else:
            counters.failed += 1
        self._on_done(job, result)
        self._report()
        if result.error is not None and not isinstance(result.error, ContentBlocked):
            self._check_setup(job, result.error)

    def _check_setup(self, job: J, error: ProviderError) -> None:
        """Stop when distinct prompts keep failing the same way and nothing has worked yet."""
        if self.counters.ok or self.counters.blocked:
            self._early_failures.clear()
            return
        kind = type(error).__name__
        prompts = self._early_failures.setdefault(kind, set())
        prompts.add(self._job_key(job))
        if len(prompts) >= self._setup_failure_prompts:
            which = "the only prompt" if len(prompts) == 1 else f"{len(prompts)} different prompts"
            raise RunAborted(
                f"{which} failed the same way and no call has worked yet; check the setup: {error}"
            )

    def _report(self) -> None:
        self.counters.total = self._queue.added
        if self._progress is not None:
            self._progress.update(self.counters)
