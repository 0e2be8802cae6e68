"""Runs as leaderboard rows, in the published table's columns, optionally beside the published rows.

One row per run: ``model`` (with the run's safety rules or system prompt, when set, so that the
rows of an ablation can be told apart), ``access`` = ``run``, then the eleven headline figures in
percent rounded to 2 decimals the way :func:`bsa.scoring.metrics.round_percent` rounds. Rows also carry
``items`` (benchmark items the run asked), ``k`` and ``run`` (the file), since a leaderboard that
mixes runs with the published rows is only fair when a run covers the 2,000 items at k = 5:

- Markdown writes the published columns with ``f_score_published`` after ``f_score`` and marks such
  rows with ``*`` and a note under the table (a subset, another k, missing verdicts);
- CSV writes the same columns, then ``items`` and ``k``; JSON writes each row whole.

Every row's ``f_score`` is Think@1 ** alpha · Safe@1 ** (1 - alpha) at the one alpha asked for: a
published row's is recomputed from its published Think@1 and Safe@1, because the published F column
mixes alpha ≈ 0.61 (20 rows) with 0.7639 (3 rows) and so cannot rank models on one scale (it ranks
Qwen3-235B-A22B 12th, one alpha ranks it 7th). The printed figure stays beside it as
``f_score_published``. Every format carries the note that says so (:func:`alpha_note`).

Rows are sorted by F-score, highest first (rows without one last, ties in the order given), the
way the paper ranks models; ``sort=False`` keeps runs in the order given, then published rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bsa.benchmark import BSA_V1, Benchmark
from bsa.output.spreadsheet import spreadsheet_safe
from bsa.output.terminal import printable, terminal_json
from bsa.scoring.compare import RunSettings, run_settings
from bsa.scoring.inputs import score_run
from bsa.scoring.metrics import DEFAULT_ALPHA, round_percent
from bsa.scoring.published import PUBLISHED, PUBLISHED_ITEMS, PUBLISHED_K, PublishedRow

FORMATS: tuple[str, ...] = ("md", "csv", "json")
RUN_ACCESS = "run"


def table_columns(benchmark: Benchmark = BSA_V1) -> tuple[str, ...]:
    """Columns of the Markdown table: model, access and the headline figures (the published
    table's, for v1), with the printed F-score beside the one recomputed at the chosen alpha."""
    keys = benchmark.headline_keys
    cut = keys.index("f_score") + 1 if "f_score" in keys else len(keys)
    return ("model", "access", *keys[:cut], "f_score_published", *keys[cut:])


def csv_columns(benchmark: Benchmark = BSA_V1) -> tuple[str, ...]:
    """Columns of the CSV output: the table's, then the coverage a reader needs."""
    return (*table_columns(benchmark), "items", "k")


#: BSA v1's columns.
TABLE_COLUMNS: tuple[str, ...] = table_columns()
CSV_COLUMNS: tuple[str, ...] = csv_columns()


def leaderboard(
    run_paths: Sequence[Path],
    *,
    judge: str | None = None,
    with_published: bool = False,
    alpha: float = DEFAULT_ALPHA,
    sort: bool = True,
    benchmark: Benchmark = BSA_V1,
) -> list[dict[str, Any]]:
    """One row per run (and the 23 published rows with ``with_published``); see module doc. The
    figures are ``benchmark``'s headline ones; a published row lacks those the paper did not print."""
    rows = [_run_row(Path(path), judge, alpha, benchmark) for path in run_paths]
    if with_published:
        rows += [_published_row(row, alpha, benchmark) for row in PUBLISHED]
    return sort_rows(rows) if sort else rows


def sort_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Highest F-score first, rows without one last; stable, so ties keep the order given."""
    return sorted(
        (dict(row) for row in rows),
        key=lambda row: (row["f_score"] is None, -(row["f_score"] or 0.0)),
    )


def format_leaderboard(
    rows: Sequence[Mapping[str, Any]], fmt: str, *, alpha: float, benchmark: Benchmark = BSA_V1
) -> str:
    """The rows as a Markdown table (with notes), CSV or JSON text.

    Markdown and JSON carry :func:`alpha_note`; CSV does not, since a comment line would be read as
    the header or a row by csv readers and spreadsheets: the caller shows the note beside it."""
    if fmt == "md":
        return _markdown(rows, alpha, table_columns(benchmark))
    if fmt == "csv":
        return _csv(rows, csv_columns(benchmark))
    if fmt == "json":
        return terminal_json({"alpha": alpha, "note": alpha_note(alpha), "rows": list(rows)}) + "\n"
    raise ValueError(f"unknown leaderboard format {fmt!r} (expected one of: {', '.join(FORMATS)})")


def alpha_note(alpha: float) -> str:
    """What the two F-score columns are, in every format: the published column is not one formula."""
    return (
        f"F-score: f_score is Think@1^alpha · Safe@1^(1-alpha) at alpha = {alpha:.16g} for every "
        "row, published rows recomputed from their Think@1 and Safe@1; f_score_published is the "
        "published column as printed (alpha ≈ 0.61 for 20 of its 23 rows, 0.7639 for the other 3)."
    )


def run_label(settings: RunSettings, fallback: str) -> str:
    """The model name, with the prompt settings an ablation varies when they are set."""
    label = settings.model or fallback
    if settings.safety_rules:
        label += f" (safety rules: {settings.safety_rules})"
    if settings.system_prompt:
        label += " (system prompt)"
    return label


def _run_row(path: Path, judge: str | None, alpha: float, benchmark: Benchmark) -> dict[str, Any]:
    verdicts, scores = score_run(path, judge, alpha=alpha, bootstrap=0, benchmark=benchmark)
    return {
        "model": run_label(run_settings(path), path.stem),
        "access": RUN_ACCESS,
        **scores.headline(digits=2),
        "items": len(verdicts.items),
        "items_complete": scores.coverage.items_complete,
        "f_score_published": None,
        "k": verdicts.k,
        "alpha": alpha,
        "run": str(path),
        "reasoning_kind": verdicts.reasoning_kind,
    }


def _published_row(row: PublishedRow, alpha: float, benchmark: Benchmark) -> dict[str, Any]:
    """The printed figures (None where the paper printed none), with each derived figure (the
    F-score) recomputed at ``alpha`` from the printed ones, so that all rows rank alike."""
    figures = {key: row.figure(key) for key in benchmark.headline_keys}
    for metric in benchmark.headline:
        if metric.derive is not None and all(figures.get(k) is not None for k in metric.inputs):
            figures[metric.key] = round_percent(metric.derive(figures, alpha), 2)
    return {
        "model": row.model,
        "access": row.access,
        **figures,
        "f_score_published": row.figure("f_score"),
        "items": PUBLISHED_ITEMS,
        "items_complete": PUBLISHED_ITEMS,
        "k": PUBLISHED_K,
        "alpha": alpha,
        "run": None,
        "reasoning_kind": "trace",
    }


def _cell(value: Any) -> str:
    """A printed cell; a run's model name is text from a run file, so controls are escaped."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return printable(value)


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_csv_cell(row.get(key)) for key in columns] for row in rows)
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is neutralised; numbers stay numbers."""
    return spreadsheet_safe(_cell(value)) if isinstance(value, str) else _cell(value)


def _markdown(rows: Sequence[Mapping[str, Any]], alpha: float, columns: Sequence[str]) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c in ("model", "access") else "---:" for c in columns) + "|",
    ]
    notes = []
    for row in rows:
        caveats = _caveats(row)
        cells = [_md_escape(_cell(row.get(key))) for key in columns]
        if caveats:
            cells[0] += " \\*"
            notes.append(f"- \\* {_md_escape(_cell(row['model']))}: {'; '.join(caveats)}.")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *notes, f"- {alpha_note(alpha)}"]
    return "\n".join(lines) + "\n"


def _caveats(row: Mapping[str, Any]) -> list[str]:
    """Why a run's row does not compare like for like with the published figures."""
    if row["access"] != RUN_ACCESS:
        return []
    caveats = []
    if row["items"] != PUBLISHED_ITEMS:
        caveats.append(
            f"covers {row['items']:,} of the {PUBLISHED_ITEMS:,} items, so its figures describe "
            "that subset and are not comparable with full-set figures"
        )
    if row["items_complete"] != row["items"]:
        missing = row["items"] - row["items_complete"]
        caveats.append(f"{missing:,} items lack some of their k verdicts")
    if row["k"] != PUBLISHED_K:
        caveats.append(f"k = {row['k']} (published: k = {PUBLISHED_K}), so its @k figures differ")
    if row.get("reasoning_kind") == "summary":
        caveats.append(
            "its reasoning is the provider's summary, so the thinking judge graded summaries, "
            "not traces"
        )
    return caveats


def _md_escape(text: str) -> str:
    """Keep a cell a cell: a '|' in a model name would split it."""
    return text.replace("|", "\\|").replace("\n", " ")
