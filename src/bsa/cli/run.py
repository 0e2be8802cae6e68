"""``bsa run``: generate, judge and score in one command, resumable at every stage."""

from __future__ import annotations

import sys
from typing import Any

import click

from bsa.cli.common import (
    EXIT_INCOMPLETE,
    dataset_options,
    handle_errors,
    holding_run,
    wait_option,
)
from bsa.cli.generate import (
    generation_options,
    plan_generation,
    run_generation,
    summarize_generation,
)
from bsa.cli.judge import judge_all, judge_options, plan_judging, show_scores
from bsa.cli.params import alpha_option, truncated_option
from bsa.errors import BsaError
from bsa.metrics import TruncatedPolicy


@click.command("run")
@generation_options
@judge_options
@alpha_option
@truncated_option
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@dataset_options
@wait_option
@handle_errors
def run_command(
    alpha: float, truncated: TruncatedPolicy, as_json: bool, wait_for_run: bool, **options: Any
) -> None:
    """Ask the model, judge every sample, and print the BSA scores; rerun to resume.

    With several --judge, each judges in turn and the scores are the panel's majority, shown
    beside each judge's own (as 'bsa score --panel' shows them)."""
    if not options["judge_models"]:
        raise BsaError("name the judge with --judge PROVIDER:MODEL (try --model mock --judge mock)")
    if options["input_path"]:
        raise BsaError("bsa run needs BSA items; use 'bsa generate --input' for plain prompt lists")
    ctx = click.get_current_context()
    generation = plan_generation(ctx, options)
    judging = plan_judging(generation.run_path, options)
    with holding_run(generation.run_path, wait_for_run):
        missing = summarize_generation(generation, run_generation(generation))
        unusable = judge_all(judging)
    judges = [plan.judge for plan in judging]
    show_scores(
        generation.run_path, judges, alpha, as_json, seed=0, truncated=truncated,
        panel=len(judges) > 1,
    )  # fmt: skip
    if missing or unusable:
        sys.exit(EXIT_INCOMPLETE)
