"""``bsa report``, ``bsa compare`` and ``bsa leaderboard``: reading runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bsa.benchmark import BSA_V1
from bsa.cli.common import handle_errors, tell_written
from bsa.cli.params import OutputFile, alpha_option, bootstrap_options, truncated_option
from bsa.cli.params import bootstrap_seed as bootstrap_seed_of
from bsa.cli.price_flags import price_flags, price_options
from bsa.errors import BsaError
from bsa.output.files import describe, is_stdout, write_text
from bsa.output.terminal import rich_text, safe_line, terminal_json
from bsa.output.terminal_report import pct
from bsa.scoring.metrics import TruncatedPolicy

#: The figures the terminal comparison shows: BSA v1's overall ones (the JSON and page have all).
COMPARE_ROWS = tuple(m.key for m in BSA_V1.overall_figures)


@click.command("report")
@click.option(
    "--run", "run_path", type=click.Path(path_type=Path), required=True, help="The run file."
)
@click.option("-o", "--output", type=OutputFile(), required=True, help="File, or - for stdout.")
@click.option(
    "--judge",
    "judges",
    multiple=True,
    help="Whose verdicts, in runs with several judges; with --panel, the panel's judges.",
)
@click.option(
    "--panel", is_flag=True, help="Report the majority verdict of several judges (as score)."
)
@truncated_option
@click.option(
    "--no-samples",
    is_flag=True,
    help="A summary-only page: no sample browser, none of the samples' text, no script.",
)
@price_options()
@handle_errors
def report_command(
    run_path: Path, output: Path, judges: tuple[str, ...], panel: bool, truncated: TruncatedPolicy,
    no_samples: bool, **price_values: Any,
) -> None:  # fmt: skip
    """One self-contained HTML report: figures, plots, and a browser of every sample."""
    from bsa.output.report import write_report

    if len(judges) > 1 and not panel:
        raise BsaError("name one --judge, or pass --panel to report several judges by majority")
    samples, prices = not no_samples, price_flags(price_values)
    if panel:
        write_report(
            run_path, output, panel=judges, truncated=truncated, samples=samples, prices=prices
        )
    else:
        judge = judges[0] if judges else None
        write_report(
            run_path, output, judge=judge, truncated=truncated, samples=samples, prices=prices
        )
    if is_stdout(output):
        tell_written(output, "wrote the report to standard output")
    else:
        click.echo(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=OutputFile(), help="Write the HTML page here (-: stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--judge", "judge_model", help="Whose verdicts, in runs with several judges.")
@click.option("--common-k", is_flag=True, help="Compare every run at the smallest k.")
@bootstrap_options(legacy_seed=True)
@alpha_option
@click.option(
    "--max-flips",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Flipping items listed per run in the JSON.",
)
@handle_errors
def compare_command(
    runs: tuple[Path, ...], output: Path | None, as_json: bool, judge_model: str | None,
    common_k: bool, bootstrap: int, bootstrap_seed: int, legacy_seed: int | None, alpha: float,
    max_flips: int,
) -> None:  # fmt: skip
    """Runs side by side against the first, paired on shared items, with the items that flip."""
    from bsa.output.report.compare_page import write_compare_html
    from bsa.scoring.compare import compare_runs

    seed = bootstrap_seed_of(bootstrap_seed, legacy_seed)

    page_to_stdout = output is not None and is_stdout(output)
    if as_json and page_to_stdout:
        raise BsaError("--json and -o - both write to standard output; write the page to a file")
    comparison = compare_runs(
        runs, judge=judge_model, seed=seed, bootstrap=bootstrap, alpha=alpha, common_k=common_k
    )
    payload = comparison.as_json(max_flips=max_flips)
    if as_json:
        click.echo(terminal_json(payload))
    else:
        _print_comparison(payload, to_stderr=page_to_stdout)
    if output is not None:
        write_compare_html(comparison, output)
        click.echo(f"wrote {describe(output)}", err=as_json or page_to_stdout)


def _print_comparison(payload: dict[str, Any], *, to_stderr: bool) -> None:
    """The tables; on stderr when the HTML page itself goes to standard output."""
    console = Console(highlight=False, stderr=to_stderr)
    for warning in payload["warnings"]:
        console.print(f"notice: {safe_line(warning)}", markup=False)
    for pair in payload["comparisons"]:
        table = Table(
            "metric", "baseline", "run", "difference", "95% CI", "p",
            title=rich_text(
                f"{pair['run']} vs {pair['baseline']} ({pair['shared_items']} shared items)"
            ),
        )  # fmt: skip
        for key in COMPARE_ROWS:
            d = pair["differences"][key]
            ci = d["ci"]
            table.add_row(
                key, pct(d["baseline"]), pct(d["run"]), pct(d["difference"]),
                f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "",
                "" if d["p_value"] is None else f"{d['p_value']:.3g}",
            )  # fmt: skip
        console.print(table)
        flips = pair["flips"]
        console.print(f"items that flip: {flips['total']} (see --json or -o for the list)")


@click.command("leaderboard")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--with-published", is_flag=True, help="Add the 23 published leaderboard rows.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("md", "csv", "json")),
    default="md",
    show_default=True,
    help="Markdown table, CSV or JSON.",
)
@click.option("--judge", "judge_model", help="Whose verdicts, in runs with several judges.")
@alpha_option
@click.option("--no-sort", is_flag=True, help="Keep the given order instead of F-score order.")
@click.option("-o", "--output", type=OutputFile(), help="Write to a file (-: stdout, the default).")
@handle_errors
def leaderboard_command(
    runs: tuple[Path, ...], with_published: bool, fmt: str, judge_model: str | None,
    alpha: float, no_sort: bool, output: Path | None,
) -> None:  # fmt: skip
    """One row per run in the published leaderboard's columns."""
    from bsa.scoring.leaderboard import alpha_note, format_leaderboard, leaderboard

    rows = leaderboard(
        runs, judge=judge_model, with_published=with_published, alpha=alpha, sort=not no_sort
    )
    text = format_leaderboard(rows, fmt, alpha=alpha)
    if fmt == "csv":  # on stderr, so that the CSV stays one header and its rows (see the function)
        click.echo(f"note: {alpha_note(alpha)}", err=True)
    if output is None or is_stdout(output):
        click.echo(text)
    else:
        write_text(output, text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {len(rows)} rows to {output}")


@click.command("figures")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "folder", type=click.Path(path_type=Path, file_okay=False), required=True,
    help="Folder to write the figures into (created if missing).",
)  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(("pdf", "png", "svg")), default="pdf",
              show_default=True, help="File format of every figure.")  # fmt: skip
@click.option("--with-published", is_flag=True, help="Add the 23 published models to the scatter.")
@click.option("--judge", "judge_model", help="Whose verdicts, in runs with several judges.")
@bootstrap_options()
@handle_errors
def figures_command(
    runs: tuple[Path, ...], folder: Path, fmt: str, with_published: bool, judge_model: str | None,
    bootstrap: int, bootstrap_seed: int,
) -> None:  # fmt: skip
    """The paper's plots (needs the [plots] extra): Safe@1 vs Think@1, scenarios, categories."""
    from bsa.output.figures import read_runs, require_matplotlib, write_figures

    require_matplotlib()  # before scoring: the install line comes first when it is missing
    scored = read_runs(runs, judge=judge_model, bootstrap=bootstrap, seed=bootstrap_seed)
    for path in write_figures(scored, folder, fmt, with_published=with_published):
        click.echo(f"wrote {path}")
