"""``bsa data``: inspect, export, describe and fetch the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bsa.benchmark import BSA_V1
from bsa.cli.common import dataset_options, handle_errors, load_selected, tell_written
from bsa.cli.params import OutputFile
from bsa.data import sources
from bsa.data.dataset import Dataset, load_dataset
from bsa.data.dataset_export import EXPORT_FORMATS, export_items
from bsa.data.stats import DatasetStats, dataset_stats
from bsa.output.files import describe
from bsa.output.terminal import safe_line, terminal_json


@click.group()
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
        payload = {"source": dataset.source.as_json(), **stats.as_json()}
        click.echo(terminal_json(payload))
        return
    _print_stats(stats, dataset)


def _print_stats(stats: DatasetStats, dataset: Dataset) -> None:
    console = Console(highlight=False)
    official = "official release" if dataset.source.official else "not the official release"
    location = safe_line(dataset.source.location)
    console.print(f"{location} ({official}): {stats.items} items", markup=False)
    scenarios = Table("scenario", "code", "items", title="Items per scenario")
    for scenario, count in stats.items_by_scenario.items():
        scenarios.add_row(scenario.value, scenario.code, str(count))
    console.print(scenarios)
    console.print(_category_table(stats))
    subs = Table(
        "category",
        "sub-category",
        *(s.code for s in BSA_V1.scenarios),
        "total",
        title="Sub-categories per scenario",
    )
    for (primary, sub), by_scenario in stats.subcategory_counts.items():
        counts = [str(by_scenario[s]) for s in BSA_V1.scenarios]
        subs.add_row(primary, sub, *counts, str(sum(by_scenario.values())))
    console.print(subs)


def _category_table(stats: DatasetStats) -> Table:
    """Shares of the risk classifications; on the full set, the website's figure beside each
    share it shows differently (see bsa.data.stats.WEBSITE_SHARES)."""
    website = stats.website_shares()
    columns = ["primary category", "classifications", "share %"] + (
        ["website %"] if website else []
    )
    table = Table(*columns, title=f"Risk classifications ({stats.classifications})")
    if website:
        table.caption = "website %: the BSA website's figure where it differs from the file's count"
    for category, count in stats.category_counts.items():
        cells = [category, str(count), str(stats.category_share(category))]
        table.add_row(*cells, *([str(website.get(category, ""))] if website else []))
    return table


@data.command("export")
@dataset_options
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True, help="File format."
)
@click.option("-o", "--output", type=OutputFile(), required=True, help="File, or - for stdout.")
@handle_errors
def data_export(fmt: str, output: Path, **selection: Any) -> None:
    """Write the selected items in the upstream columns (id, query, risk_summary, dataset_name,
    label)."""
    dataset = load_selected(**selection)
    count = export_items(dataset.items, output, fmt)
    tell_written(output, f"wrote {count} items to {describe(output)}")


@data.command("croissant")
@click.option(
    "--dataset",
    "dataset_spec",
    type=click.Path(path_type=Path),
    help="Describe this file instead of the official release.",
)
@click.option("--content-url", help="URL or path that the metadata names for the file.")
@click.option("-o", "--output", type=OutputFile(), required=True, help="File, or - for stdout.")
@handle_errors
def data_croissant(dataset_spec: Path | None, content_url: str | None, output: Path) -> None:
    """Croissant 1.0 JSON-LD metadata for the dataset file (validates with mlcroissant)."""
    from bsa.data.croissant import write_croissant

    path = dataset_spec or sources.resolve(sources.DATASET).path
    load_dataset(path)  # refuse to describe a file that is not a valid BSA dataset
    write_croissant(path, output, content_url=content_url)
    tell_written(output, f"wrote Croissant metadata for {path} to {describe(output)}")


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
