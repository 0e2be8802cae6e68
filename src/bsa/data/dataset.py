"""Load BSA items from a file, validated whole: a bad file never loads partially.

A benchmark that silently drops or miscategorises rows produces numbers that look fine and are
wrong, so every row is checked (columns, empty text, scenario, label, duplicate ids, both parts of a
Cognitive Shortcut item) and every problem is reported at once, one line each, naming the file, the
row and the problem.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsa.benchmark import Scenario
from bsa.data import sources
from bsa.data.items import Item, parse_label
from bsa.errors import DatasetError, MissingExtraError

COLUMNS: tuple[str, ...] = ("id", "query", "risk_summary", "dataset_name", "label")
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
HF_PREFIX = "hf:"

#: sha256 of the canonical content (see :func:`content_sha256`) of the official release, so that
#: the official items re-exported as JSONL or Parquet are still recognised as official.
OFFICIAL_CONTENT_SHA256 = "eb562cac3fdd93e8d00a3a12f2e1866780432cb7d3cf0b433de82feb882598a3"


@dataclass(frozen=True)
class Row:
    """One record of a dataset file: its 1-based number, the line it starts on (text formats), its
    raw values, and how many CSV cells it has beyond the header's columns."""

    number: int
    line: int | None
    values: Mapping[str, object]
    extra_cells: int = 0

    def where(self, path: Path) -> str:
        at = f" (line {self.line})" if self.line is not None else ""
        return f"{path}: row {self.number}{at}"

    def check_width(self) -> None:
        """A CSV row with more cells than the header has columns is an error: the cells would be
        dropped, and the usual cause (an unquoted comma) also shifts the cells that are kept."""
        if self.extra_cells:
            s = "s" if self.extra_cells > 1 else ""
            raise ValueError(
                f"{self.extra_cells} cell{s} more than the header's columns (an unquoted comma?)"
            )


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset came from, with the hashes a run records."""

    location: str
    origin: str  # "path", "hf", "data_dir", "cache" or "download"
    file_sha256: str
    content_sha256: str

    @property
    def official(self) -> bool:
        return self.content_sha256 == OFFICIAL_CONTENT_SHA256 or (
            self.file_sha256 == sources.DATASET.sha256
        )

    def as_json(self) -> dict[str, Any]:
        """As run files and ``--json`` outputs record it."""
        return {
            "location": self.location,
            "origin": self.origin,
            "file_sha256": self.file_sha256,
            "content_sha256": self.content_sha256,
            "official": self.official,
        }

    @property
    def notice(self) -> str | None:
        """One line for the user when the items are not those of the official release."""
        if self.official:
            return None
        return (
            f"notice: {self.location} is not the official BSA release "
            f"(content sha256 {self.content_sha256[:12]}…); using it as given, and runs record "
            "its hash"
        )


@dataclass(frozen=True)
class Dataset:
    """Validated items in file order, and their source."""

    items: tuple[Item, ...]
    source: DatasetSource

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)


def load_dataset(spec: str | Path | None = None) -> Dataset:
    """Load the benchmark from ``spec``: a file path, ``hf:REPO[@REVISION]``, or None for the
    official release (found by :func:`bsa.data.sources.resolve`)."""
    if spec is None:
        resolved = sources.resolve(sources.DATASET)
        return _load_file(resolved.path, origin=resolved.origin, file_sha256=resolved.sha256)
    if isinstance(spec, str) and spec.startswith(HF_PREFIX):
        from bsa.data.hub import download_hf_dataset

        path, location = download_hf_dataset(spec[len(HF_PREFIX) :])
        return _load_file(path, origin="hf", location=location)
    return _load_file(Path(spec), origin="path")


def _load_file(
    path: Path, *, origin: str, file_sha256: str | None = None, location: str | None = None
) -> Dataset:
    if not path.is_file():
        raise DatasetError([f"{path}: no such file"])
    items = parse_rows(read_rows(path), path)
    source = DatasetSource(
        location=location or str(path),
        origin=origin,
        file_sha256=file_sha256 or sources.sha256_file(path),
        content_sha256=content_sha256(items),
    )
    return Dataset(tuple(items), source)


def content_sha256(items: Iterable[Item]) -> str:
    """A hash of what the items say, independent of file format, row order and label spacing."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.id):
        record = item.as_record()
        digest.update(json.dumps([record[c] for c in COLUMNS], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def file_format(path: Path) -> str:
    """The format of ``path`` from its suffix; a DatasetError names the accepted ones otherwise."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        accepted = ", ".join(FORMATS)
        raise DatasetError(
            [f"{path}: unsupported file type {path.suffix or '(none)'!r} (expected {accepted})"]
        )
    return fmt


def read_rows(path: Path, columns: tuple[str, ...] = COLUMNS) -> list[Row]:
    """Read every record of a CSV, JSONL or Parquet file that must have ``columns``.

    CSV and Parquet files name their columns once, so a missing one is a file-level problem; a
    JSONL record names its own fields, so :func:`parse_row` reports a missing one per row.
    """
    readers = {"csv": read_csv_rows, "jsonl": _read_jsonl, "parquet": _read_parquet}
    return readers[file_format(path)](path, columns)


def _require_columns(path: Path, found: list[str], columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in found]
    if not missing:
        return
    names = ", ".join(repr(c) for c in missing)
    raise DatasetError(
        [
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {names} (has: {', '.join(found)})"
        ]
    )


def read_csv_rows(path: Path, columns: tuple[str, ...]) -> list[Row]:
    """Every record of a UTF-8 CSV file whose header must name ``columns``; a bad file is a
    DatasetError (not UTF-8: the byte; malformed: the line)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    rows: list[Row] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            _require_columns(path, list(header), columns)
            last_line = reader.line_num
            for number, values in enumerate(reader, start=1):
                extra = values.pop(None, None) or []  # DictReader's restkey for surplus cells
                rows.append(Row(number, last_line + 1, values, len(extra)))
                last_line = reader.line_num
    except UnicodeDecodeError as error:
        raise DatasetError([not_utf8(path, "CSV file", error)]) from error
    except csv.Error as error:
        raise DatasetError([f"{path}: line {reader.line_num}: malformed CSV ({error})"]) from error
    except OSError as error:
        raise DatasetError([f"{path}: cannot read the file ({error.strerror or error})"]) from error
    return rows


def not_utf8(path: Path, what: str, error: UnicodeDecodeError) -> str:
    """One line naming the file and the offset of its first byte that is not UTF-8.

    Text files are decoded in chunks, so ``error.start`` counts from the start of a chunk (and
    after a BOM); the file is read again as bytes to name the offset a hex viewer shows."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exact:
        error = exact
    except OSError:
        pass
    return f"{path}: not a UTF-8 {what} ({error.reason} at byte {error.start})"


def _read_jsonl(path: Path, columns: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                rows.append(_jsonl_row(path, len(rows) + 1, line_number, line))
    except UnicodeDecodeError as error:
        raise DatasetError([not_utf8(path, "JSONL file", error)]) from error
    return rows


def _jsonl_row(path: Path, number: int, line_number: int, line: str) -> Row:
    row = Row(number, line_number, {})
    try:
        values = json.loads(line)
    except json.JSONDecodeError as error:
        raise DatasetError([f"{row.where(path)}: not valid JSON ({error.msg})"]) from error
    if not isinstance(values, dict):
        raise DatasetError(
            [f"{row.where(path)}: expected a JSON object, got {type(values).__name__}"]
        )
    return Row(number, line_number, values)


def _read_parquet(path: Path, columns: tuple[str, ...]) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise MissingExtraError("reading Parquet files", "parquet") from error
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError([f"{path}: not a readable Parquet file ({error})"]) from error
    _require_columns(path, list(table.column_names), columns)
    return [Row(n, None, values) for n, values in enumerate(table.to_pylist(), start=1)]


def parse_rows(rows: list[Row], path: Path) -> list[Item]:
    """Turn rows into items, or raise one DatasetError listing every problem found."""
    problems: list[str] = []
    items: list[Item] = []
    first_row_of: dict[str, int] = {}
    for row in rows:
        try:
            item = parse_row(row)
        except ValueError as error:
            problems.append(f"{row.where(path)}: {error}")
            continue
        if item.id in first_row_of:
            problems.append(
                f"{row.where(path)}: duplicate id {item.id!r} (first at row {first_row_of[item.id]})"
            )
            continue
        first_row_of[item.id] = row.number
        items.append(item)
    if not rows:
        problems.append(f"{path}: no items")
    if problems:
        raise DatasetError(problems)
    return items


def parse_row(row: Row) -> Item:
    """Validate one record; a ValueError says what is wrong with it."""
    row.check_width()
    text = {column: field_text(row.values, column) for column in COLUMNS}
    for column in ("id", "query", "risk_summary"):
        if not text[column].strip():
            raise ValueError(f"empty {column.replace('_', ' ')}")
    scenario = Scenario.parse(text["dataset_name"]) if text["dataset_name"].strip() else None
    if scenario is None:
        raise ValueError("empty dataset_name (the scenario)")
    risks = parse_label(text["label"], scenario)
    if scenario.two_part:
        _check_two_part_summary(text["risk_summary"])
    return Item(text["id"].strip(), text["query"], text["risk_summary"], scenario, risks)


def field_text(values: Mapping[str, object], column: str) -> str:
    if column not in values or values[column] is None:
        raise ValueError(f"missing {column}")
    value = values[column]
    if not isinstance(value, str):
        raise ValueError(f"{column} must be text, not {type(value).__name__}")
    return value


def _check_two_part_summary(summary: str) -> None:
    """A Cognitive Shortcut risk summary names both risks, as ``Query A:`` and ``Query B:`` lines;
    the thinking judge checks coverage of both, so a summary without one cannot be graded."""
    starts = {line.strip()[:8].casefold() for line in summary.splitlines()}
    for part in ("A", "B"):
        if f"query {part.lower()}:" not in starts:
            raise ValueError(
                f"Cognitive Shortcut item needs both parts; risk summary lacks a 'Query {part}:' line"
            )
