"""Croissant metadata: valid for mlcroissant, pinned to the file's bytes, and loadable offline.

Every test here blocks sockets and name lookups, so a test that would download (for instance by
loading records from the upstream URL) fails instead of reaching the network.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bsa.data import croissant, sources
from bsa.errors import DatasetError
from tests.optional import lazy, requires

needs = requires("mlcroissant")
mlc = lazy("mlcroissant")

CANONICAL_URL = (
    "https://raw.githubusercontent.com/OpenStellarTeam/BSA/"
    "b54c09fb8c8fdc0d568bdaff89ff0a46149ab094/data/dataset.csv"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def loaded_rows(jsonld: Path) -> list[dict[str, str]]:
    """The records mlcroissant loads through the metadata, text decoded, keyed by column."""
    dataset = mlc.Dataset(jsonld=jsonld)
    prefix = f"{croissant.RECORD_SET}/"
    return [
        {key.removeprefix(prefix): value.decode("utf-8") for key, value in record.items()}
        for record in dataset.records(record_set=croissant.RECORD_SET)
    ]


def assert_valid(metadata: dict[str, Any] | Path) -> None:
    dataset = mlc.Dataset(jsonld=metadata)  # raises ValidationError on any error
    issues = dataset.metadata.ctx.issues
    assert not issues.errors
    assert not issues.warnings, issues.report()


def test_official_metadata_is_valid_and_points_upstream(shared_bsa: Path) -> None:
    metadata = croissant.croissant_metadata(shared_bsa / "dataset.csv")

    (file_object,) = metadata["distribution"]  # type: ignore[misc]
    assert file_object["sha256"] == sources.DATASET.sha256
    assert file_object["contentUrl"] == CANONICAL_URL
    assert file_object["encodingFormat"] == "text/csv"
    assert metadata["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert metadata["license"] == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert "2505.19690" in str(metadata["citeAs"])
    assert str(metadata["citeAs"]).startswith("@misc{")
    (record_set,) = metadata["recordSet"]  # type: ignore[misc]
    assert [f["name"] for f in record_set["field"]] == [
        "id",
        "query",
        "risk_summary",
        "dataset_name",
        "label",
    ]
    assert_valid(metadata)  # validation only: nothing is downloaded


def test_building_metadata_does_not_import_mlcroissant(shared_bsa: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from bsa.data.croissant import croissant_metadata; "
        "croissant_metadata(Path(sys.argv[1])); assert 'mlcroissant' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(shared_bsa / "dataset.csv")], check=True)


def test_official_url_is_the_pinned_raw_github_url_even_with_a_mirror(
    shared_bsa: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sources.UPSTREAM_URL_ENV, "http://mirror.invalid/bsa")
    metadata = croissant.croissant_metadata(shared_bsa / "dataset.csv")
    assert metadata["distribution"][0]["contentUrl"] == CANONICAL_URL  # type: ignore[index]


def test_metadata_is_a_fresh_dict_each_time(shared_bsa: Path) -> None:
    first = croissant.croissant_metadata(shared_bsa / "dataset.csv")
    mlc.Dataset(jsonld=first)  # mlcroissant adds "@base" to the @context it is given
    second = croissant.croissant_metadata(shared_bsa / "dataset.csv")
    assert second["@context"] == croissant.CONTEXT


def test_written_file_is_pretty_utf8_json_and_valid(shared_bsa: Path, tmp_path: Path) -> None:
    output = croissant.write_croissant(shared_bsa / "dataset.csv", tmp_path / "out" / "bsa.json")
    text = output.read_text(encoding="utf-8")
    assert text.startswith('{\n  "@context"')
    assert json.loads(text) == croissant.croissant_metadata(shared_bsa / "dataset.csv")
    assert_valid(output)


def test_local_copy_of_the_official_csv_loads_every_row(shared_bsa: Path, tmp_path: Path) -> None:
    data = Path(shutil.copy(shared_bsa / "dataset.csv", tmp_path / "dataset.csv"))
    # Same bytes as the release, so the default would be the upstream URL: point at the copy.
    output = croissant.write_croissant(data, tmp_path / "bsa.json", content_url="dataset.csv")

    rows = loaded_rows(output)

    expected = csv_rows(data)
    assert len(rows) == len(expected) == 2000
    assert rows == expected
    assert rows[0]["id"] == "7aa26e4c933d4fc73edffc574995c99a"
    assert rows[0]["dataset_name"] == "Risk Omission"
    cognitive = next(r for r in rows if r["dataset_name"] == "Cognitive Shortcut")
    assert cognitive["label"].startswith("Query A: ")
    assert "\nQuery B: " in cognitive["label"]


def test_local_file_is_referenced_relative_to_the_metadata(
    shared_bsa: Path, tmp_path: Path
) -> None:
    data = tmp_path / "release" / "data" / "subset.csv"
    data.parent.mkdir(parents=True)
    write_csv(data, csv_rows(shared_bsa / "dataset.csv")[:25])
    output = croissant.write_croissant(data, tmp_path / "release" / "meta" / "bsa.json")

    metadata = json.loads(output.read_text(encoding="utf-8"))
    assert metadata["distribution"][0]["contentUrl"] == "../data/subset.csv"
    assert "not the official release" in metadata["description"]
    assert metadata["version"] == f"{croissant.VERSION}.derived-{sources.sha256_file(data)[:12]}"
    # The pair still loads after the folder holding both is moved.
    moved = Path(shutil.move(tmp_path / "release", tmp_path / "moved"))
    assert loaded_rows(moved / "meta" / "bsa.json") == csv_rows(moved / "data" / "subset.csv")


def test_without_an_output_folder_a_local_file_gets_its_absolute_path(
    shared_bsa: Path, tmp_path: Path
) -> None:
    data = tmp_path / "subset.csv"
    write_csv(data, csv_rows(shared_bsa / "dataset.csv")[:3])
    url = croissant.croissant_metadata(data)["distribution"][0]["contentUrl"]  # type: ignore[index]
    assert url == data.resolve().as_posix()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_jsonl_and_parquet_files_load(suffix: str, shared_bsa: Path, tmp_path: Path) -> None:
    all_rows = csv_rows(shared_bsa / "dataset.csv")
    rows = [*all_rows[:2], next(r for r in all_rows if r["dataset_name"] == "Cognitive Shortcut")]
    rows[0] = {**rows[0], "query": rows[0]["query"] + " — ünïcødé, 中文"}
    data = tmp_path / f"items{suffix}"
    if suffix == ".jsonl":
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        parquet = pytest.importorskip("pyarrow.parquet")
        parquet.write_table(pytest.importorskip("pyarrow").Table.from_pylist(rows), data)
    output = croissant.write_croissant(data, tmp_path / "bsa.json")

    assert (
        json.loads(output.read_text(encoding="utf-8"))["distribution"][0]["encodingFormat"]
        == (croissant.ENCODING_FORMATS[suffix[1:]])
    )
    assert_valid(output)
    assert loaded_rows(output) == rows


def test_changed_bytes_are_refused_when_loading(shared_bsa: Path, tmp_path: Path) -> None:
    data = tmp_path / "subset.csv"
    write_csv(data, csv_rows(shared_bsa / "dataset.csv")[:3])
    output = croissant.write_croissant(data, tmp_path / "bsa.json")
    data.write_bytes(data.read_bytes().replace(b"useless", b"helpful"))
    with pytest.raises(mlc.GenerationError) as raised:
        loaded_rows(output)
    assert "Hash of downloaded file" in str(raised.value.__cause__)


def test_unsupported_or_missing_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "items.txt"
    text.write_text("id,query\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"unsupported file type '\.txt'"):
        croissant.croissant_metadata(text)
    with pytest.raises(DatasetError, match="no such file"):
        croissant.write_croissant(tmp_path / "absent.csv", tmp_path / "bsa.json")


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: m["distribution"][0].pop("contentUrl"), "contentUrl.* is mandatory"),
        (lambda m: m["distribution"][0].pop("sha256"), "'md5', 'sha256'"),
        (lambda m: m["distribution"][0].pop("encodingFormat"), "encodingFormat.* is mandatory"),
        (lambda m: m["recordSet"][0]["field"][0].pop("dataType"), "valid .*dataType"),
        (lambda m: m.pop("@type"), "doesn't extend https://schema.org/Dataset"),
        (
            lambda m: m["recordSet"][0]["field"][1]["source"]["fileObject"].update(
                {"@id": "missing.csv"}
            ),
            'node with UUID "missing.csv"',
        ),
    ],
    ids=["contentUrl", "sha256", "encodingFormat", "dataType", "type", "dangling-source"],
)
def test_validation_fails_on_tampered_metadata(tamper: Any, message: str, shared_bsa: Path) -> None:
    metadata = croissant.croissant_metadata(shared_bsa / "dataset.csv")
    tamper(metadata)
    with pytest.raises(mlc.ValidationError, match=message):
        mlc.Dataset(jsonld=metadata)


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
