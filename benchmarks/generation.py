"""The generation engine against its theoretical limit: 2,000 BSA items x k 5 = 10,000 calls.

The test server runs in its own process (so its CPU is not the client's) and answers every call
after 1.0 s +- 0.2 (uniform) with 3,000 characters of reasoning and 800 of answer. With concurrency
C and mean latency L no client can do better than calls / (C / L) seconds; efficiency is that
floor over the measured wall time. The client runs in this process, so CPU time, peak RSS and bytes
written (/proc/self/io) are the engine's own.

Run: ``python benchmarks/generation.py`` (about a minute); ``--help`` for the knobs.
Targets (issue 11, item 6): at concurrency 256, efficiency >= 0.95, client CPU <= 1.5 ms per
call, peak RSS <= 150 MB, run file <= 3 x the text it stores. ``--case 1024``: 4x the scale,
concurrency 1024 at 4.0 s +- 0.8 (the same 39 s floor), efficiency >= 0.90.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bsa.data.dataset import load_dataset
from bsa.engine.generate import Execution, GenerationSettings, generate, prompts_from_items
from bsa.engine.progress import LogProgress
from bsa.engine.runner import RetryPolicy
from bsa.providers import Limits, ProviderOptions, create_provider


@dataclass(frozen=True)
class Case:
    concurrency: int
    latency: float
    jitter: float
    efficiency_target: float


#: Issue 11 item 6: the 256 case, and the same floor at four times the scale.
CASES = {"256": Case(256, 1.0, 0.2, 0.95), "1024": Case(1024, 4.0, 0.8, 0.90)}

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "bsa" / "dataset.csv"


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "bsa.testing.openai_server", "--port", "0",
        "--latency", str(args.latency), "--jitter", str(args.jitter),
        "--reasoning-chars", str(args.reasoning_chars), "--answer-chars", str(args.answer_chars),
        "--max-seconds", "1800",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a live process (Linux ``/proc``): the test server's share of a
    loaded machine, to tell a client-bound run from a server-bound one."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def io_bytes_written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def stored_text_bytes(run: Path) -> int:
    with sqlite3.connect(run) as connection:
        row = connection.execute(
            "SELECT SUM(LENGTH(CAST(answer AS BLOB)) + LENGTH(CAST(reasoning AS BLOB))) "
            "FROM generations"
        ).fetchone()
    return int(row[0] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--case", choices=tuple(CASES), default="256")
    parser.add_argument("--concurrency", type=int, help="[the case's]")
    parser.add_argument("--latency", type=float, help="[the case's]")
    parser.add_argument("--jitter", type=float, help="[the case's]")
    parser.add_argument("--reasoning-chars", type=int, default=3000)
    parser.add_argument("--answer-chars", type=int, default=800)
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N items.")
    parser.add_argument("--stream", action="store_true", help="Stream every response.")
    args = parser.parse_args()
    case = CASES[args.case]
    for name in ("concurrency", "latency", "jitter"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(case, name))

    items = load_dataset(args.dataset).items[: args.limit]
    prompts = prompts_from_items(items)
    calls = len(prompts) * args.k
    server, base_url = start_server(args)
    try:
        with tempfile.TemporaryDirectory() as folder:
            run = Path(folder) / "bench.sqlite"
            execution = Execution(k=args.k, concurrency=args.concurrency, policy=RetryPolicy())
            provider = create_provider(
                "openai:bench",
                ProviderOptions(base_url=base_url, settings={"stream": args.stream}),
                limits=Limits(execution.policy.timeout_s, execution.concurrency),
            )
            settings = GenerationSettings("openai:bench")
            written_before = io_bytes_written()
            cpu_before = time.process_time()
            start = time.perf_counter()
            with LogProgress("bench", interval=10) as progress:
                report = asyncio.run(
                    generate(run, prompts, provider, settings, execution, progress=progress)
                )
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu_before
            written = io_bytes_written() - written_before
            file_bytes = sum(p.stat().st_size for p in Path(folder).iterdir())
            text = stored_text_bytes(run)
            server_cpu = process_cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    floor = calls / (args.concurrency / args.latency)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"calls: {calls} ({len(prompts)} items x k {args.k}), concurrency {args.concurrency}, "
        f"latency {args.latency} s +- {args.jitter}{', streamed' if args.stream else ''}"
    )
    print(f"status: {report.status}, retries {report.counters.retries}")
    print(
        f"wall: {wall:.1f} s; floor (calls / (concurrency / latency)): {floor:.1f} s; "
        f"efficiency {floor / wall:.3f} (target >= {case.efficiency_target})"
    )
    print(f"client CPU: {cpu:.1f} s, {cpu / calls * 1e3:.2f} ms per call (target <= 1.5)")
    print(f"test server CPU: {server_cpu:.1f} s, {server_cpu / calls * 1e3:.2f} ms per call")
    print(f"peak RSS: {peak_rss_mb:.0f} MB (target <= 150)")
    print(
        f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"run file: {file_bytes / 1e6:.1f} MB for {text / 1e6:.1f} MB of stored text: "
        f"{file_bytes / text:.2f}x (target <= 3); bytes written to disk {written / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
