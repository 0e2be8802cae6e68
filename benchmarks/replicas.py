"""Replicas (``--base-url`` repeated) against their theoretical limit, and one replica killed.

Two test-server processes answer every call after 1.0 s +- 0.2 (uniform), as in
``benchmarks/generation.py`` (whose server helper this reuses), each with 3,000 characters of
reasoning and 800 of answer. One run spreads its calls over both.

- ``spread``: efficiency against the combined latency floor, calls / (concurrency / latency)
  (target >= 0.90), and how the calls were shared;
- ``kill``: one replica is killed (SIGKILL) when a third of the calls are done; the run must
  complete on the other with no sample lost or stored twice (counts printed).

Run: ``python benchmarks/replicas.py`` (about a minute); ``--help`` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generation import start_server  # benchmarks/generation.py, beside this file

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy, RunCounters
from bsa.providers import Limits, ProviderOptions, create_provider, endpoints
from bsa.runfile.store import Prompt

EFFICIENCY_TARGET = 0.90


class KillAt:
    """A progress sink that SIGKILLs ``victim`` once ``done`` calls are finished."""

    def __init__(self, done: int, victim: subprocess.Popen[str] | None) -> None:
        self.done = done
        self.victim = victim
        self.killed_at: int | None = None

    def update(self, counters: RunCounters) -> None:
        if self.victim is not None and self.killed_at is None and counters.done >= self.done:
            os.kill(self.victim.pid, signal.SIGKILL)
            self.killed_at = counters.done


@dataclass(frozen=True)
class Outcome:
    """How one run went: its report, wall time, client CPU per call, samples by replica, and
    the rows stored (distinct by the table's key)."""

    report: GenerationReport
    wall: float
    cpu_ms: float
    shares: dict[str, int]
    rows: int


def run_once(urls: list[str], calls: int, concurrency: int, progress: KillAt) -> Outcome:
    """Generate ``calls`` one-sample prompts over ``urls``."""
    prompts = [Prompt(f"q{n:05d}", f"Question number {n}") for n in range(calls)]
    execution = Execution(k=1, concurrency=concurrency, policy=RetryPolicy())
    provider = create_provider(
        "openai:bench",
        ProviderOptions(**endpoints(urls)),
        limits=Limits(execution.policy.timeout_s, concurrency),
    )
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "bench.sqlite"
        start, cpu = time.perf_counter(), time.process_time()
        report = asyncio.run(
            generate(run, prompts, provider, GenerationSettings("openai:bench"), execution,
                     progress=progress)
        )  # fmt: skip
        wall = time.perf_counter() - start
        cpu_ms = (time.process_time() - cpu) / calls * 1e3
        with sqlite3.connect(run) as connection:
            shares = dict(
                connection.execute("SELECT replica, COUNT(*) FROM generations GROUP BY replica")
            )
            rows = connection.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    return Outcome(report, wall, cpu_ms, shares, int(rows))


def with_servers(args: argparse.Namespace, body: Callable[[list[Any]], None]) -> None:
    """Run ``body`` with two server processes (their ``(process, base_url)``), then stop them."""
    started = [start_server(args) for _ in range(2)]
    try:
        body(started)
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=30)


def spread_case(args: argparse.Namespace, servers: list[Any]) -> None:
    urls = [url for _, url in servers]
    calls, concurrency = args.calls, args.concurrency
    got = run_once(urls, calls, concurrency, KillAt(0, None))
    floor = calls / (concurrency / args.latency)
    print(f"spread: {calls} calls at concurrency {concurrency} over 2 replicas")
    print(
        f"  status {got.report.status}, retries {got.report.counters.retries}, "
        f"by replica {got.shares}, rows stored {got.rows}"
    )
    print(
        f"  wall {got.wall:.1f} s; floor (calls / (concurrency / latency)) {floor:.1f} s; "
        f"efficiency {floor / got.wall:.3f} (target >= {EFFICIENCY_TARGET}); "
        f"client CPU {got.cpu_ms:.2f} ms per call"
    )


def kill_case(args: argparse.Namespace, servers: list[Any]) -> None:
    urls = [url for _, url in servers]
    calls, concurrency = args.kill_calls, args.concurrency
    killer = KillAt(calls // 3, servers[1][0])
    got = run_once(urls, calls, concurrency, killer)
    status = got.report.status
    lost = calls - status["ok"] - status["blocked"]
    floor = calls / (concurrency / args.latency)
    print(f"kill: {calls} calls at concurrency {concurrency}; replica 2 killed after "
          f"{killer.killed_at} done")  # fmt: skip
    print(
        f"  status {status}, retries {got.report.counters.retries}, by replica {got.shares}; "
        f"rows stored {got.rows} for {calls} samples; lost {lost}"
    )
    print(f"  wall {got.wall:.1f} s (floor {floor:.1f} s, efficiency {floor / got.wall:.3f})")
    verdict = "PASS" if lost == 0 and got.rows == calls else "FAIL"
    print(f"  {verdict}: no sample lost or duplicated")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3200, help="calls of the spread case")
    parser.add_argument("--kill-calls", type=int, default=1600, help="calls of the kill case")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--reasoning-chars", type=int, default=3000)
    parser.add_argument("--answer-chars", type=int, default=800)
    args = parser.parse_args()
    with_servers(args, lambda servers: spread_case(args, servers))
    with_servers(args, lambda servers: kill_case(args, servers))


if __name__ == "__main__":
    main()
