"""``bsa import-inspect``: inspect_ai eval logs into a run file (see :mod:`bsa.interop.inspect_import`)."""

from __future__ import annotations

from pathlib import Path

import click

from bsa.cli.common import handle_errors, warn_unstored
from bsa.interop.inspect_import import import_inspect_logs
from bsa.output.terminal import safe_line


@click.command("import-inspect")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option(
    "--dataset",
    "dataset_spec",
    metavar="PATH|hf:REPO[@REV]",
    help="The dataset the logs were made from; default: the official release.",
)
@handle_errors
def import_inspect_command(
    logs: tuple[Path, ...], run_path: Path, dataset_spec: str | None
) -> None:
    """Read inspect_ai eval logs (.eval, .json) of BSA samples into a run file, for bsa score,
    report, compare and leaderboard."""
    report = import_inspect_logs(logs, run_path, dataset=dataset_spec)
    warn_unstored("rows", report.rejected)
    judges = safe_line(", ".join(report.judges)) or "none (grade them with bsa judge)"
    click.echo(
        f"imported {report.samples} samples and {report.judgements} verdicts of "
        f"{safe_line(report.model)} "
        f"(k = {report.k}) from {report.logs} log(s) into {run_path}; judges: {judges}"
    )
