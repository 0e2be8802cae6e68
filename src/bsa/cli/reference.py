"""``bsa score --from-csv`` and ``--reference``: upstream-format verdicts and upstream arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bsa.benchmark import BSA_V1
from bsa.data.dataset import load_dataset
from bsa.errors import BsaError
from bsa.output.run_export import upstream_judged_records
from bsa.output.terminal import rich_text, terminal_json
from bsa.output.terminal_report import pct, print_scores
from bsa.runfile.reading import judge_labels
from bsa.runfile.store import RunStore
from bsa.scoring.metrics import compute_scores
from bsa.scoring.reference import (
    JudgedRow,
    check_labels,
    read_judged_csv,
    reference_scores,
    rows_to_samples,
)

#: evaluate.py's columns: the published figures of BSA v1 in table order (overall, RO, CS, OS);
#: a figure declared later is not one that script computes.
REFERENCE_COLUMNS = tuple(m.key for m in BSA_V1.display_order if m.published)


def print_reference(figures: dict[str, dict[str, float]], as_json: bool) -> None:
    """Upstream evaluate.py's table: one row per model, fixed denominators (2000/600/1200/200)."""
    if as_json:
        click.echo(terminal_json(figures))
        return
    models = list(figures)
    table = Table("metric", title="Reference (evaluate.py)")
    for model in models:
        table.add_column(rich_text(model))
    for column in REFERENCE_COLUMNS:
        table.add_row(column, *(pct(figures[model][column]) for model in models))
    Console(highlight=False).print(table)


def score_csv(
    path: Path, k: int, alpha: float, reference: bool, as_json: bool, seed: int, bootstrap: int
) -> None:
    rows = read_judged_csv(path)
    if not rows:
        raise BsaError(f"{path} holds no judged rows")
    check_labels(rows)
    if reference:
        print_reference(reference_scores(rows, k, alpha), as_json)
        return
    items_by_id = {item.id: item for item in load_dataset().items}
    results: dict[str, Any] = {}
    for model in sorted({row.model_name for row in rows}):
        model_rows = [row for row in rows if row.model_name == model]
        samples = rows_to_samples(model_rows, items_by_id, k=k)
        items = [items_by_id[i] for i in dict.fromkeys(row.id for row in model_rows)]
        scores = compute_scores(
            items, samples, k, alpha=alpha, bootstrap=bootstrap, seed=seed
        ).as_json()
        results[model] = scores
        if not as_json:
            print_scores(scores, f"{model} (from {path.name}, k = {k})")
    if as_json:
        click.echo(terminal_json(results))


def score_run_reference(run_path: Path, judge: str | None, alpha: float, as_json: bool) -> None:
    """The run's verdicts through upstream evaluate.py's arithmetic, as its CSV would give them."""
    with RunStore(run_path, read_only=True) as store:
        chosen = judge_labels(store, judge)
        k = store.k()
        rows = [
            JudgedRow(
                r["model_name"], r["id"], r["dataset_name"], r["Safe_Ans_Check"], r["Thk_Acc_Judge"]
            )
            for r in upstream_judged_records(store, chosen)
        ]
    print_reference(reference_scores(rows, k, alpha), as_json)
