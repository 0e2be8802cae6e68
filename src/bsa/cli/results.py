"""``bsa score``, ``bsa agree``, ``bsa status`` and ``bsa export``: reading a run.

These commands only read the run file, so this module imports nothing of generation or judging
(the runner, the providers, their HTTP clients): a reading command starts fast and runs where no
provider SDK is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bsa.cli.common import handle_errors, tell_written
from bsa.cli.params import OutputFile, alpha_option, bootstrap_options, truncated_option
from bsa.cli.params import bootstrap_seed as bootstrap_seed_of
from bsa.cli.price_flags import price_flags, price_options
from bsa.costs.prices import PriceFlags
from bsa.costs.spend import run_spending, spending_lines
from bsa.errors import BsaError
from bsa.output.files import describe
from bsa.output.run_export import RUN_EXPORT_FORMATS, export_run
from bsa.output.terminal import safe_line, terminal_json
from bsa.output.terminal_report import print_panel, print_scores
from bsa.runfile.status import run_status, status_lines
from bsa.scoring.inputs import RunVerdicts
from bsa.scoring.metrics import Scores, TruncatedPolicy
from bsa.scoring.panel_scores import PanelScores
from bsa.scoring.run_scores import ScorePlan, score_judges
from bsa.scoring.warnings import score_warnings


def show_scores(
    run_path: Path, judges: Sequence[str], as_json: bool, scoring: ScorePlan, *, panel: bool,
    prices: PriceFlags | None = None,
) -> None:  # fmt: skip
    """Print the run's scores as one judge gave them, or, with ``panel``, as the majority of
    ``judges`` (every judge of the run when none is named) beside each judge's own."""
    verdicts, scores, result = score_judges(run_path, judges, scoring, panel=panel)
    print_run_scores(run_path, verdicts, scores, result, as_json, prices)


def print_run_scores(
    run_path: Path, verdicts: RunVerdicts, scores: Scores, panel: PanelScores | None,
    as_json: bool, prices: PriceFlags | None = None,
) -> None:  # fmt: skip
    """The score table (with the panel's table when there is one) and the run's tokens and cost
    so far, or their JSON."""
    figures = panel.as_json() if panel is not None else scores.as_json()
    payload = {"run": str(run_path), "model": verdicts.model, "judge": verdicts.judge, **figures}
    payload["reasoning_kind"] = verdicts.reasoning_kind
    payload["warnings"] = score_warnings(payload)
    payload["cost"] = run_spending(run_path, prices)
    if as_json:
        click.echo(terminal_json(payload))
        return
    by = f"a panel of {len(verdicts.members)}" if panel is not None else verdicts.judge
    print_scores(payload, f"{verdicts.model} judged by {by} (k = {verdicts.k})")
    if panel is not None:
        print_panel(payload)
    for line in spending_lines(payload["cost"]):
        click.echo(safe_line(line))


@click.command("score")
@click.option("--run", "run_path", type=click.Path(path_type=Path), help="The run file.")
@click.option(
    "--from-csv",
    "csv_path",
    type=click.Path(path_type=Path),
    help="An upstream judged CSV instead.",
)
@click.option(
    "--judge",
    "judges",
    metavar="PROVIDER:MODEL",
    multiple=True,
    help="Whose verdicts (a run with several judges); with --panel, the panel's judges.",
)
@click.option(
    "--panel",
    is_flag=True,
    help="Score the majority verdict of several judges (all of the run's, or those named).",
)
@click.option("-k", "--k", "--samples", "k", type=click.IntRange(min=1), help="k of the CSV [5].")
@alpha_option
@click.option("--reference", is_flag=True, help="Upstream evaluate.py's arithmetic exactly.")
@bootstrap_options(legacy_seed=True)
@truncated_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@price_options()
@handle_errors
def score_command(
    run_path: Path | None, csv_path: Path | None, judges: tuple[str, ...], panel: bool,
    k: int | None, alpha: float, reference: bool, bootstrap: int, bootstrap_seed: int,
    legacy_seed: int | None, truncated: TruncatedPolicy, as_json: bool, **prices: Any,
) -> None:  # fmt: skip
    """Safe@1, Safe@k, Think@1, Think@k and F-score, by scenario and category, with coverage."""
    from bsa.cli.reference import score_csv, score_run_reference

    seed = bootstrap_seed_of(bootstrap_seed, legacy_seed)

    if (run_path is None) == (csv_path is None):
        raise BsaError("give either --run RUN or --from-csv FILE")
    if truncated != "judge" and (reference or csv_path is not None):
        raise BsaError("--truncated needs a run file scored without --reference")
    if panel and (reference or csv_path is not None):
        raise BsaError("--panel needs a run file scored without --reference")
    if csv_path is not None:
        score_csv(csv_path, k or 5, alpha, reference, as_json, seed, bootstrap)
    elif reference:
        if len(judges) > 1:
            raise BsaError("--reference scores one judge; name one --judge")
        judge = judges[0] if judges else None
        score_run_reference(run_path, judge, alpha, as_json)  # type: ignore[arg-type]
    else:
        scoring = ScorePlan(alpha, truncated, bootstrap, seed)
        show_scores(run_path, judges, as_json, scoring, panel=panel, prices=price_flags(prices))  # type: ignore[arg-type]


@click.command("agree")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option(
    "--judge",
    "judges",
    multiple=True,
    required=True,
    metavar="PROVIDER:MODEL",
    help="One of the two judges to compare; give it twice.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@handle_errors
def agree_command(run_path: Path, judges: tuple[str, ...], as_json: bool) -> None:
    """Agreement of two judges on the same samples: percent agreement and Cohen's kappa."""
    from bsa.scoring.agreement import judge_agreement

    if len(judges) != 2:
        raise BsaError("name exactly two judges: --judge A --judge B")
    result = judge_agreement(run_path, judges[0], judges[1])
    if as_json:
        click.echo(terminal_json(result))
        return
    for kind, figures in result["kinds"].items():
        if not figures["paired"]:
            click.echo(f"{kind}: no sample has a verdict of both judges")
            continue
        kappa = figures["kappa"]
        click.echo(
            f"{kind}: {figures['paired']} paired verdicts, {figures['agreement']:.2f}% agree, "
            f"Cohen's kappa {'—' if kappa is None else f'{kappa:.3f}'}"
        )


@click.command("status")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@price_options()
@handle_errors
def status_command(run_path: Path, as_json: bool, **prices: Any) -> None:
    """Counts by status, what is left to do, and tokens and cost so far."""
    status = run_status(run_path)
    status["cost"] = run_spending(run_path, price_flags(prices))
    if as_json:
        click.echo(terminal_json(status))
        return
    click.echo(
        f"{run_path}: model {safe_line(status['model'])}, {status['prompts']} prompts x k "
        f"{status['k']}: "
        f"{status['ok']} ok, {status['blocked']} blocked, {status['failed']} failed, "
        f"{status['missing']} missing"
    )
    for line in [*status_lines(status), *spending_lines(status["cost"])]:
        click.echo(safe_line(line))


@click.command("export")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(RUN_EXPORT_FORMATS),
    required=True,
    help="Samples (jsonl, csv, upstream-csv) or verdicts (verdicts-jsonl, verdicts-csv, "
    "upstream-judged).",
)
@click.option("-o", "--output", type=OutputFile(), required=True, help="File, or - for stdout.")
@click.option(
    "--judge",
    "judge_model",
    help="Whose verdicts: needed by upstream-judged when the run has several judges; "
    "verdicts-jsonl and verdicts-csv write every judge's without it.",
)
@handle_errors
def export_command(run_path: Path, fmt: str, output: Path, judge_model: str | None) -> None:
    """Write the run's samples (jsonl, csv, upstream-csv) or verdicts (verdicts-jsonl,
    verdicts-csv, upstream-judged)."""
    count = export_run(run_path, output, fmt, judge=judge_model)
    tell_written(output, f"wrote {count} rows to {describe(output)}")
