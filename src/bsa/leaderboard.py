"""Runs as leaderboard rows, in the published table's columns, optionally beside the published rows.

One row per run: ``model`` (with the run's safety rules or system prompt, when set, so that the
rows of an ablation can be told apart), ``access`` = ``run``, then the eleven headline figures in
percent rounded to 2 decimals the way :func:`bsa.metrics.round_percent` rounds. Rows also carry
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

from bsa.compare import RunSettings, run_settings
from bsa.metrics import DEFAULT_ALPHA, HEADLINE_KEYS, f_score, round_percent
from bsa.published import PUBLISHED, PUBLISHED_COLUMNS, PUBLISHED_ITEMS, PUBLISHED_K
from bsa.scoring import score_run
from bsa.spreadsheet import spreadsheet_safe
from bsa.terminal import printable, terminal_json

FORMATS: tuple[str, ...] = ("md", "csv", "json")
#: Columns of the Markdown table: the published ones, with the printed F-score beside the one
#: recomputed at the chosen alpha.
TABLE_COLUMNS: tuple[str, ...] = (
    *PUBLISHED_COLUMNS[: PUBLISHED_COLUMNS.index("f_score") + 1],
    "f_score_published",
    *PUBLISHED_COLUMNS[PUBLISHED_COLUMNS.index("f_score") + 1 :],
)
#: Columns of the CSV output: the table's, then the coverage a reader needs.
CSV_COLUMNS: tuple[str, ...] = (*TABLE_COLUMNS, "items", "k")
RUN_ACCESS = "run"


def leaderboard(
    run_paths: Sequence[Path],
    *,
    judge: str | None = None,
    with_published: bool = False,
    alpha: float = DEFAULT_ALPHA,
    sort: bool = True,
) -> list[dict[str, Any]]:
    """One row per run (and the 23 published rows with ``with_published``); see module doc."""
    rows = [_run_row(Path(path), judge, alpha) for path in run_paths]
    if with_published:
        rows += [_published_row(row.as_dict(), alpha) for row in PUBLISHED]
    return sort_rows(rows) if sort else rows


def sort_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Highest F-score first, rows without one last; stable, so ties keep the order given."""
    return sorted(
        (dict(row) for row in rows),
        key=lambda row: (row["f_score"] is None, -(row["f_score"] or 0.0)),
    )


def format_leaderboard(rows: Sequence[Mapping[str, Any]], fmt: str, *, alpha: float) -> str:
    """The rows as a Markdown table (with notes), CSV or JSON text.

    Markdown and JSON carry :func:`alpha_note`; CSV does not, since a comment line would be read as
    the header or a row by csv readers and spreadsheets: the caller shows the note beside it."""
    if fmt == "md":
        return _markdown(rows, alpha)
    if fmt == "csv":
        return _csv(rows)
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


def _run_row(path: Path, judge: str | None, alpha: float) -> dict[str, Any]:
    verdicts, scores = score_run(path, judge, alpha=alpha, bootstrap=0)
    figures = scores.headline(digits=2)
    return {
        "model": run_label(run_settings(path), path.stem),
        "access": RUN_ACCESS,
        **{key: figures[key] for key in HEADLINE_KEYS},
        "items": len(verdicts.items),
        "items_complete": scores.coverage.items_complete,
        "f_score_published": None,
        "k": verdicts.k,
        "alpha": alpha,
        "run": str(path),
        "reasoning_kind": verdicts.reasoning_kind,
    }


def _published_row(row: Mapping[str, Any], alpha: float) -> dict[str, Any]:
    """The printed figures, with the F-score recomputed at ``alpha`` so that all rows rank alike."""
    return {
        **{key: row[key] for key in PUBLISHED_COLUMNS},
        "f_score": round_percent(f_score(row["think_at_1"], row["safe_at_1"], alpha), 2),
        "f_score_published": row["f_score"],
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


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_csv_cell(row.get(key)) for key in CSV_COLUMNS] for row in rows)
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is neutralised; numbers stay numbers."""
    return spreadsheet_safe(_cell(value)) if isinstance(value, str) else _cell(value)


def _markdown(rows: Sequence[Mapping[str, Any]], alpha: float) -> str:
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---" if c in ("model", "access") else "---:" for c in TABLE_COLUMNS) + "|",
    ]
    notes = []
    for row in rows:
        caveats = _caveats(row)
        cells = [_md_escape(_cell(row.get(key))) for key in TABLE_COLUMNS]
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
