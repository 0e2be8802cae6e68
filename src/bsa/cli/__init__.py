"""The ``bsa`` command: parses arguments and calls the public API, nothing more.

Errors that are the user's to fix (:class:`bsa.errors.BsaError`) print as ``error: …`` lines with no
traceback and exit 1; ``--debug`` (or ``BSA_DEBUG=1``) shows the traceback too. One module per
command group, imported only when its command runs: reading a run (``score``, ``report``,
``export``...) then never loads the providers, the runner or an HTTP client.
"""

from __future__ import annotations

import importlib

import click

import bsa

#: Each command's name, and the module and attribute that define it.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bsa.cli.run", "run_command"),
    "generate": ("bsa.cli.generate", "generate_command"),
    "judge": ("bsa.cli.judge", "judge_command"),
    "estimate": ("bsa.cli.estimate", "estimate_command"),
    "score": ("bsa.cli.results", "score_command"),
    "agree": ("bsa.cli.results", "agree_command"),
    "report": ("bsa.cli.reports", "report_command"),
    "compare": ("bsa.cli.reports", "compare_command"),
    "leaderboard": ("bsa.cli.reports", "leaderboard_command"),
    "figures": ("bsa.cli.reports", "figures_command"),
    "status": ("bsa.cli.results", "status_command"),
    "batches": ("bsa.cli.batches", "batches_group"),
    "export": ("bsa.cli.results", "export_command"),
    "data": ("bsa.cli.data", "data"),
    "import-inspect": ("bsa.cli.inspect_log", "import_inspect_command"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when named (click's documented lazy-loading
    pattern); ``bsa --help`` imports them all to show their summaries."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong COMMANDS entry
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bsa.__version__, prog_name="bsa")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """bsa-bench: run the Beyond Safe Answers benchmark for large reasoning models."""
