"""The ``bsa`` command: parses arguments and calls the public API, nothing more.

Errors that are the user's to fix (:class:`bsa.errors.BsaError`) print as ``error: …`` lines with no
traceback and exit 1; ``--debug`` (or ``BSA_DEBUG=1``) shows the traceback too. One module per
command group.
"""

from __future__ import annotations

import click

import bsa
from bsa.cli.data import data
from bsa.cli.generate import export_command, generate_command, status_command
from bsa.cli.judge import agree_command, judge_command, score_command
from bsa.cli.reports import compare_command, leaderboard_command, report_command
from bsa.cli.run import run_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bsa.__version__, prog_name="bsa")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """bsa-bench: run the Beyond Safe Answers benchmark for large reasoning models."""


for command in (
    run_command,
    generate_command,
    judge_command,
    score_command,
    agree_command,
    report_command,
    compare_command,
    leaderboard_command,
    status_command,
    export_command,
    data,
):
    main.add_command(command)
