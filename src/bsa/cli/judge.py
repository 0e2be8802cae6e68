"""``bsa judge``: grading a run (its figures are read in :mod:`bsa.cli.results`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

import click

from bsa.batch import check_batch
from bsa.cli.common import (
    EXIT_INCOMPLETE,
    handle_errors,
    holding_run,
    run_stage,
    wait_option,
    warn_all,
    warn_unstored,
)
from bsa.cli.execution import batch_options, pacing_options, stage_execution
from bsa.cli.params import FiniteFloat
from bsa.cli.price_flags import price_flags, price_options, record_price_flags
from bsa.cli.provider_flags import flag_names, judge_option_flags, judge_settings
from bsa.errors import BsaError
from bsa.judging.judge import JudgeReport
from bsa.pipeline import JudgePlan, judge_stage
from bsa.providers import (
    ProviderOptions,
    canonical_model,
    check_credentials,
    endpoints,
    split_model,
)

F = TypeVar("F", bound=Any)
T = TypeVar("T")

_JUDGE_OPTIONS = [
    click.option(
        "--judge",
        "judge_models",
        metavar="PROVIDER:MODEL",
        multiple=True,
        help="The judge model (required); repeat it for a judge panel.",
    ),
    click.option(
        "--judge-base-url",
        "judge_base_urls",
        multiple=True,
        help="The judge's OpenAI-compatible endpoint (once for all judges, or once per judge; "
        "with one judge, repeat it for replicas of the judge) [openai: $OPENAI_BASE_URL, "
        "else OpenAI].",
    ),
    click.option(
        "--judge-api-key-env",
        "judge_api_key_envs",
        metavar="VAR",
        multiple=True,
        help="Variable holding the judge's key (once for all judges, or once per judge).",
    ),
    click.option(
        "--judge-api-key-file",
        "judge_api_key_files",
        type=click.Path(path_type=Path),
        multiple=True,
        help="File holding the judge's key (once for all judges, or once per judge).",
    ),
    *pacing_options("judge-", "judge request"),
    *batch_options("judge-", "Judge", "a judge's batch"),
    click.option(
        "--judge-temperature",
        type=FiniteFloat(),
        default=0.0,
        show_default=True,
        help="Temperature of the judge requests (judges grade, they do not sample).",
    ),
    click.option(
        "--judge-seed",
        type=int,
        default=None,
        help="Seed for the judge's requests; sample i's verdicts are asked with SEED + i.",
    ),
    click.option(
        "--judge-parse-attempts",
        type=click.IntRange(min=1),
        default=3,
        show_default=True,
        help="Calls per verdict while the judge's reply holds no usable verdict.",
    ),
    click.option("--allow-self-judge", is_flag=True, help="Let the model under test judge itself."),
]


def judge_options(command: F) -> F:
    """The flags of the judging stage, shared by ``bsa judge`` and ``bsa run``; the flags of the
    providers' own options come from their declarations (:mod:`bsa.cli.provider_flags`)."""
    command = judge_option_flags(command, flag_names(_JUDGE_OPTIONS))
    for option in reversed(_JUDGE_OPTIONS):
        command = option(command)
    return command


#: The key flags a panel may give once for every judge or once per judge, in order (the URL too,
#: by :func:`_judge_urls`, which lets one judge have several).
PER_JUDGE_OPTIONS = (
    ("judge_api_key_envs", "--judge-api-key-env"),
    ("judge_api_key_files", "--judge-api-key-file"),
)


def plan_judging(run_path: Path, options: dict[str, Any]) -> list[JudgePlan]:
    """One plan per ``--judge``: a panel's judges share the execution limits (each judge gets
    them in turn) and take their endpoint and key from the per-judge flags. Every judge's key is
    checked here, before any stage runs: a missing key of a panel's third judge, or of the judge
    of ``bsa run``, must not wait for hours of generation to be reported."""
    judges: tuple[str, ...] = options["judge_models"]
    if not judges:
        raise BsaError("name the judge with --judge PROVIDER:MODEL (e.g. openai:gpt-4o, or mock)")
    if len({canonical_model(judge) for judge in judges}) != len(judges):
        raise BsaError(f"a judge is named twice: {', '.join(judges)}")
    connection = {
        key: _per_judge(options[key], flag, len(judges)) for key, flag in PER_JUDGE_OPTIONS
    }
    urls = _judge_urls(options["judge_base_urls"], len(judges))
    execution = stage_execution(options, "judge_")
    own = judge_settings([split_model(judge)[0] for judge in judges], options)
    plans = []
    for index, judge in enumerate(judges):
        provider_options = ProviderOptions(
            **endpoints(urls[index]),
            api_key_env=connection["judge_api_key_envs"][index],
            api_key_file=connection["judge_api_key_files"][index],
            settings=own[index],
            flag_prefix="judge-",
        )
        check_credentials(judge, provider_options)
        check_batch(
            split_model(judge)[0],
            execution,
            "--judge-batch",
            base_urls=len(provider_options.replica_urls) or 1,
        )
        plan = JudgePlan(
            run_path, judge, provider_options, execution, options["judge_temperature"],
            options["judge_parse_attempts"], options["allow_self_judge"], options["judge_seed"],
        )  # fmt: skip
        plans.append(plan)
    return plans


def _judge_urls(urls: tuple[str, ...], judges: int) -> list[tuple[str, ...]]:
    """Each judge's endpoints: with one judge, every ``--judge-base-url`` (several are its
    replicas); with a panel, one for all or one per judge."""
    if judges == 1:
        return [urls]
    return [() if url is None else (url,) for url in _per_judge(urls, "--judge-base-url", judges)]


def _per_judge(values: tuple[T, ...], flag: str, judges: int) -> list[T | None]:
    """A per-judge flag's value for each of ``judges``: none given, one for all, or one each."""
    if not values:
        return [None] * judges
    if len(values) == 1:
        return [values[0]] * judges
    if len(values) != judges:
        raise BsaError(
            f"{flag} is given {len(values)} times for {judges} judges; give it once for all "
            "judges or once per --judge, in the same order"
        )
    return list(values)


def run_judging(plan: JudgePlan) -> JudgeReport:
    return run_stage(
        "judge", plan.run_path, "verdict", lambda progress: judge_stage(plan, progress)
    )


def summarize_judging(plan: JudgePlan, report: JudgeReport) -> int:
    """Print how judging ended; return how many verdicts are still unusable or failed."""
    warn_unstored("verdicts", report.unstored)
    warn_all(report.counters.warnings)
    status = report.status
    click.echo(
        f"{plan.run_path}: judge {plan.judge}: {status['scored']} verdicts, {status['unscored']} "
        f"unscored, {status['failed']} failed ({report.counters.done} judge calls this time, "
        f"{report.direct} without a call)"
    )
    left = status["unscored"] + status["failed"]
    if left:
        click.echo(
            f"incomplete: {left} verdicts unscored or failed; rerun the same command to ask again",
            err=True,
        )
    return left


@click.command("judge")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@judge_options
@price_options(model=False)
@click.option("--batch", "batch_alias", is_flag=True, help="Same as --judge-batch.")
@wait_option
@handle_errors
def judge_command(run_path: Path, wait_for_run: bool, batch_alias: bool, **options: Any) -> None:
    """Grade every sample's answer and reasoning with the official BSA judge prompts."""
    prices = price_flags(options)
    options["judge_batch"] = options["judge_batch"] or batch_alias
    plans = plan_judging(run_path, options)
    if not run_path.is_file():
        raise BsaError(f"no run file at {run_path}; run 'bsa generate' first")
    with holding_run(run_path, wait_for_run):
        record_price_flags(run_path, prices, None, options["judge_models"])
        left = judge_all(plans)
    if left:
        sys.exit(EXIT_INCOMPLETE)


def judge_all(plans: list[JudgePlan]) -> int:
    """Run each judge in turn (a panel's judges one after another, each resumable on its own)
    and print how each ended; return how many verdicts are still unusable or failed."""
    return sum(summarize_judging(plan, run_judging(plan)) for plan in plans)
