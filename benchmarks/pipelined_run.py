"""``bsa run`` pipelined against its limit: the slower of generation and judging, not their sum.

Two test servers, each in its own process: the model answers after 1.0 s +- 0.2 and the judge
(``--judge``: the mock judge's verdict JSON) after 0.5 s +- 0.1. The same work is timed three
ways, each as the real ``bsa`` command in its own process: ``bsa generate`` alone, ``bsa judge``
alone on the file it made, and ``bsa run`` on a fresh file, which judges each sample as soon as it
is stored. Sequential stages take generate + judge; pipelined, a run can take no less than
max(generate, judge). The ratio run / max(generate, judge) is printed (target <= 1.15, issue 11
item 1), with each stage's floor (calls / (concurrency / latency)).

Run: ``python benchmarks/pipelined_run.py`` (about 90 s at the defaults: 800 items x k 2 at
concurrency 64 for the model and the judge, each stage's floor 25 s); ``--help`` for the knobs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "bsa" / "dataset.csv"
TARGET = 1.15


@contextmanager
def test_server(latency: float, jitter: float, *extra: str) -> Iterator[str]:
    """The project's test server in its own process; yields its base URL."""
    command = [
        sys.executable, "-m", "bsa.testing.openai_server", "--port", "0",
        "--latency", str(latency), "--jitter", str(jitter), "--max-seconds", "1800", *extra,
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass(frozen=True)
class Timing:
    wall: float
    #: CPU seconds of the bsa process, and of both test servers meanwhile.
    client_cpu: float
    servers_cpu: float

    def line(self, name: str, floor: float | None) -> str:
        bound = f" (floor {floor:.1f} s)" if floor is not None else ""
        return (
            f"{name:<13} {self.wall:5.1f} s{bound}; CPU: bsa {self.client_cpu:.1f} s, "
            f"servers {self.servers_cpu:.1f} s"
        )


def server_cpu(base_url: str) -> float:
    """The test server's process CPU seconds so far (its ``/_stats``)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_stats") as response:
        return float(json.load(response)["cpu_seconds"])


def timed_bsa(servers: tuple[str, str], *args: str) -> Timing:
    """``python -m bsa ARGS`` (which must succeed): its wall time, its CPU and the servers'."""
    servers_before = sum(map(server_cpu, servers))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bsa", *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bsa {args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return Timing(wall, client, sum(map(server_cpu, servers)) - servers_before)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("-k", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64, help="the model's and the judge's")
    parser.add_argument("--model-latency", type=float, default=1.0)
    parser.add_argument("--model-jitter", type=float, default=0.2)
    parser.add_argument("--judge-latency", type=float, default=0.5)
    parser.add_argument("--judge-jitter", type=float, default=0.1)
    args = parser.parse_args()

    samples = args.items * args.k
    gen_floor = samples / (args.concurrency / args.model_latency)
    judge_floor = 2 * samples / (args.concurrency / args.judge_latency)
    os.environ.setdefault("BSA_DATA_DIR", str(args.dataset.parent))
    with (
        test_server(args.model_latency, args.model_jitter) as model_url,
        test_server(args.judge_latency, args.judge_jitter, "--judge") as judge_url,
        tempfile.TemporaryDirectory() as folder,
    ):
        selection = ["--dataset", str(args.dataset), "--sample", str(args.items), "-k", str(args.k)]
        model = ["--model", "openai:bench", "--base-url", model_url,
                 "--concurrency", str(args.concurrency)]  # fmt: skip
        judge = ["--judge", "openai:judge", "--judge-base-url", judge_url,
                 "--judge-concurrency", str(args.concurrency)]  # fmt: skip
        staged, fresh = str(Path(folder) / "staged.sqlite"), str(Path(folder) / "run.sqlite")
        urls = (model_url, judge_url)
        generate = timed_bsa(urls, "generate", "--run", staged, *model, *selection)
        judging = timed_bsa(urls, "judge", "--run", staged, *judge)
        pipelined = timed_bsa(urls, "run", "--run", fresh, *model, *judge, *selection)

    slowest = max(generate.wall, judging.wall)
    sequential = generate.wall + judging.wall
    print(
        f"work: {args.items} items x k {args.k} = {samples} samples, {2 * samples} verdicts; "
        f"concurrency {args.concurrency} each; model {args.model_latency} s +- "
        f"{args.model_jitter}, judge {args.judge_latency} s +- {args.judge_jitter}"
    )
    print(generate.line("bsa generate:", gen_floor))
    print(judging.line("bsa judge:", judge_floor))
    print(pipelined.line("bsa run:", max(gen_floor, judge_floor)))
    print(
        f"ratio run / max(generate, judge): {pipelined.wall / slowest:.3f} (target <= {TARGET}); "
        f"run / (generate + judge): {pipelined.wall / sequential:.3f}"
    )
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
