"""Run a stage's jobs through a vendor's batch API instead of live calls (``--batch``).

The same jobs, the same request bodies, the same ``on_done`` as the live
:class:`~bsa.engine.runner.Runner`, so every result is classified and stored exactly as a live
one would be. What differs is the waiting:

- the jobs not already in a stored open batch are split by the vendor's limits and submitted;
  each batch id and its requests' custom ids are committed the moment the vendor returns it;
- every open batch (new, or stored by an earlier command that was interrupted) is polled, at
  ``poll_interval_s`` growing by half each time up to ten times that;
- an ended batch's results are stored; requests it never ran (expired, cancelled) and retryable
  errors (rate limits, server errors) are submitted again in a new batch, up to the retry
  policy's ``max_attempts`` rounds; nothing else is ever submitted twice.

Ctrl-C stops the polling and leaves the batches running at the vendor: a rerun polls them.
A kill during a create call, after the vendor accepted the batch but before its id was committed,
leaves the batch's *submit* in the run file: the next run looks for it at the vendor by its tag
and adopts it (OpenAI), or warns that it may be there (a vendor without metadata), before it
submits anything. Once a batch's results are committed, the vendor's files of it are deleted.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bsa.batch.api import BatchApi, BatchLimits, BatchState, BatchTag, Outcome
from bsa.engine.runner import JobResult, Progress, RetryPolicy, RunAborted, RunCounters
from bsa.errors import BsaError
from bsa.providers.base import ContentBlocked, FatalError, ProviderError
from bsa.runfile.batches import (
    FINISH_BATCH,
    PendingSubmit,
    RequestKey,
    StoredBatch,
    begin_submit,
    forget_submits,
    pending_submits,
    record_batch,
    requests_digest,
    run_id,
    settled_keys,
    stored_batches,
    update_batch,
)
from bsa.runfile.store import RunStore
from bsa.runfile.writer import ResultWriter
from bsa.types import Request

J = TypeVar("J")
T = TypeVar("T")
#: How much each wait between polls grows, and the most it grows to (times the first).
POLL_GROWTH = 1.5
POLL_CEILING = 10.0


def poll_waits(interval_s: float) -> Iterator[float]:
    """Seconds between polls: ``interval_s``, then half as long again each time, up to ten
    times ``interval_s`` (a batch takes minutes to hours; polling it every second is noise)."""
    wait = interval_s
    while True:
        yield wait
        wait = min(wait * POLL_GROWTH, interval_s * POLL_CEILING)


def split_entries(
    entries: Sequence[tuple[str, bytes]], limits: BatchLimits
) -> list[list[tuple[str, bytes]]]:
    """Consecutive groups of ``(custom_id, encoded)`` entries, each within ``limits`` (a byte per
    entry for the separator); an entry too large for any batch is an error."""
    groups: list[list[tuple[str, bytes]]] = []
    size = 0
    for custom_id, encoded in entries:
        need = len(encoded) + 1
        if need > limits.max_bytes:
            raise BsaError(
                f"one request is {need:,} bytes, more than a batch may hold "
                f"({limits.max_bytes:,}); run this stage without --batch"
            )
        if not groups or len(groups[-1]) >= limits.max_requests or size + need > limits.max_bytes:
            groups.append([])
            size = 0
        groups[-1].append((custom_id, encoded))
        size += need
    return groups


@dataclass(frozen=True)
class BatchJobs(Generic[J]):
    """How the runner sees a stage's jobs: what each stands for and what it asks."""

    key_of: Callable[[J], RequestKey]
    request_of: Callable[[J], Request]
    on_done: Callable[[J, JobResult], None]


class BatchRunner(Generic[J]):
    """Submit, poll and store one stage's jobs in batches of ``api``."""

    def __init__(
        self,
        api: BatchApi,
        store: RunStore,
        writer: ResultWriter,
        stage: str,
        jobs: BatchJobs[J],
        *,
        policy: RetryPolicy,
        poll_interval_s: float,
        progress: Progress | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._api = api
        self._store = store
        self._writer = writer
        self._stage = stage
        self._jobs = jobs
        self._policy = policy
        self._poll_interval_s = poll_interval_s
        self._progress = progress
        self._rng = rng or random.Random()
        self._finished: set[str] = set()
        self._fatal: str | None = None
        self._poll_failures: dict[str, int] = {}
        #: Per open batch: (requests, requests the vendor has processed), for the progress line.
        self._vendor_counts: dict[str, tuple[int, int]] = {}
        self.counters = RunCounters()

    async def run(self, jobs: Sequence[J]) -> RunCounters:
        """Get a result for every job (rounds of batches); raise RunAborted on a fatal one, after
        storing the rest of its batch."""
        self.counters = RunCounters(total=len(jobs))
        await self._recover_submits()
        by_key = {self._jobs.key_of(job): job for job in jobs}
        todo = set(by_key)
        for attempt in range(1, self._policy.max_attempts + 1):
            waiting = [b for b in stored_batches(self._store, self._stage, open_only=True)
                       if b.batch_id not in self._finished]  # fmt: skip
            busy = {key for batch in waiting for key in batch.requests.values()}
            self.counters.in_flight = sum(len(batch.requests) for batch in waiting)
            fresh = [job for key, job in by_key.items() if key in todo and key not in busy]
            waiting += await self._submit(fresh)
            last = attempt == self._policy.max_attempts
            todo = await self._settle(waiting, by_key, attempt, last=last)
            if self._fatal is not None:
                raise RunAborted(self._fatal)
            if not todo:
                break
            self.counters.retries += len(todo)
        return self.counters

    async def _recover_submits(self) -> None:
        """Settle the submits an earlier command began and never recorded: adopt each batch
        the vendor holds under its tag; warn of each the vendor cannot be asked about."""
        pending = pending_submits(self._store, self._stage)
        if not pending:
            return
        run = run_id(self._store)
        tags = [BatchTag(run, self._stage, submit.digest) for submit in pending]
        since = min(submit.started_at for submit in pending)
        try:
            found = await self._retrying(functools.partial(self._api.find_tagged, tags, since))
        except RunAborted:  # an endpoint without the listing: as if the vendor kept no tags
            found = None
        known = {batch.batch_id for batch in stored_batches(self._store, self._stage)}
        for submit in pending:
            batch_id = (found or {}).get(submit.digest)
            if batch_id is not None and batch_id not in known:
                record_batch(self._store, batch_id, self._stage, "found", submit.requests,
                             digest=submit.digest)  # fmt: skip
                continue
            if found is None:
                self.counters.warnings.append(self._unknown_submit(submit))
            forget_submits(self._store, [submit.digest])

    def _unknown_submit(self, submit: PendingSubmit) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(submit.started_at))
        return (
            f"a batch of {len(submit.requests)} requests of {self._stage} was being submitted "
            f"at {when} when bsa stopped; {self._api.label}'s batch API cannot say whether it "
            "was made: look for it in the vendor's console and cancel it there (bsa submits "
            "those requests again)"
        )

    async def _submit(self, jobs: Sequence[J]) -> list[StoredBatch]:
        """Submit ``jobs`` in as many batches as the limits ask; commit each as it is made."""
        keys = {f"r{n}": self._jobs.key_of(job) for n, job in enumerate(jobs)}
        entries = [
            (custom, self._api.encode(custom, self._jobs.request_of(job)))
            for custom, job in zip(keys, jobs, strict=True)
        ]
        submitted = []
        run = run_id(self._store) if entries else ""
        for group in split_entries(entries, self._api.limits):
            encoded = [entry for _, entry in group]
            requests = {custom: keys[custom] for custom, _ in group}
            tag = BatchTag(run, self._stage, requests_digest(encoded))
            state = await self._create(encoded, tag, requests)
            record_batch(self._store, state.batch_id, self._stage, state.state, requests,
                         digest=tag.digest)  # fmt: skip
            submitted.append(StoredBatch(state.batch_id, self._stage, state.state, False,
                                         state.counts, requests))  # fmt: skip
            self.counters.in_flight += len(group)
            self._report()
        return submitted

    async def _create(
        self, encoded: list[bytes], tag: BatchTag, requests: dict[str, RequestKey]
    ) -> BatchState:
        """Create one batch, its submit recorded first; a create the vendor refused (no batch
        made) ends its submit."""
        begin_submit(self._store, tag.digest, self._stage, requests)
        try:
            return await self._retrying(functools.partial(self._api.submit, encoded, tag))
        except RunAborted as stop:
            refused = stop.__cause__
            if isinstance(refused, ProviderError) and not refused.retryable:
                forget_submits(self._store, [tag.digest])
            raise

    async def _settle(
        self, batches: list[StoredBatch], by_key: dict[RequestKey, J], attempt: int, *, last: bool
    ) -> set[RequestKey]:
        """Poll until every batch has ended, storing each one's results; return the keys to
        submit again."""
        again: set[RequestKey] = set()
        waits = poll_waits(self._poll_interval_s)
        pending = list(batches)
        while pending:
            still = []
            for batch in pending:
                state = await self._poll(batch)
                if state is None or not state.ended:
                    still.append(batch)
                    continue
                again |= await self._store_results(batch, state, by_key, attempt, last=last)
            pending = still
            if pending:
                await asyncio.sleep(next(waits))
        return again

    async def _poll(self, batch: StoredBatch) -> BatchState | None:
        """The batch's state now; None when the poll failed in a way worth another try (up to
        ``max_attempts`` failures in a row)."""
        try:
            state = await self._api.poll(batch.batch_id)
        except ProviderError as error:
            failures = self._poll_failures.get(batch.batch_id, 0) + 1
            self._poll_failures[batch.batch_id] = failures
            if error.retryable and failures < self._policy.max_attempts:
                return None
            raise RunAborted(f"polling batch {batch.batch_id}: {error.message}") from error
        self._poll_failures.pop(batch.batch_id, None)
        update_batch(self._store, batch.batch_id, state.state, state.counts)
        self._vendor_counts[batch.batch_id] = (len(batch.requests), state.processed)
        self._show_vendor_counts()
        return state

    def _show_vendor_counts(self) -> None:
        """What the open batches' vendor says, in the progress line."""
        counts = self._vendor_counts.values()
        total, processed = sum(n for n, _ in counts), sum(p for _, p in counts)
        self.counters.batch_note = (
            f"batches open {len(counts)}, processed by the vendor {processed:,} of {total:,}"
            if counts
            else ""
        )
        self._report()

    async def _store_results(
        self,
        batch: StoredBatch,
        state: BatchState,
        by_key: dict[RequestKey, J],
        attempt: int,
        *,
        last: bool,
    ) -> set[RequestKey]:
        """Store an ended batch's results; return the keys of the requests to ask again."""
        results = await self._retrying(functools.partial(self._api.results, state))
        seen: set[RequestKey] = set()
        again: set[RequestKey] = set()
        for result in results:
            key = batch.requests.get(result.custom_id)
            if key is None or key in seen:
                continue
            seen.add(key)
            job = by_key.get(key)
            if job is None:  # asked by an earlier command, not planned by this one
                continue
            if _ask_again(result.outcome, last):
                again.add(key)
            else:
                self._finish(job, result.outcome, attempt)
        again |= {key for key in batch.requests.values() if key not in seen and key in by_key}
        if self._all_stored(batch, by_key):
            self._writer.put(FINISH_BATCH, (time.time(), batch.batch_id))
            await self._clean_up(state)
        self._finished.add(batch.batch_id)
        self.counters.in_flight -= len(batch.requests)
        self._vendor_counts.pop(batch.batch_id, None)
        self._show_vendor_counts()
        return again

    async def _clean_up(self, state: BatchState) -> None:
        """Delete the batch's files at the vendor once its results and ``done`` are committed
        (never before: a kill would then lose results that were paid for)."""
        committed = self._writer.barrier()
        while not await asyncio.to_thread(committed.wait, 0.1):
            if self._writer.failed() is not None:
                return  # raised when the stage closes its writer; the files stay
        for problem in await self._api.clean_up(state):
            self.counters.warnings.append(f"batch {state.batch_id}: {problem}")

    def _all_stored(self, batch: StoredBatch, by_key: dict[RequestKey, J]) -> bool:
        """Whether the batch can be closed: every request it holds was planned by this command,
        or has its result in the run file already. A batch an earlier command submitted may hold
        requests this one does not plan (another selection, a smaller k): it stays open, its
        results paid for, until a command that plans them stores them."""
        unplanned = {key for key in batch.requests.values() if key not in by_key}
        return not unplanned or unplanned <= settled_keys(self._store, self._stage)

    def _finish(self, job: J, outcome: Outcome, attempt: int) -> None:
        counters = self.counters
        counters.done += 1
        if isinstance(outcome, list):
            counters.ok += 1
            for completion in outcome:
                counters.prompt_tokens += completion.usage.prompt_tokens or 0
                counters.completion_tokens += completion.usage.completion_tokens or 0
            self._jobs.on_done(job, JobResult(outcome, None, attempt, None))
            return
        if isinstance(outcome, ContentBlocked):
            counters.blocked += 1
        else:
            counters.failed += 1
        if isinstance(outcome, FatalError) and self._fatal is None:
            self._fatal = outcome.message
        self._jobs.on_done(job, JobResult(None, outcome, attempt, None))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """A batch management call (submit, download), retried as a live call would be."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except ProviderError as error:
                if not error.retryable or attempt >= self._policy.max_attempts:
                    raise RunAborted(f"{self._api.label} batch API: {error.message}") from error
                wait = self._policy.backoff(attempt, error.retry_after, self._rng)
                self.counters.retries += 1
                await asyncio.sleep(wait)

    def _report(self) -> None:
        if self._progress is not None:
            self._progress.update(self.counters)


def _ask_again(outcome: Outcome, last: bool) -> bool:
    """Never run (expired, cancelled), or an error worth another try while rounds are left."""
    if outcome is None:
        return True
    return isinstance(outcome, ProviderError) and outcome.retryable and not last
