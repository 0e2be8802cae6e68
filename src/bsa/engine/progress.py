"""Progress for long runs: a live bar on a terminal, a log line every few seconds elsewhere.

``update`` is called on the event loop after every result, so it only stores a reference; drawing
happens on rich's refresh thread (terminal) or at most once per interval (logs). Stages that run
at once (a pipelined ``bsa run``: generation and each judge) share one display, one bar or log
line per stage, each with its own counts, rate and concurrency.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Protocol, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bsa.engine.runner import RunCounters
from bsa.output.terminal import safe_line


def describe(counters: RunCounters) -> str:
    """One line: done/total, rate, ETA, in flight (and ``auto``'s limit), tokens, retries,
    blocked, failed."""
    elapsed = max(time.monotonic() - counters.started_at, 1e-9)
    rate = counters.done / elapsed
    left = counters.total - counters.done
    eta = f"{left / rate:,.0f} s" if rate > 0 else "?"
    share = 100 * counters.done / counters.total if counters.total else 100.0
    tokens = counters.prompt_tokens + counters.completion_tokens
    return (
        f"{counters.done}/{counters.total} ({share:.1f}%), {rate:.1f}/s, ETA {eta}, "
        f"in flight {counters.in_flight}{limit_note(counters)}, tokens {tokens:,}, retries {counters.retries}, "
        f"blocked {counters.blocked}, failed {counters.failed}{waiting_note(counters)}"
        f"{batch_note(counters)}"
    )


def limit_note(counters: RunCounters) -> str:
    """`` (concurrency auto: N of max M)`` while ``auto`` concurrency runs, else empty: the limit
    it has found is what a user tuning a run wants to see."""
    if counters.concurrency is None:
        return ""
    return f" (concurrency auto: {counters.concurrency} of max {counters.max_concurrency})"


def waiting_note(counters: RunCounters) -> str:
    """``, N waiting up to S s (Retry-After)`` while jobs sit out a long backoff, else empty: a
    run that is waiting must say so, not look stuck."""
    if not counters.waiting:
        return ""
    left = max(0.0, counters.waiting_until - time.monotonic())
    return f", {counters.waiting} waiting up to {left:,.0f} s (server Retry-After or backoff)"


def batch_note(counters: RunCounters) -> str:
    """``, batches open N, processed by the vendor P of T`` while a ``--batch`` stage waits: its
    samples are stored only when a batch ends, so the vendor's own count is the progress."""
    return f", {counters.batch_note}" if counters.batch_note else ""


class LogProgress:
    """A progress line on ``stream`` at most every ``interval`` seconds, and one at the end."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._interval = interval
        self._last = 0.0
        self._counters: RunCounters | None = None

    def update(self, counters: RunCounters) -> None:
        self._counters = counters
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._emit()

    def _emit(self) -> None:
        if self._counters is not None and self._counters.total:
            print(f"{self._label}: {describe(self._counters)}", file=self._stream, flush=True)

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._emit()


class StageBar:
    """One stage's bar in a :class:`BarProgress`."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        # A judge's name comes from the command line: no markup, no control characters.
        self._task: TaskID = progress.add_task(escape(safe_line(label)), total=None, details="")

    def update(self, counters: RunCounters) -> None:
        elapsed = max(time.monotonic() - counters.started_at, 1e-9)
        tokens = counters.prompt_tokens + counters.completion_tokens
        details = (
            f"{counters.done / elapsed:.1f}/s · in flight {counters.in_flight}"
            f"{limit_note(counters)} · tokens {tokens:,} · retries {counters.retries} "
            f"· blocked {counters.blocked} · failed {counters.failed}{waiting_note(counters)}"
            f"{batch_note(counters)}"
        )
        self._progress.update(
            self._task, total=counters.total, completed=counters.done, details=details
        )


class BarProgress:
    """Rich progress bars, one per stage, with each stage's counters beside its bar."""

    def __init__(self, labels: Sequence[str], console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[details]}"),
            console=console or Console(stderr=True),
            refresh_per_second=4,
        )
        #: Each stage's sink, in the order of the labels.
        self.stages = [StageBar(self._progress, label) for label in labels]

    def __enter__(self) -> BarProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


class StageSink(Protocol):
    def update(self, counters: RunCounters) -> None: ...


@contextlib.contextmanager
def stages_progress(
    labels: Sequence[str], stream: TextIO | None = None
) -> Iterator[Sequence[StageSink]]:
    """One sink per stage: bars in one display on an interactive terminal, log lines (each
    naming its stage) when output goes to a file or CI."""
    stream = stream or sys.stderr
    if stream.isatty():
        with BarProgress(labels) as bars:
            yield bars.stages
        return
    logs = [LogProgress(safe_line(label), stream) for label in labels]
    try:
        yield logs
    finally:
        for log in logs:  # each stage's last line, in the stages' order
            log.__exit__()
