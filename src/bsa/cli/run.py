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
from bsa.cli.judge import judge_options, plan_judging, run_judging, show_scores, summarize_judging
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
    """Ask the model, judge every sample, and print the BSA scores; rerun to resume."""
    if not options["judge_model"]:
        raise BsaError("name the judge with --judge PROVIDER:MODEL (try --model mock --judge mock)")
    if options["input_path"]:
        raise BsaError("bsa run needs BSA items; use 'bsa generate --input' for plain prompt lists")
    ctx = click.get_current_context()
    generation = plan_generation(ctx, options)
    judging = plan_judging(generation.run_path, options)
    with holding_run(generation.run_path, wait_for_run):
        missing = summarize_generation(generation, run_generation(generation))
        unusable = summarize_judging(judging, run_judging(judging))
    show_scores(generation.run_path, judging.judge, alpha, as_json, seed=0, truncated=truncated)
    if missing or unusable:
        sys.exit(EXIT_INCOMPLETE)
