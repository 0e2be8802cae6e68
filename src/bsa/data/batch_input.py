"""Plain prompt lists for batch calls: the upstream ``Batch_Call_LLM`` input, an ``id,question`` file.

The same generation engine runs them as runs BSA items; they only lack the annotations that judging
needs. Validation is as strict as for the dataset: a bad file never loads partially.
"""

from __future__ import annotations

from pathlib import Path

from bsa.data.dataset import field_text, read_rows
from bsa.errors import DatasetError
from bsa.runfile.store import Prompt

INPUT_COLUMNS = ("id", "question")


def read_questions(path: Path) -> list[Prompt]:
    """Prompts from a CSV, JSONL or Parquet file with ``id`` and ``question`` columns."""
    if not path.is_file():
        raise DatasetError([f"{path}: no such file"])
    problems: list[str] = []
    prompts: list[Prompt] = []
    first_row_of: dict[str, int] = {}
    for row in read_rows(path, INPUT_COLUMNS):
        try:
            row.check_width()
            item_id = field_text(row.values, "id").strip()
            question = field_text(row.values, "question")
        except ValueError as error:
            problems.append(f"{row.where(path)}: {error}")
            continue
        if not item_id or not question.strip():
            problems.append(f"{row.where(path)}: empty {'id' if not item_id else 'question'}")
        elif item_id in first_row_of:
            problems.append(
                f"{row.where(path)}: duplicate id {item_id!r} (first at row {first_row_of[item_id]})"
            )
        else:
            first_row_of[item_id] = row.number
            prompts.append(Prompt(item_id, question))
    if not prompts and not problems:
        problems.append(f"{path}: no questions")
    if problems:
        raise DatasetError(problems)
    return prompts
