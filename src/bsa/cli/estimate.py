"""``bsa estimate``: what the rest of a run will cost and take, from the flags of ``bsa run``.

It takes the same flags as ``bsa run`` (those that only change scoring or locking are accepted
and ignored), so a run's command line with ``run`` changed to ``estimate`` says what that run
would still ask for. It reads the run file and the dataset and calls no provider: no key is
needed. The predictions are those of :mod:`bsa.costs.estimate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from bsa.cli.common import dataset_options, handle_errors, wait_option
from bsa.cli.execution import stage_execution
from bsa.cli.generate import generation_options, plan_generation
from bsa.cli.judge import judge_options
from bsa.cli.params import FiniteFloat, alpha_option, bootstrap_options, truncated_option
from bsa.cli.price_flags import price_flags, price_options
from bsa.costs import estimate as estimating
from bsa.costs.spend import money
from bsa.errors import BsaError
from bsa.output.terminal import safe_line, terminal_json
from bsa.providers.registry import canonical_model

_ESTIMATE_OPTIONS = [
    click.option("--expect-output-tokens", type=click.IntRange(min=1),
                 default=estimating.DEFAULT_OUTPUT_TOKENS, show_default=True,
                 help="Output tokens per sample when the run file has none to measure."),
    click.option("--expect-judge-output-tokens", type=click.IntRange(min=1),
                 default=estimating.DEFAULT_JUDGE_OUTPUT_TOKENS, show_default=True,
                 help="Output tokens per verdict when the run file has none to measure."),
    click.option("--expect-latency", type=FiniteFloat(min=0, min_open=True),
                 default=estimating.DEFAULT_LATENCY_S, show_default=True,
                 help="Seconds per model call when the run file has none to measure."),
    click.option("--judge-expect-latency", type=FiniteFloat(min=0, min_open=True),
                 default=estimating.DEFAULT_JUDGE_LATENCY_S, show_default=True,
                 help="Seconds per judge call when the run file has none to measure."),
    click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON."),
]  # fmt: skip


def estimate_options(command: Any) -> Any:
    for option in reversed(_ESTIMATE_OPTIONS):
        command = option(command)
    return command


@click.command("estimate")
@generation_options
@judge_options
@price_options()
@estimate_options
@alpha_option
@truncated_option
@bootstrap_options()
@dataset_options
@wait_option
@handle_errors
def estimate_command(as_json: bool, **options: Any) -> None:
    """Predict the calls, tokens, cost and wall time of what the run still lacks; calls nothing."""
    plan = estimate_plan(click.get_current_context(), options)
    templates = None
    if plan.judges:
        from bsa.data.assets import load_judge_templates

        templates = load_judge_templates()
    result = estimating.estimate(plan, templates)
    if as_json:
        click.echo(terminal_json(result))
    else:
        for line in estimate_lines(result, plan.k):
            click.echo(safe_line(line))


def estimate_plan(ctx: click.Context, options: dict[str, Any]) -> estimating.EstimatePlan:
    """The plan ``bsa run`` would make of these flags, as the estimate needs it."""
    flags = price_flags(options)
    if options["input_path"] and options["judge_models"]:
        raise BsaError("only BSA items can be judged; estimate an --input run without --judge")
    generation, _ = plan_generation(ctx, options)
    model = canonical_model(generation.settings.model)
    judges = [canonical_model(judge) for judge in options["judge_models"]]
    execution, judging = generation.execution, stage_execution(options, "judge_")
    extra = len(generation.settings.system_prompt or "") + len(generation.rules_text or "")
    return estimating.EstimatePlan(
        run_path=generation.run_path,
        prompts=generation.prompts,
        k=options["k"],
        model=estimating.StageSettings(
            model, execution.concurrency_setting.ceiling, execution.rpm, execution.tpm,
            options["batch"], options["expect_output_tokens"], options["expect_latency"],
        ),
        judges=[
            estimating.StageSettings(
                judge, judging.concurrency_setting.ceiling, judging.rpm, judging.tpm,
                options["judge_batch"], options["expect_judge_output_tokens"],
                options["judge_expect_latency"],
            )
            for judge in judges
        ],
        extra_prompt_chars=extra,
        use_n=options["use_n"],
        max_tokens=generation.settings.decoding.max_tokens,
        prices=flags.table(model, judges),
    )  # fmt: skip


def estimate_lines(result: Mapping[str, Any], k: int) -> list[str]:
    """The table: one row per stage and the total, then what each stage's figures rest on."""
    state = "a new run" if result["new_run"] else f"{result['missing_samples']:,} samples missing"
    header = f"{'':<34} {'calls':>9} {'tokens in':>13} {'cached':>11} {'tokens out':>13} {'cost':>11} {'wall time':>11}"
    stages = [("model", result["model"]), *(("judge", j) for j in result["judges"])]
    rows = [_row(f"{role} {stage['name']}", stage) for role, stage in stages]
    rows.append(_row("total", result["total"]))
    basis = [f"{role} {stage['name']}: {_basis(stage)}" for role, stage in stages]
    return [f"estimate for {result['run']} ({state}, k = {k})", header, *rows, *basis]


def _row(label: str, figures: Mapping[str, Any]) -> str:
    cost = figures["cost_usd"]
    return (
        f"{label[:34]:<34} {figures['calls']:>9,} {figures['input_tokens']:>13,} "
        f"{figures['cached_tokens']:>11,} {figures['output_tokens']:>13,} "
        f"{'no prices' if cost is None else money(cost):>11} {duration(figures['wall_s']):>11}"
    )


def _basis(stage: Mapping[str, Any]) -> str:
    basis = stage["basis"]
    batch = ", batch: half price, wall time up to the vendor (24 h)" if stage["batch"] else ""
    return (
        f"{basis['chars_per_token']:.2f} characters a token ({basis['chars_per_token_from']}), "
        f"{basis['output_tokens_per_reply']:,.0f} output tokens a reply ({basis['output_tokens_from']}), "
        f"{basis['latency_s']:.1f} s a call ({basis['latency_from']}), concurrency "
        f"{basis['concurrency']}{batch}"
    )


def duration(seconds: float | None) -> str:
    """``1 h 05 min``, ``12 min``, ``45 s``; ``-`` when not predicted (a batch)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
