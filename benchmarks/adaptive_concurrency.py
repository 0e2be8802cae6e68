"""``--concurrency auto`` against its targets (issue 11, item 2), with the test server in its own
process (1.0 s +- 0.2 latency).

- capped: the server answers 429 (with Retry-After) above R requests per second. Targets:
  throughput >= 0.85 R (ok samples per second of wall time, ramp and tail included) with at
  most 5% of the requests answered 429. A fixed concurrency meets neither unless the user
  guessed R x latency; ``--fixed N`` runs one for comparison.
- uncapped: no cap; target: the limit reaches the ceiling (``--max-concurrency``, 256: the
  generation benchmark's rate, which one client process on two cores sustains) within 30 s.
  A ceiling the client cannot drive is not reached, by design: its own CPU then stretches the
  latency it measures, and the limit stops growing.

Run: ``python benchmarks/adaptive_concurrency.py`` (both cases, about two and a half minutes);
``--case capped --rate 100``; ``--help`` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bsa.engine.generate import Execution, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy, RunCounters
from bsa.providers import Limits, ProviderOptions, create_provider
from bsa.runfile.store import Prompt

#: The uncapped case's length at the ceiling's rate: the ceiling is due in about 6 round trips.
UNCAPPED_SECONDS = 15


@dataclass
class Outcome:
    wall_s: float
    ok: int
    requests: int
    refused: int
    #: Seconds from the start until the limit first reached the ceiling (None: never).
    ceiling_at_s: float | None


class CeilingWatch:
    """A progress sink that notes when ``auto``'s limit first reaches its ceiling."""

    def __init__(self) -> None:
        self.reached_at: float | None = None
        #: Once a second: (seconds, limit, in flight, done), for ``--timeline``.
        self.timeline: list[tuple[int, int, int, int]] = []

    def update(self, counters: RunCounters) -> None:
        limit = counters.concurrency or 0
        elapsed = time.monotonic() - counters.started_at
        if self.reached_at is None and limit and limit == counters.max_concurrency:
            self.reached_at = elapsed
        if int(elapsed) >= len(self.timeline):
            self.timeline.append((int(elapsed), limit, counters.in_flight, counters.done))


def start_server(args: argparse.Namespace, rate: float) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "bsa.testing.openai_server", "--port", "0",
        "--latency", str(args.latency), "--jitter", str(args.jitter),
        "--reasoning-chars", "400", "--answer-chars", "100", "--max-seconds", "1800",
        "--rate-limit", str(rate), "--log-size", "0",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def server_stats(base_url: str) -> dict[str, object]:
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_stats") as response:
        stats: dict[str, object] = json.load(response)
    return stats


def run_case(args: argparse.Namespace, rate: float, calls: int, concurrency: int | str) -> Outcome:
    server, base_url = start_server(args, rate)
    prompts = [Prompt(f"q{n:05d}", f"Question {n}?") for n in range(calls)]
    ceiling = args.max_concurrency if concurrency == "auto" else int(concurrency)
    execution = Execution(
        k=1,
        concurrency=concurrency,
        max_concurrency=args.max_concurrency if concurrency == "auto" else None,
        policy=RetryPolicy(max_attempts=50),
    )
    watch = CeilingWatch()
    try:
        with tempfile.TemporaryDirectory() as folder:
            provider = create_provider(
                "openai:bench",
                ProviderOptions(base_url=base_url),
                limits=Limits(execution.policy.timeout_s, ceiling),
            )
            start = time.perf_counter()
            report = asyncio.run(
                generate(
                    Path(folder) / "bench.sqlite", prompts, provider,
                    GenerationSettings("openai:bench"), execution, progress=watch,
                )
            )  # fmt: skip
            wall = time.perf_counter() - start
        stats = server_stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    outcomes = stats["outcomes"]
    assert isinstance(outcomes, dict)
    total = stats["total"]
    assert isinstance(total, int)
    if args.timeline:
        print("(s, limit, in flight, done):", " ".join(map(str, watch.timeline)))
    return Outcome(
        wall, report.status["ok"], total, int(outcomes.get("rate_capped", 0)), watch.reached_at
    )


def shown(concurrency: int | str, args: argparse.Namespace) -> str:
    return f"auto (max {args.max_concurrency})" if concurrency == "auto" else str(concurrency)


def capped(args: argparse.Namespace) -> None:
    calls = args.calls
    for concurrency in ["auto", *([args.fixed] if args.fixed else [])]:
        outcome = run_case(args, args.rate, calls, concurrency)
        throughput = outcome.ok / outcome.wall_s
        share = outcome.refused / outcome.requests
        print(
            f"capped, concurrency {shown(concurrency, args)}, R {args.rate:g}/s, "
            f"{calls} calls: wall {outcome.wall_s:.1f} s, {outcome.ok} ok, "
            f"throughput {throughput:.1f}/s = {throughput / args.rate:.3f} R (target >= 0.85); "
            f"429s {outcome.refused} of {outcome.requests} requests = {share:.1%} (target <= 5%)"
        )


def uncapped(args: argparse.Namespace) -> None:
    calls = int(args.max_concurrency / args.latency * UNCAPPED_SECONDS)
    outcome = run_case(args, 0.0, calls, "auto")
    reached = outcome.ceiling_at_s
    shown = f"{reached:.1f} s" if reached is not None else "never"
    print(
        f"uncapped, concurrency auto (max {args.max_concurrency}), {calls} calls: ceiling "
        f"reached after {shown} (target <= 30 s); wall {outcome.wall_s:.1f} s, "
        f"{outcome.ok} ok, 429s {outcome.refused}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--case", choices=("capped", "uncapped", "both"), default="both")
    parser.add_argument("--rate", type=float, default=100.0, help="R, requests per second")
    parser.add_argument(
        "--calls", type=int, default=10_000, help="capped: calls (a full BSA generation's)"
    )
    parser.add_argument("--max-concurrency", type=int, default=256)
    parser.add_argument("--fixed", type=int, default=0, help="also run this fixed concurrency")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--timeline", action="store_true", help="print the limit each second")
    args = parser.parse_args()
    if args.case in ("capped", "both"):
        capped(args)
    if args.case in ("uncapped", "both"):
        uncapped(args)


if __name__ == "__main__":
    main()
