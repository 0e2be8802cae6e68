"""How far ``bsa estimate`` is from what a run then spends: predicted vs actual calls, tokens,
cost and wall time.

A run is started small (``--start`` items x k 1, generated and judged), ``bsa estimate`` predicts
the rest of a larger run (``--items`` x ``-k``) from it, the larger run is then done with the same
command line, and what it spent (``bsa status --json``, less what the small run had spent) is set
beside the prediction, as the ratio predicted / actual (1.00: exact). The model is the project's
test server in this process (latency ``--latency`` s with uniform jitter of half that; its
reasoning and answers have fixed lengths, its usage counts 4 characters a token); the judge is
``mock:j`` (no latency; its verdicts' lengths vary). The actual wall time is the whole ``bsa run``
command's (start-up, dataset load and scoring included), the predicted one the model's and the
judge's stages. ``--mock-model`` makes the mock the model too: its lengths vary by item, so
the output tokens are a real prediction, but it has no latency (the wall time is then start-up).

Run: ``python benchmarks/estimate.py`` (40 items x k 1, then 400 x k 3, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bsa.testing.openai_server import OpenAIServer, ServerConfig

PRICES = (
    "--price-in",
    "1.25",
    "--price-out",
    "10",
    "--judge-price-in",
    "2.5",
    "--judge-price-out",
    "10",
)
FIGURES = (("calls", "calls"), ("input_tokens", "tokens in"), ("output_tokens", "tokens out"),
           ("cost_usd", "cost (USD)"))  # fmt: skip


def bsa(*args: str | Path) -> str:
    """``bsa ARGS`` in its own process; its stdout, or exit with its stderr."""
    done = subprocess.run([sys.executable, "-m", "bsa", *map(str, args)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode not in (0, 3):
        sys.exit(f"bsa {' '.join(map(str, args[:2]))} failed: {done.stderr.strip()}")
    return done.stdout


def spent(run: Path) -> dict[str, dict[str, Any]]:
    """What the run file says each stage has spent so far."""
    cost = json.loads(bsa("status", "--run", run, "--json"))["cost"]
    return {"model": cost["model"], **{judge["name"]: judge for judge in cost["judges"]}}


def difference(after: dict[str, Any], before: dict[str, Any] | None) -> dict[str, float]:
    return {key: after[key] - (before or {}).get(key, 0) for key, _ in FIGURES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=40, help="items of the small run (k 1)")
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--mock-model", action="store_true",
                        help="the mock as the model: lengths vary by item, no latency")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault(
        "BSA_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "bsa")
    )
    config = ServerConfig(latency=args.latency, jitter=args.latency / 2, reasoning_chars=1200,
                          answer_chars=300)  # fmt: skip
    with OpenAIServer(config) as server, tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run.sqlite"
        model = (
            ("mock",) if args.mock_model else ("openai:test-model", "--base-url", server.base_url)
        )
        flags = ("--run", run, "--model", *model, "--judge", "mock:j", "--concurrency", str(args.concurrency), "--judge-concurrency",
                 str(args.concurrency), "--bootstrap", "0", *PRICES)  # fmt: skip
        bsa("run", *flags, "--sample", str(args.start), "-k", "1")
        before = spent(run)
        whole = ("--sample", str(args.items), "-k", str(args.k))
        predicted = json.loads(bsa("estimate", *flags, *whole, "--json"))
        started = time.perf_counter()
        bsa("run", *flags, *whole)
        wall = time.perf_counter() - started
        after = spent(run)
    print_comparison(predicted, before, after, wall, args)
    return 0


def print_comparison(
    predicted: dict[str, Any], before: dict[str, Any], after: dict[str, Any], wall: float,
    args: argparse.Namespace,
) -> None:  # fmt: skip
    print(f"bsa estimate after {args.start} items x k 1, for {args.items} items x k {args.k} "
          f"(load: {os.getloadavg()[0]:.1f})\n")  # fmt: skip
    print("| stage | figure | predicted | actual | predicted / actual |\n|---|---|---|---|---|")
    stages = [predicted["model"], *predicted["judges"]]
    for stage in stages:
        key = "model" if stage is predicted["model"] else stage["name"]
        actual = difference(after[key], before.get(key))
        for figure, label in FIGURES:
            guess, real = stage[figure], actual[figure]
            ratio = f"{guess / real:.3f}" if real else "-"
            print(f"| {stage['name']} | {label} | {guess:,.4f} | {real:,.4f} | {ratio} |"
                  if figure == "cost_usd" else
                  f"| {stage['name']} | {label} | {guess:,} | {real:,} | {ratio} |")  # fmt: skip
    total = predicted["total"]["wall_s"]
    print(f"| all | wall time (s) | {total:.1f} | {wall:.1f} | {total / wall:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
