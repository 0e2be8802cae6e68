"""Fault-injection soak: a full-size generation through every failure a real run meets.

2,000 BSA items x k 5 = 10,000 samples, streamed at concurrency 256 from the project's test server
(its own process, 1.0 s +- 0.2 per call) with 10% of calls faulty, the faults spread evenly over
:data:`FAULTS`: rate limits with Retry-After, 500s, hangs, broken JSON, error events inside a
stream, streams cut without a finish_reason (with and without ``[DONE]``), lone surrogates in the
text, content filters, and replies and error bodies that echo the API key. The real ``bsa generate`` command is

1. killed with SIGKILL once 30% of the samples are stored,
2. restarted, and while it works a second ``bsa generate`` on the same file is started (it must be
   refused, naming the first), a snapshot of every stored ``ok`` row is taken at each step,
3. rerun until nothing is missing; then judged (mock judge), exported in every format and reported.

Printed: samples lost (target 0), rows per sample (exactly 1), ok rows overwritten (0), calls made
/ calls needed, wall time / latency floor, and whether the API key appears in the run file, any
export, the report or any output of any command (target: nowhere).

Run: ``python benchmarks/soak.py`` (about 3 minutes); ``--items 200`` for a quick look.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bsa.output.report.html import readable
from bsa.testing.openai_server import FAULT_KINDS

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bsa"
KEY = "sk-soak-5b1e0c7d9a2f48e3b6c4-DISTINCTIVE"
#: The injected faults, each at an equal share of the fault rate.
FAULTS = (
    "429",
    "500",
    "hang",
    "broken_json",
    "stream_error",
    "stream_error_filter",
    "stream_cut",
    "stream_cut_done",
    "surrogate",
    "content_filter",
    "echo_key_200",
    "echo_key_429",
    "echo_key_500",
)
EXPORTS = ("jsonl", "csv", "upstream-csv", "upstream-judged")


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    unknown = sorted(set(args.faults) - set(FAULT_KINDS))
    if unknown:
        raise SystemExit(f"the test server has no fault kinds {unknown}")
    share = args.fault_rate / len(args.faults)
    command = [
        sys.executable, "-m", "bsa.testing.openai_server", "--port", "0",
        "--latency", str(args.latency), "--jitter", str(args.jitter),
        "--reasoning-chars", "1500", "--answer-chars", "400", "--api-key", KEY,
        "--retry-after", "2", "--max-seconds", "3600", "--seed", "7",
        *(f"--fault={kind}={share}" for kind in args.faults),
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def server_stats(base_url: str) -> dict[str, object]:
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_stats", timeout=10) as response:
        stats: dict[str, object] = json.load(response)
    return stats


class Soak:
    def __init__(self, args: argparse.Namespace, folder: Path, base_url: str) -> None:
        self.args = args
        self.folder = folder
        self.run = folder / "soak.sqlite"
        self.base_url = base_url
        self.outputs: list[str] = []
        self.snapshots: list[dict[tuple[str, int], tuple[float, str]]] = []
        self.env = {
            **os.environ,
            "SOAK_KEY": KEY,
            "BSA_DATA_DIR": str(args.data),
            "BSA_CACHE_DIR": str(folder / "cache"),
        }

    def command(self, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "bsa", "generate", "--run", str(self.run), "--model",
            "openai:soak-model", "--base-url", self.base_url, "--api-key-env", "SOAK_KEY",
            "-k", str(self.args.k), "--concurrency", str(self.args.concurrency), "--stream",
            "--timeout", "10", "--max-retry-wait", "5", "--limit", str(self.args.items), *extra,
        ]  # fmt: skip

    def start(self, command: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )

    def finish(self, process: subprocess.Popen[str]) -> int:
        out, err = process.communicate(timeout=3600)
        self.outputs += [out, err]
        return process.returncode

    def call(self, *args: str) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "bsa", *args], capture_output=True, text=True, env=self.env
        )
        self.outputs += [done.stdout, done.stderr]
        return done.returncode

    def stored(self) -> int:
        if not self.run.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{self.run}?mode=ro", uri=True) as connection:
                row = connection.execute(
                    "SELECT COUNT(*) FROM generations WHERE status != 'failed'"
                ).fetchone()
        except sqlite3.Error:
            return 0
        return int(row[0])

    def wait_for(self, count: int) -> None:
        while self.stored() < count:
            time.sleep(0.2)

    def snapshot(self) -> None:
        """Every ok row as it is now: when it was written and a digest of its texts."""
        with sqlite3.connect(f"file:{self.run}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT item_id, sample, created_at, answer, reasoning FROM generations "
                "WHERE status = 'ok'"
            )
            self.snapshots.append(
                {
                    (item, sample): (created, digest(answer, reasoning))
                    for item, sample, created, answer, reasoning in rows
                }
            )


def digest(*texts: str | None) -> str:
    return hashlib.sha256("\x00".join(t or "" for t in texts).encode()).hexdigest()


def soak(args: argparse.Namespace, folder: Path, base_url: str) -> dict[str, object]:
    soak = Soak(args, folder, base_url)
    needed = args.items * args.k
    started = time.perf_counter()
    phases: dict[str, float] = {}

    first = soak.start(soak.command())
    soak.wait_for(int(0.3 * needed))
    first.send_signal(signal.SIGKILL)
    soak.finish(first)
    phases["until the kill"] = time.perf_counter() - started
    soak.snapshot()

    second = soak.start(soak.command())
    soak.wait_for(int(0.5 * needed))
    rival = soak.start(soak.command())
    rival_code = soak.finish(rival)
    rival_refused = rival_code == 1 and f"in use by pid {second.pid}" in soak.outputs[-1]
    soak.snapshot()
    codes = [soak.finish(second)]
    while codes[-1] != 0 and len(codes) < 4:
        codes.append(soak.finish(soak.start(soak.command())))
    wall = time.perf_counter() - started
    phases["after the kill"] = wall - phases["until the kill"]
    client_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    soak.snapshot()
    generation_calls = int(server_stats(base_url)["total"])  # type: ignore[call-overload]
    outcomes = server_stats(base_url)["outcomes"]

    files = judge_export_report(soak)
    return {
        "needed": needed,
        "codes": codes,
        "rival_refused": rival_refused,
        "wall": wall,
        "phases": phases,
        "client_cpu": client_cpu.ru_utime + client_cpu.ru_stime,
        "calls": generation_calls,
        "outcomes": outcomes,
        **integrity(soak, needed),
        "key_found_in": key_leaks(soak, files),
    }


def judge_export_report(soak: Soak) -> list[Path]:
    run = str(soak.run)
    assert soak.call("judge", "--run", run, "--judge", "mock", "--judge-concurrency", "64") == 0
    files = []
    for fmt in EXPORTS:
        path = soak.folder / f"export.{fmt}"
        assert soak.call("export", "--run", run, "--format", fmt, "-o", str(path)) == 0
        files.append(path)
    report = soak.folder / "report.html"
    assert soak.call("report", "--run", run, "-o", str(report)) == 0
    soak.call("status", "--run", run)
    soak.call("score", "--run", run)
    return [*files, report]


def integrity(soak: Soak, needed: int) -> dict[str, int]:
    with sqlite3.connect(f"file:{soak.run}?mode=ro", uri=True) as connection:
        rows, distinct, done = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT item_id || ':' || sample), "
            "SUM(status != 'failed') FROM generations"
        ).fetchone()
        blocked = connection.execute(
            "SELECT COUNT(*) FROM generations WHERE status = 'blocked'"
        ).fetchone()[0]
    final = soak.snapshots[-1]
    overwritten = sum(
        1
        for snapshot in soak.snapshots[:-1]
        for key, value in snapshot.items()
        if final.get(key) != value
    )
    return {
        "rows": rows,
        "distinct_samples": distinct,
        "lost": needed - int(done or 0),
        "blocked": blocked,
        "ok_overwritten": overwritten,
    }


def key_leaks(soak: Soak, files: list[Path]) -> list[str]:
    places = [p for p in soak.folder.iterdir() if p.is_file() and p.name.startswith("soak.")]
    found = [str(p.name) for p in [*places, *files] if KEY.encode() in p.read_bytes()]
    found += [
        p.name
        for p in files
        if p.suffix == ".html" and KEY in readable(p.read_text(encoding="utf-8"))
    ]
    found += [f"output {n}" for n, text in enumerate(soak.outputs) if KEY in text]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The BSA asset folder.")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument(
        "--faults",
        type=lambda text: tuple(text.split(",")),
        default=FAULTS,
        help=f"Comma-separated fault kinds sharing --fault-rate (default: {','.join(FAULTS)}).",
    )
    args = parser.parse_args()

    server, base_url = start_server(args)
    try:
        with tempfile.TemporaryDirectory() as folder:
            result = soak(args, Path(folder), base_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    floor = result["needed"] / (args.concurrency / args.latency)  # type: ignore[operator]
    print(
        f"samples: {result['needed']} ({args.items} items x k {args.k}), concurrency "
        f"{args.concurrency}, latency {args.latency} s +- {args.jitter}, faults "
        f"{args.fault_rate:.0%} of calls over {len(args.faults)} kinds"
    )
    print(f"generate exit codes after the kill: {result['codes']}")
    print(f"second process refused while the first ran: {result['rival_refused']}")
    print(
        f"samples lost: {result['lost']} (target 0); rows {result['rows']} for "
        f"{result['distinct_samples']} samples (target: one each); blocked {result['blocked']}"
    )
    print(f"ok rows overwritten: {result['ok_overwritten']} (target 0)")
    print(
        f"calls made / calls needed: {result['calls']} / {result['needed']} = "
        f"{result['calls'] / result['needed']:.3f}"  # type: ignore[operator]
    )
    print(
        f"wall: {result['wall']:.1f} s over every restart; latency floor {floor:.1f} s; "
        f"wall / floor {result['wall'] / floor:.2f}"  # type: ignore[operator]
    )
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result["phases"].items())  # type: ignore[attr-defined]
    print(f"wall by phase: {phases}")
    print(
        f"client CPU (every bsa generate process): {result['client_cpu']:.1f} s, "
        f"{result['client_cpu'] / result['calls'] * 1e3:.2f} ms per call made"  # type: ignore[operator]
    )
    print(f"server outcomes: {json.dumps(result['outcomes'], sort_keys=True)}")
    leaks = result["key_found_in"]
    print(f"API key found in: {', '.join(leaks) if leaks else 'nothing'} (target: nothing)")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
