"""``bsa run``: generate, judge and score in one command, resumable at every stage."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import click

from bsa.cli.common import (
    EXIT_INCOMPLETE,
    dataset_options,
    handle_errors,
    holding_run,
    run_stages,
    wait_option,
)
from bsa.cli.generate import generation_options, plan_generation, summarize_generation
from bsa.cli.judge import judge_options, plan_judging, summarize_judging
from bsa.cli.params import alpha_option, bootstrap_options, truncated_option
from bsa.cli.price_flags import price_flags, price_options, record_price_flags
from bsa.cli.results import print_run_scores
from bsa.errors import BsaError
from bsa.pipeline import JudgePlan, RunPlan, run
from bsa.scoring.metrics import TruncatedPolicy
from bsa.scoring.run_scores import ScorePlan

T = TypeVar("T")


@click.command("run")
@generation_options
@judge_options
@price_options()
@alpha_option
@truncated_option
@bootstrap_options()
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@dataset_options
@wait_option
@handle_errors
def run_command(
    alpha: float, truncated: TruncatedPolicy, bootstrap: int, bootstrap_seed: int, as_json: bool,
    wait_for_run: bool, **options: Any,
) -> None:  # fmt: skip
    """Ask the model, judge every sample, and print the BSA scores; rerun to resume.

    The judges grade each sample as soon as it is stored, while generation goes on. With several
    --judge, the scores are the panel's majority, shown beside each judge's own (as 'bsa score
    --panel' shows them)."""
    if not options["judge_models"]:
        raise BsaError("name the judge with --judge PROVIDER:MODEL (try --model mock --judge mock)")
    if options["input_path"]:
        raise BsaError("bsa run needs BSA items; use 'bsa generate --input' for plain prompt lists")
    ctx = click.get_current_context()
    prices = price_flags(options)
    generation, upstream_output = plan_generation(ctx, options)
    plan = RunPlan(
        generation,
        plan_judging(generation.run_path, options),
        ScorePlan(alpha, truncated, bootstrap, bootstrap_seed),
    )
    left = 0

    def stages(
        labels: Sequence[str], stages: Callable[[Sequence[Any]], Coroutine[Any, Any, T]]
    ) -> T:
        return run_stages(labels, generation.run_path, "sample and verdict", stages)

    def on_stage(stage_plan: Any, report: Any) -> None:
        nonlocal left
        if isinstance(stage_plan, JudgePlan):
            left += summarize_judging(stage_plan, report)
        else:
            left += summarize_generation(generation, report, upstream_output)

    with holding_run(generation.run_path, wait_for_run):
        record_price_flags(
            generation.run_path, prices, generation.settings.model, options["judge_models"]
        )
        result = run(plan, stages=stages, on_stage=on_stage)
    print_run_scores(generation.run_path, result.verdicts, result.scores, result.panel, as_json)
    if left:
        sys.exit(EXIT_INCOMPLETE)
