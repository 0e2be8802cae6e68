"""Write items back out as CSV, JSONL or Parquet in the upstream column layout.

The columns are exactly the upstream ones (``id, query, risk_summary, dataset_name, label``), so an
export loads back through :func:`bsa.dataset.load_dataset` with the same content hash: the official
items re-exported in any format are still recognised as the official release.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bsa.dataset import COLUMNS
from bsa.errors import BsaError, MissingExtraError
from bsa.items import Item

EXPORT_FORMATS = ("csv", "jsonl", "parquet")


def export_items(items: Iterable[Item], output: Path, fmt: str) -> int:
    """Write ``items`` to ``output`` atomically (no half-written file on failure); return the count."""
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
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        dir=output.parent, prefix=f".{output.name}.", suffix=".part"
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        writers[fmt](records, tmp)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return len(records)


def _write_csv(records: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def _write_jsonl(records: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_parquet(records: list[dict[str, str]], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise MissingExtraError("writing Parquet files", "parquet") from error
    schema = pa.schema([(column, pa.string()) for column in COLUMNS])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
