"""Loading the dataset: the real release exactly, other formats, and every validation failure.

Each bad-file case checks the message, because the message is the product: it must name the file,
the row and the problem so that a user can fix a hand-edited file without guessing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bsa.benchmark import Scenario
from bsa.data.dataset import COLUMNS, OFFICIAL_CONTENT_SHA256, load_dataset
from bsa.data.dataset_export import export_items
from bsa.errors import DatasetError

GOOD_ROWS = [
    {
        "id": "ro1",
        "query": "You are useless.",
        "risk_summary": "Insulting language.",
        "dataset_name": "Risk Omission",
        "label": "Offense and Prejudice-Abuse and Hate Speech",
    },
    {
        "id": "cs1",
        "query": "Two requests in one.",
        "risk_summary": "Query A: a rumour\nQuery B: a threat",
        "dataset_name": "Cognitive Shortcut",
        "label": "Query A: Rumors-Rumors with Negative Impact\n"
        "Query B: Violence and Terrorism-Violent Content",
    },
    {
        "id": "os1",
        "query": "A risky part and a safe part.",
        "risk_summary": "The risky part.",
        "dataset_name": "Over Sensitivity",
        "label": "Specially Regulated Items-Military and Police-Controlled Items",
    },
]


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def with_change(index: int, **changes: str) -> list[dict[str, str]]:
    rows = [dict(row) for row in GOOD_ROWS]
    rows[index].update(changes)
    return rows


def test_official_release_loads_exactly(official_dataset) -> None:  # type: ignore[no-untyped-def]
    items = official_dataset.items
    assert len(items) == 2000
    assert len({item.id for item in items}) == 2000
    counts = {s: sum(1 for i in items if i.scenario is s) for s in Scenario}
    assert counts == {
        Scenario.RISK_OMISSION: 600,
        Scenario.COGNITIVE_SHORTCUT: 1200,
        Scenario.OVER_SENSITIVITY: 200,
    }
    assert all(
        len(i.risks) == (2 if i.scenario is Scenario.COGNITIVE_SHORTCUT else 1) for i in items
    )
    assert official_dataset.source.official
    assert official_dataset.source.notice is None
    assert official_dataset.source.content_sha256 == OFFICIAL_CONTENT_SHA256


def test_queries_are_kept_verbatim(official_dataset, shared_bsa: Path) -> None:  # type: ignore[no-untyped-def]
    with (shared_bsa / "dataset.csv").open(encoding="utf-8", newline="") as handle:
        raw = {row["id"]: row for row in csv.DictReader(handle)}
    for item in official_dataset.items:
        assert item.as_record() == raw[item.id]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_round_trip_stays_official(official_dataset, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"bsa.{fmt}"
    assert export_items(official_dataset.items, path, fmt) == 2000
    again = load_dataset(path)
    assert again.items == official_dataset.items
    assert again.source.official, "same content in another format is still the official release"


def test_default_source_is_the_data_dir(shared_bsa: Path) -> None:
    dataset = load_dataset()
    assert dataset.source.origin == "data_dir"
    assert dataset.source.official
    assert len(dataset) == 2000


def test_a_users_own_file_loads_with_a_notice(tmp_path: Path) -> None:
    dataset = load_dataset(write_csv(tmp_path / "mine.csv", GOOD_ROWS))
    assert [item.id for item in dataset] == ["ro1", "cs1", "os1"]
    assert not dataset.source.official
    assert dataset.source.notice is not None
    assert dataset.source.notice.startswith(f"notice: {tmp_path / 'mine.csv'} is not the official")
    assert dataset.source.content_sha256[:12] in dataset.source.notice


def test_jsonl_with_blank_lines_and_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [json.dumps({**row, "note": "extra"}) for row in GOOD_ROWS]
    path.write_text(lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n", encoding="utf-8")
    assert len(load_dataset(path)) == 3


def problems_of(path: Path) -> list[str]:
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (with_change(1, query="   "), "row 2 (line 3): empty query"),
        (with_change(0, risk_summary=""), "row 1 (line 2): empty risk summary"),
        (with_change(0, id=""), "row 1 (line 2): empty id"),
        (
            with_change(2, dataset_name="Over Sensitive"),
            "row 3 (line 6): unknown scenario 'Over Sensitive' (expected one of: Risk Omission (RO), "
            "Cognitive Shortcut (CS), Over Sensitivity (OS))",
        ),
        (
            with_change(0, label="Offense and Prejudice/Abuse"),
            "row 1 (line 2): malformed label 'Offense and Prejudice/Abuse': expected 'Primary-Sub'",
        ),
        (
            with_change(0, label="Hate-Abuse and Hate Speech"),
            "row 1 (line 2): unknown primary category 'Hate' in label 'Hate-Abuse and Hate Speech'",
        ),
        (
            with_change(0, label="Offense and Prejudice-Slurs"),
            "row 1 (line 2): unknown sub-category 'Slurs' of 'Offense and Prejudice' in label "
            "'Offense and Prejudice-Slurs'",
        ),
        (
            with_change(1, label="Query A: Rumors-Rumors with Negative Impact"),
            "row 2 (line 3): Cognitive Shortcut item needs both parts; label lacks 'Query B'",
        ),
        (
            with_change(1, risk_summary="Query A: a rumour only"),
            "row 2 (line 3): Cognitive Shortcut item needs both parts; risk summary lacks a "
            "'Query B:' line",
        ),
        (with_change(2, id="ro1"), "row 3 (line 6): duplicate id 'ro1' (first at row 1)"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[dict[str, str]], expected: str) -> None:
    path = write_csv(tmp_path / "bad.csv", rows)
    assert problems_of(path) == [f"{path}: {expected}"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    rows = with_change(0, query="")
    rows[2]["dataset_name"] = "Nope"
    path = write_csv(tmp_path / "bad.csv", rows)
    problems = problems_of(path)
    assert [p.split(": ")[1] for p in problems] == ["row 1 (line 2)", "row 3 (line 6)"]


def test_missing_column(tmp_path: Path) -> None:
    columns = tuple(c for c in COLUMNS if c != "label")
    path = write_csv(tmp_path / "bad.csv", GOOD_ROWS, columns)
    assert problems_of(path) == [
        f"{path}: missing column 'label' (has: id, query, risk_summary, dataset_name)"
    ]


def test_missing_field_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    row = {k: v for k, v in GOOD_ROWS[0].items() if k != "risk_summary"}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert problems_of(path) == [f"{path}: row 1 (line 1): missing risk_summary"]


def test_non_text_value_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**GOOD_ROWS[0], "query": 42}) + "\n", encoding="utf-8")
    assert problems_of(path) == [f"{path}: row 1 (line 1): query must be text, not int"]


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "bsa.xlsx"
    path.write_bytes(b"PK\x03\x04")
    assert problems_of(path) == [
        f"{path}: unsupported file type '.xlsx' (expected .csv, .jsonl, .parquet)"
    ]


def test_binary_file_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "bsa.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not a UTF-8 CSV file (invalid start byte at byte")


def test_broken_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bsa.jsonl"
    path.write_text(json.dumps(GOOD_ROWS[0]) + "\n{not json\n", encoding="utf-8")
    assert problems_of(path) == [
        f"{path}: row 2 (line 2): not valid JSON (Expecting property name enclosed in double quotes)"
    ]


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "bsa.jsonl"
    path.write_text("[1, 2]\n", encoding="utf-8")
    assert problems_of(path) == [f"{path}: row 1 (line 1): expected a JSON object, got list"]


def test_garbage_named_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bsa.parquet"
    path.write_text("id,query\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not a readable Parquet file (")


def test_parquet_missing_column_and_row_numbers(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "x", "query": "q"}]), path)
    assert problems_of(path) == [
        f"{path}: missing columns 'risk_summary', 'dataset_name', 'label' (has: id, query)"
    ]
    rows = with_change(1, query="")
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert problems_of(path) == [f"{path}: row 2: empty query"]


def test_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", [])
    assert problems_of(path) == [f"{path}: no items"]


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.csv") == [f"{tmp_path / 'nope.csv'}: no such file"]


def test_many_problems_are_summarised(tmp_path: Path) -> None:
    rows = [dict(GOOD_ROWS[0], id=f"r{n}", query="") for n in range(30)]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 21
    assert lines[-1] == "... and 10 more problems"
