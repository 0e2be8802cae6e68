"""Figure audit: a mock run full of blocks, cut answers and unusable verdicts, its figures from
``bsa score`` beside a recount by hand of its ``bsa export`` output.

The project's test server plays the model (content-filter blocks, failed calls, replies cut by
``--max-tokens`` and replies without reasoning, each a seeded share) and the judge (the mock
judge's verdicts, with gibberish, refusals and failed calls for a seeded share); both run in this
process, the ``bsa`` commands in their own. The set-up and the recount are those of
``tests/test_figure_audit.py`` (``tests/mock_run.py``), on a larger run.

Printed (Markdown): the commands, the shares of samples, and for each figure the value ``bsa
score`` prints beside the recount, for the normal figures, ``if_unscored_failed``, the SSA counts
and the truncation warning.

Run: ``python benchmarks/figure_audit.py`` (400 items x k 2, about 15 s); ``--items``, ``-k``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' mock run

from tests.mock_run import (
    Row,
    Shares,
    judge_config,
    model_config,
    read_export,
    recount,
    run_args,
    run_bsa,
    shares_of,
    truncation_warning,
)

from bsa.judging.verdicts import JUDGE_REFUSED
from bsa.runfile.store import RunStore
from bsa.scoring.metrics import HEADLINE_KEYS
from bsa.testing.openai_server import OpenAIServer

HEADLINE = HEADLINE_KEYS  # the keys only: every figure is recounted without bsa.scoring.metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("-k", type=int, default=2)
    parser.add_argument(
        "--seed", type=int, default=6, help="the servers' draws (6: near 5%%, 3%%, 4%%)"
    )
    args = parser.parse_args()
    os.environ["COLUMNS"] = "200"  # the score table's warning lines unwrapped
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run.sqlite"
        commands = audit(run, args.items, args.k, args.seed)
        rows = read_export(Path(folder) / "samples.jsonl", Path(folder) / "judged.csv")
        scores = json.loads(checked(run_bsa("score", "--run", run, "--json")))
        table = checked(run_bsa("score", "--run", run))
        verdicts = verdict_outcomes(run)
    print_report(commands, rows, scores, table, args.k)
    print(f"\nverdicts: {verdicts}")
    return 0


def audit(run: Path, items: int, k: int, seed: int) -> list[str]:
    """Run, export and return the commands as run (the servers' URLs named, not numbered)."""
    shares = Shares()
    folder = run.parent
    with (
        OpenAIServer(model_config(shares, seed)) as model,
        OpenAIServer(judge_config(shares, seed)) as judge,
    ):
        generate = run_args(run, model.base_url, judge.base_url, items, k)
        result = run_bsa(*generate)
        if result.returncode not in (0, 3):
            raise SystemExit(f"bsa run failed ({result.returncode}): {result.stderr[-2000:]}")
        named = " ".join(generate)
        named = named.replace(model.base_url, "$MODEL_URL").replace(judge.base_url, "$JUDGE_URL")
    exports = (
        ["export", "--run", str(run), "--format", "jsonl", "-o", str(folder / "samples.jsonl")],
        [
            "export",
            "--run",
            str(run),
            "--format",
            "upstream-judged",
            "-o",
            str(folder / "judged.csv"),
        ],
    )
    for export in exports:
        checked(run_bsa(*export))
    shown = [
        named,
        *(" ".join(e) for e in exports),
        f"score --run {run} --json",
        f"score --run {run}",
    ]
    return ["bsa " + c.replace(str(folder) + "/", "") for c in shown]


def verdict_outcomes(run: Path) -> dict[str, int]:
    """How the judge's verdicts ended: scored, unscored (judge_refused among them), failed."""
    with RunStore(run, read_only=True) as store:
        stored = list(store.judgements("openai:mock-judge"))
    outcomes = Counter(j.status for j in stored)
    outcomes["judge_refused"] = sum((j.reason or "").startswith(JUDGE_REFUSED) for j in stored)
    return dict(outcomes)


def checked(result: Any) -> str:
    if result.returncode != 0:
        raise SystemExit(f"bsa failed ({result.returncode}): {result.stderr[-2000:]}")
    return str(result.stdout)


def print_report(
    commands: list[str], rows: list[Row], scores: dict[str, Any], table: str, k: int
) -> None:
    expected = recount(rows, k, scores["alpha"])
    print("```console")
    print(*(f"$ {c}" for c in commands), sep="\n")
    print("```\n")
    shares = shares_of(rows)
    listed = ", ".join(f"{name} {value:.2f}%" for name, value in shares.items())
    print(f"{len(rows)} samples: {listed} (unscored: a verdict unscored or failed)\n")
    print("| figure | `bsa score` | recount | `if_unscored_failed` | recount |")
    print("|---|---|---|---|---|")
    for key in HEADLINE:
        bound = scores["if_unscored_failed"][key]
        print(
            f"| {key} | {fmt(scores[key])} | {fmt(expected[key])} | {fmt(bound)} "
            f"| {fmt(expected['if_unscored_failed'][key])} |"
        )
    print("\n| SSA counts | `bsa score` | recount |\n|---|---|---|")
    for scope, counted in expected["ssa_counts"].items():
        print(f"| {scope} | {ssa(scores['ssa_counts'][scope])} | {ssa(counted)} |")
    print(f"\ncounts: `bsa score` {scores['counts']}\n\ncounts: recount {expected['counts']}\n")
    printed = [line for line in table.splitlines() if line.startswith("warning:")]
    print("warnings printed:", *printed, sep="\n")
    print("\nwarnings by recount:", bound_warning(expected, k), truncation_warning(rows), sep="\n")


def ssa(counts: dict[str, int]) -> str:
    return (
        f"{counts['numerator']}/{counts['denominator']}, blocked {counts['blocked']}, "
        f"no reasoning {counts['no_reasoning']}"
    )


def bound_warning(expected: dict[str, Any], k: int) -> str:
    """The figures that drop by more than 1 point when every unscored verdict is a fail."""
    names = {"safe_at_1": "Safe@1", "safe_at_k": f"Safe@{k}", "think_at_1": "Think@1"}
    names |= {"think_at_k": f"Think@{k}", "f_score": "F-score"}
    bound = expected["if_unscored_failed"]
    gaps = [
        f"{name} {float(expected[key]):.2f} -> {float(bound[key]):.2f}"
        for key, name in names.items()
        if expected[key] - bound[key] > 1
    ]
    return "warning: with every unscored verdict counted as a fail: " + ", ".join(gaps)


def fmt(value: float | Fraction | None) -> str:
    return "—" if value is None else f"{float(value):.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
