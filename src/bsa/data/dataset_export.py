"""Write items back out as CSV, JSONL or Parquet in the upstream column layout.

The columns are exactly the upstream ones (``id, query, risk_summary, dataset_name, label``), so an
export loads back through :func:`bsa.data.dataset.load_dataset` with the same content hash: the official
items re-exported in any format are still recognised as the official release.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from bsa.data.dataset import COLUMNS
from bsa.data.items import Item
from bsa.errors import BsaError, MissingExtraError
from bsa.output.files import binary_output, text_output

EXPORT_FORMATS = ("csv", "jsonl", "parquet")


def export_items(items: Iterable[Item], output: Path, fmt: str) -> int:
    """Write ``items`` to ``output`` atomically (no half-written file on failure), or to standard
    output for ``-``; return the count."""
    writers: dict[str, Callable[[list[dict[str, str]], Path], None]] = {
        "csv": _write_csv,
        "jsonl": _write_jsonl,
        "parquet": _write_parquet,
    }
    if fmt not in writers:
        raise BsaError(
            f"unknown export format {fmt!r} (expected one of: {', '.join(EXPORT_FORMATS)})"
        )
    records = [item.as_record() for item in items]
    writers[fmt](records, output)
    return len(records)


def _write_csv(records: list[dict[str, str]], path: Path) -> None:
    with text_output(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def _write_jsonl(records: list[dict[str, str]], path: Path) -> None:
    with text_output(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_parquet(records: list[dict[str, str]], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise MissingExtraError("writing Parquet files", "parquet") from error
    schema = pa.schema([(column, pa.string()) for column in COLUMNS])
    with binary_output(path, "Parquet") as handle:
        pq.write_table(pa.Table.from_pylist(records, schema=schema), handle)
