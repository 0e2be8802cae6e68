"""``bsa batches abandon``: give up a run's open vendor batches."""

from __future__ import annotations

from pathlib import Path

import click

from bsa.batch.abandon import GivenUp, abandon, check_stage
from bsa.cli.common import handle_errors, holding_run, wait_option
from bsa.output.terminal import safe_line
from bsa.providers import Provider, ProviderOptions, check_credentials, create_provider


@click.group("batches")
def batches_group() -> None:
    """The run's vendor batches (--batch, --judge-batch); bsa status lists them."""


@batches_group.command("abandon")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option(
    "--stage",
    metavar="STAGE",
    help="Only this stage's batches: generate, or judge:PROVIDER:MODEL [default: every stage].",
)
@click.option(
    "--cancel",
    is_flag=True,
    help="Also ask the vendor to cancel them, so requests not yet run are not billed (needs "
    "the key).",
)
@click.option(
    "--base-url",
    help="With --cancel: the batch API's endpoint [openai: $OPENAI_BASE_URL, else the vendor's].",
)
@click.option(
    "--api-key-env", metavar="VAR", help="With --cancel: the variable holding the vendor's key."
)
@click.option(
    "--api-key-file",
    type=click.Path(path_type=Path),
    help="With --cancel: a file holding the vendor's key.",
)
@wait_option
@handle_errors
def abandon_command(
    run_path: Path, stage: str | None, cancel: bool, base_url: str | None,
    api_key_env: str | None, api_key_file: Path | None, wait_for_run: bool,
) -> None:  # fmt: skip
    """Give up the run's open batches: done without results, their requests are asked again
    by the next run (live, or with --batch in a new batch)."""
    check_stage(stage)
    options = ProviderOptions(base_url=base_url, api_key_env=api_key_env, api_key_file=api_key_file)

    def provider_for(model: str) -> Provider:
        check_credentials(model, options)
        return create_provider(model, options)

    with holding_run(run_path, wait_for_run):
        given = abandon(run_path, stage, cancel_with=provider_for if cancel else None)
    for entry in given:
        click.echo(safe_line(given_up_line(entry)))
    if not given:
        click.echo(f"{run_path}: no open batches{f' of {stage}' if stage else ''}")


def given_up_line(entry: GivenUp) -> str:
    """``batch ID (stage): given up, N requests asked again on the next run; cancelled``."""
    batch = entry.batch
    line = (
        f"batch {batch.batch_id} ({batch.stage}): given up, {len(batch.requests)} requests "
        "asked again on the next run"
    )
    if not entry.cancel_asked:
        return line
    if entry.cancel_error is None:
        return line + "; the vendor was asked to cancel it"
    return line + f"; the vendor did not cancel it ({entry.cancel_error})"
