"""The ``bsa`` command: parses arguments and calls the public API, nothing more.

Errors that are the user's to fix (:class:`bsa.errors.BsaError`) print as ``error: …`` lines with no
traceback and exit 1; ``--debug`` (or ``BSA_DEBUG=1``) shows the traceback too.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

import bsa
from bsa import sources
from bsa.dataset import Dataset, load_dataset
from bsa.dataset_export import EXPORT_FORMATS, export_items
from bsa.errors import BsaError
from bsa.selection import Selection, parse_category, read_ids, select
from bsa.stats import DatasetStats, dataset_stats
from bsa.taxonomy import Scenario

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 1


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def dataset_options(command: F) -> F:
    """``--dataset`` and the selection flags, shared by every command that reads items."""
    options = [
        click.option(
            "--dataset",
            "dataset_spec",
            metavar="PATH|hf:REPO[@REV]",
            help="Dataset file (CSV, JSONL, Parquet) or Hugging Face dataset; default: "
            "the official release ($BSA_DATA_DIR, cache, or download).",
        ),
        click.option(
            "--scenario",
            "scenarios",
            multiple=True,
            metavar="NAME",
            help="Keep one scenario: RO, CS, OS or the full name. Repeatable.",
        ),
        click.option(
            "--category",
            "categories",
            multiple=True,
            metavar="NAME",
            help="Keep items with a risk in this primary or sub-category. Repeatable.",
        ),
        click.option(
            "--ids",
            "ids_file",
            type=click.Path(path_type=Path),
            metavar="FILE",
            help="Keep the ids listed in FILE, one per line.",
        ),
        click.option("--limit", type=int, metavar="N", help="Keep the first N selected items."),
        click.option(
            "--sample",
            type=int,
            metavar="N",
            help="Draw N items, stratified by scenario (see --seed).",
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_selected(
    dataset_spec: str | None,
    scenarios: tuple[str, ...],
    categories: tuple[str, ...],
    ids_file: Path | None,
    limit: int | None,
    sample: int | None,
    seed: int,
) -> Dataset:
    """Load the dataset, print its notice if it is not the official release, apply the selection."""
    try:
        chosen_scenarios = tuple(Scenario.parse(s) for s in scenarios)
    except ValueError as error:
        raise BsaError(str(error)) from error
    selection = Selection(
        scenarios=chosen_scenarios,
        categories=tuple(parse_category(c) for c in categories),
        ids=read_ids(ids_file) if ids_file else None,
        sample=sample,
        seed=seed,
        limit=limit,
    )
    dataset = load_dataset(dataset_spec)
    if dataset.source.notice:
        _stderr().print(dataset.source.notice, markup=False)
    return select(dataset, selection)


def handle_errors(command: F) -> F:
    """Turn a BsaError into one ``error:`` line per problem and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BsaError as error:
            if _debug():
                traceback.print_exc()
            for line in str(error).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper  # type: ignore[return-value]


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.params.get("debug")) or os.environ.get("BSA_DEBUG") == "1"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bsa.__version__, prog_name="bsa")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """bsa-bench: run the Beyond Safe Answers benchmark for large reasoning models."""


@main.group()
def data() -> None:
    """Inspect, export and fetch the BSA dataset and judge prompts."""


@data.command("stats")
@dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@handle_errors
def data_stats(as_json: bool, **selection: Any) -> None:
    """Items per scenario and risk-category shares, counted the website's way."""
    dataset = load_selected(**selection)
    stats = dataset_stats(dataset.items)
    if as_json:
        payload = {"source": _source_json(dataset), **stats.as_json()}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    _print_stats(stats, dataset)


def _source_json(dataset: Dataset) -> dict[str, Any]:
    source = dataset.source
    return {
        "location": source.location,
        "origin": source.origin,
        "file_sha256": source.file_sha256,
        "content_sha256": source.content_sha256,
        "official": source.official,
    }


def _print_stats(stats: DatasetStats, dataset: Dataset) -> None:
    console = Console(highlight=False)
    official = "official release" if dataset.source.official else "not the official release"
    console.print(f"{dataset.source.location} ({official}): {stats.items} items", markup=False)
    scenarios = Table("scenario", "code", "items", title="Items per scenario")
    for scenario, count in stats.items_by_scenario.items():
        scenarios.add_row(scenario.value, scenario.code, str(count))
    console.print(scenarios)
    categories = Table(
        "primary category",
        "classifications",
        "share %",
        title=f"Risk classifications ({stats.classifications})",
    )
    for category, count in stats.category_counts.items():
        categories.add_row(category, str(count), str(stats.category_share(category)))
    console.print(categories)
    subs = Table(
        "category",
        "sub-category",
        *(s.code for s in Scenario),
        "total",
        title="Sub-categories per scenario",
    )
    for (primary, sub), by_scenario in stats.subcategory_counts.items():
        counts = [str(by_scenario[s]) for s in Scenario]
        subs.add_row(primary, sub, *counts, str(sum(by_scenario.values())))
    console.print(subs)


@data.command("export")
@dataset_options
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@handle_errors
def data_export(fmt: str, output: Path, **selection: Any) -> None:
    """Write the selected items in the upstream columns (id, query, risk_summary, dataset_name,
    label)."""
    dataset = load_selected(**selection)
    count = export_items(dataset.items, output, fmt)
    click.echo(f"wrote {count} items to {output}")


@data.command("croissant")
@click.option(
    "--dataset",
    "dataset_spec",
    type=click.Path(path_type=Path),
    help="Describe this file instead of the official release.",
)
@click.option("--content-url", help="URL or path that the metadata names for the file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@handle_errors
def data_croissant(dataset_spec: Path | None, content_url: str | None, output: Path) -> None:
    """Croissant 1.0 JSON-LD metadata for the dataset file (validates with mlcroissant)."""
    from bsa.croissant import write_croissant

    path = dataset_spec or sources.resolve(sources.DATASET).path
    load_dataset(path)  # refuse to describe a file that is not a valid BSA dataset
    write_croissant(path, output, content_url=content_url)
    click.echo(f"wrote Croissant metadata for {path} to {output}")


@data.command("download")
@click.option("--refresh", is_flag=True, help="Download again even when the cache has the files.")
@handle_errors
def data_download(refresh: bool) -> None:
    """Fetch the dataset and judge prompts of the pinned upstream commit into the user cache."""
    table = Table("file", "from", "sha256", "path", title=f"BSA @ {sources.UPSTREAM_COMMIT[:12]}")
    for asset in sources.ASSETS:
        resolved = sources.download(asset, refresh=refresh)
        table.add_row(asset.name, resolved.origin, resolved.sha256[:12] + "…", str(resolved.path))
    Console(highlight=False).print(table)
