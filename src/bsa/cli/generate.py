"""``bsa generate``: the generation stage (``status`` and ``export`` are in :mod:`bsa.cli.results`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

import click

from bsa.batch import check_batch
from bsa.cli.common import (
    EXIT_INCOMPLETE,
    dataset_options,
    handle_errors,
    holding_run,
    load_selected,
    run_stage,
    wait_option,
    warn_all,
    warn_unstored,
)
from bsa.cli.execution import batch_options, pacing_options, stage_execution
from bsa.cli.params import JsonObject, OptionalNumber
from bsa.cli.price_flags import price_flags, price_options, record_price_flags
from bsa.cli.provider_flags import flag_names, model_option_flags, model_settings
from bsa.data.assets import load_safety_rules
from bsa.data.batch_input import read_questions
from bsa.data.upstream_config import UpstreamConfig, load_upstream_config
from bsa.engine.extra_body import checked_extra_body
from bsa.engine.generate import (
    SAFETY_RULES_MODES,
    GenerationReport,
    GenerationSettings,
    prompts_from_items,
)
from bsa.engine.runner import RetryPolicy
from bsa.errors import BsaError
from bsa.output.run_export import export_run
from bsa.pipeline import GenerationPlan, generate_stage
from bsa.providers import ProviderOptions, endpoints, split_model
from bsa.providers.registry import options_record
from bsa.types import Decoding

F = TypeVar("F", bound=Any)


def generation_options(command: F) -> F:
    """The flags of the generation stage, shared by ``bsa generate`` and ``bsa run``; the flags of
    the providers' own options come from their declarations (:mod:`bsa.cli.provider_flags`)."""
    command = model_option_flags(command, flag_names(_GENERATION_OPTIONS))
    for option in reversed(_GENERATION_OPTIONS):
        command = option(command)
    return command


def _decoding_option(
    flag: str, kind: type[float] | type[int], default: float | None, help: str, name: str = ""
) -> Any:
    """A decoding setting sent with each request: a number, or ``none`` to send nothing."""
    names = (flag, name) if name else (flag,)
    return click.option(
        *names,
        type=OptionalNumber(kind),
        default=default,
        show_default=default is not None,
        help=help + (" none: send nothing." if default is not None else ""),
    )


_GENERATION_OPTIONS = [
    click.option(
        "--run", "run_path", type=click.Path(path_type=Path), help="The run file (SQLite)."
    ),
    click.option(
        "--model", metavar="PROVIDER:MODEL", help="Model under test, e.g. openai:deepseek-reasoner."
    ),
    click.option(
        "--base-url",
        "base_urls",
        multiple=True,
        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1; repeat it for "
        "replicas of the model (calls are spread over them) [openai: $OPENAI_BASE_URL, "
        "else OpenAI].",
    ),
    click.option(
        "--api-key-env",
        metavar="VAR",
        help="Environment variable holding the key [OPENAI_API_KEY].",
    ),
    click.option("--api-key-file", type=click.Path(path_type=Path), help="File holding the key."),
    click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        help="Upstream Batch_Call_LLM YAML config.",
    ),
    click.option(
        "--input",
        "input_path",
        type=click.Path(path_type=Path),
        help="Plain id,question file instead of BSA.",
    ),
    click.option(
        "-k",
        "--samples",
        "k",
        type=click.IntRange(min=1),
        default=5,
        show_default=True,
        help="Samples per prompt.",
    ),
    *pacing_options("", "request"),
    _decoding_option("--temperature", float, 0.6, "Sampling temperature (the paper's)."),
    _decoding_option("--top-p", float, 0.95, "Nucleus sampling (the paper's)."),
    _decoding_option("--top-k", int, 20, "Sent where the endpoint accepts it."),
    _decoding_option(
        "--max-tokens",
        int,
        None,
        "Token budget of a reply, reasoning included; sent only when given.",
    ),
    _decoding_option(
        "--request-seed",
        int,
        None,
        "Seed sent with each request, for endpoints with seeded sampling.",
        name="decoding_seed",
    ),
    click.option("--reasoning-effort", help="For endpoints that take one (low, medium, high)."),
    click.option(
        "--extra-body",
        type=JsonObject(),
        metavar="JSON",
        help="Extra request fields.",
    ),
    click.option("--use-n", is_flag=True, help="Ask for the k samples in one request (n=k)."),
    *batch_options("", "Generate", "a --batch"),
    click.option(
        "--safety-rules",
        type=click.Choice(SAFETY_RULES_MODES),
        default="none",
        show_default=True,
        help="Put the official Safe_Rules.md in a system message, or before the query.",
    ),
    click.option("--system-prompt", help="A system message for every prompt."),
]


@click.command("generate")
@generation_options
@price_options(judge=False)
@dataset_options
@wait_option
@handle_errors
def generate_command(wait_for_run: bool, **options: Any) -> None:
    """Ask the model every selected prompt k times; resumable: rerun to finish."""
    ctx = click.get_current_context()
    prices = price_flags(options)
    plan, upstream_output = plan_generation(ctx, options)
    with holding_run(plan.run_path, wait_for_run):
        record_price_flags(plan.run_path, prices, plan.settings.model, ())
        report = run_generation(plan)
    if summarize_generation(plan, report, upstream_output):
        sys.exit(EXIT_INCOMPLETE)


def plan_generation(
    ctx: click.Context, options: dict[str, Any]
) -> tuple[GenerationPlan, Path | None]:
    """Merge flags over the upstream config (flags win) and load the prompts; also where the
    upstream config asks for its output CSV (None without one)."""
    config = load_upstream_config(options["config_path"]) if options["config_path"] else None
    if config and config.ignored:
        click.echo(
            f"notice: {', '.join(config.ignored)} not used (bsa commits every result)", err=True
        )
    model_section = config.model if config else None

    def pick(flag: str, key: str) -> Any:
        return _flag_or_config(ctx, options, flag, model_section, key)

    model = options["model"] or (f"openai:{config.model.model_name}" if config else None)
    if not model:
        raise BsaError("name the model under test with --model PROVIDER:MODEL (or --config FILE)")
    run_path = options["run_path"] or _default_run(config)
    input_path = options["input_path"] or (config.io.input_file if config else None)
    prompts, source = _prompts(input_path, options)
    decoding = Decoding(
        temperature=pick("temperature", "temperature"),
        top_p=pick("top_p", "top_p"),
        top_k=pick("top_k", "top_k"),
        max_tokens=pick("max_tokens", "max_tokens"),
        seed=options["decoding_seed"],
        reasoning_effort=options["reasoning_effort"],
        extra_body=checked_extra_body(options["extra_body"] or {}),
    )
    rules = load_safety_rules() if options["safety_rules"] != "none" else None
    if rules and rules.file.notice:
        click.echo(rules.file.notice, err=True)
    provider_options = ProviderOptions(
        **endpoints(options["base_urls"] or _config_url(config)),
        api_key_env=options["api_key_env"],
        api_key_file=options["api_key_file"],
        settings=model_settings(split_model(model)[0], options),
    )
    settings = GenerationSettings(
        model=model,
        decoding=decoding,
        safety_rules=options["safety_rules"],
        safety_rules_sha256=rules.file.sha256 if rules else None,
        system_prompt=pick("system_prompt", "system_prompt"),
        thinking_budget=recorded_thinking_budget(model, provider_options),
    )
    runtime = config.runtime if config else None
    execution = stage_execution(
        options,
        k=options["k"],
        use_n=options["use_n"],
        concurrency=_flag_or_config(ctx, options, "concurrency", runtime, "max_concurrent"),
        max_attempts=_attempts(ctx, options, runtime),
        base_delay_s=_retry_delay(runtime),
    )
    check_batch(split_model(model)[0], execution, base_urls=len(provider_options.replica_urls) or 1)
    plan = GenerationPlan(
        run_path,
        settings,
        execution,
        provider_options,
        prompts,
        api_key=config.api_key if config else None,
        source=source,
        rules_text=rules.text if rules else None,
    )
    return plan, config.io.output_file if config else None


def recorded_thinking_budget(model: str, options: ProviderOptions) -> int | None:
    """The thinking budget the run file records (it changes the samples): the provider's own
    option when it declares one (Anthropic's), None for the others. Building the options record
    here also reports an option the provider does not take before anything runs."""
    record = options_record(split_model(model)[0], options)
    budget = getattr(record, "thinking_budget", None)
    return budget if isinstance(budget, int) else None


def _flag_or_config(
    ctx: click.Context, options: dict[str, Any], flag: str, section: Any, key: str
) -> Any:
    """A flag given on the command line wins; else the upstream config's value if it sets one;
    else the flag's default."""
    explicit = ctx.get_parameter_source(flag) is not click.core.ParameterSource.DEFAULT
    value = None if section is None else getattr(section, key)
    return options[flag] if explicit or value is None else value


def _attempts(ctx: click.Context, options: dict[str, Any], runtime: Any) -> int:
    """Upstream ``retry_times`` counts retries; ``--max-attempts`` counts the first try too."""
    explicit = ctx.get_parameter_source("max_attempts") is not click.core.ParameterSource.DEFAULT
    if explicit or runtime is None or runtime.retry_times is None:
        return int(options["max_attempts"])
    return int(runtime.retry_times) + 1


def _retry_delay(runtime: Any) -> float:
    """Upstream ``retry_delay`` becomes the backoff's base delay (it still doubles and jitters)."""
    if runtime is None or runtime.retry_delay is None:
        return RetryPolicy().base_delay_s
    return float(runtime.retry_delay)


def _config_url(config: UpstreamConfig | None) -> tuple[str, ...]:
    """The upstream config's ``model.base_url``, when it has one."""
    url = config.model.base_url if config else None
    return (url,) if url else ()


def _default_run(config: UpstreamConfig | None) -> Path:
    if config and config.io.checkpoint_dir:
        return config.io.checkpoint_dir / "bsa-run.sqlite"
    raise BsaError("name the run file with --run PATH (it is created if missing)")


def _prompts(
    input_path: Path | None, options: dict[str, Any]
) -> tuple[list[Any], dict[str, Any] | None]:
    if input_path is not None:
        return read_questions(input_path), {"location": str(input_path), "origin": "input"}
    dataset = load_selected(
        options["dataset_spec"],
        options["scenarios"],
        options["categories"],
        options["ids_file"],
        options["limit"],
        options["sample"],
        options["seed"],
    )
    return prompts_from_items(dataset.items), dataset.source.as_json()


def run_generation(plan: GenerationPlan) -> GenerationReport:
    return run_stage(
        "generate", plan.run_path, "sample", lambda progress: generate_stage(plan, progress)
    )


def summarize_generation(
    plan: GenerationPlan, report: GenerationReport, upstream_output: Path | None = None
) -> int:
    """Print how the stage ended (and write the upstream config's output CSV, when it names
    one); return how many samples are still missing."""
    if report.dropped_parameters:
        names = ", ".join(report.dropped_parameters)
        click.echo(f"notice: the endpoint rejected {names}; it was not sent", err=True)
    warn_unstored("samples", report.unstored)
    warn_all(report.counters.warnings)
    for notice in report.notices:
        click.echo(f"notice: {notice}", err=True)
    status = report.status
    click.echo(
        f"{plan.run_path}: {status['ok']} ok, {status['blocked']} blocked, {status['failed']} failed "
        f"of {report.expected} samples ({report.counters.done} requests this time, "
        f"{report.counters.retries} retries)"
    )
    if upstream_output is not None:
        count = export_run(plan.run_path, upstream_output, "upstream-csv")
        click.echo(f"wrote {count} rows to {upstream_output}")
    if report.missing:
        click.echo(
            f"incomplete: {report.missing} samples still missing after retries; rerun the same "
            "command to retry them",
            err=True,
        )
    return report.missing
