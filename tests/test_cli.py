"""The ``bsa`` command as a user runs it: exit codes, one-line errors, the help of every command.
In process (CliRunner); a real process only where the test is about one: warnings at import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsa.data import sources

from .bsa_command import bsa_in_process as bsa
from .upstream_server import UpstreamServer, official_files


def test_stats_json_gives_the_published_figures() -> None:
    result = bsa("data", "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["items_by_scenario"] == {"RO": 600, "CS": 1200, "OS": 200}
    assert stats["risk_classifications"] == 3200
    shares = stats["category_shares"]
    assert shares["Offense and Prejudice"] == 22.50
    assert shares["Violence and Terrorism"] == 10.00
    assert shares["Physical and Mental Health"] == 11.53
    assert shares["Ethics and Morality"] == 9.38
    assert shares["Pornography"] == 4.75
    assert shares["Rumors"] == 5.84
    assert stats["website_shares"] == {
        "Specially Regulated Items": 12.75,
        "Property Infringement": 11.63,
        "Rumors": 5.83,
    }
    assert stats["source"]["official"] is True
    assert result.stderr == ""


def test_stats_table_and_selection() -> None:
    result = bsa("data", "stats", "--scenario", "OS", "--category", "Rumors")
    assert result.returncode == 0, result.stderr
    assert "Over Sensitivity" in result.stdout
    assert "Risk classifications" in result.stdout
    assert "website" not in result.stdout, "the website's figures describe the full set only"


def test_stats_table_shows_the_website_figure_beside_a_differing_share() -> None:
    result = bsa("data", "stats")
    assert result.returncode == 0, result.stderr
    assert re.search(r"Rumors\s*│\s*187\s*│\s*5\.84\s*│\s*5\.83\s*│", result.stdout)
    assert re.search(r"Pornography\s*│\s*152\s*│\s*4\.75\s*│\s*│", result.stdout)


def test_export_then_load_back(tmp_path: Path) -> None:
    out = tmp_path / "sample.jsonl"
    result = bsa(
        "data", "export", "--format", "jsonl", "-o", str(out), "--sample", "20", "--seed", "4"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote 20 items to {out}"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["dataset_name"] for r in rows].count("Cognitive Shortcut") == 12
    again = bsa("data", "stats", "--json", "--dataset", str(out))
    assert again.returncode == 0
    assert json.loads(again.stdout)["items"] == 20
    assert again.stderr.startswith(f"notice: {out} is not the official BSA release")
    assert len(again.stderr.splitlines()) == 1


def test_bad_dataset_is_one_line_per_problem_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,query,risk_summary,dataset_name,label\nx,,r,Risk Omission,Rumors-Rumors with Negative Impact\n",
        encoding="utf-8",
    )
    result = bsa("data", "stats", "--dataset", str(path))
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: row 1 (line 2): empty query\n"
    assert result.stdout == ""


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = bsa("--debug", "data", "stats", "--dataset", str(tmp_path / "none.csv"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith(f"error: {tmp_path / 'none.csv'}: no such file")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scenario", "XX"), "error: unknown scenario 'XX'"),
        (("--category", "Gambling"), "error: unknown category 'Gambling'"),
        (("--sample", "0"), "error: --sample must be at least 1, got 0"),
        (("--ids", "/nonexistent/ids.txt"), "error: cannot read ids file /nonexistent/ids.txt"),
    ],
)
def test_selection_errors(args: tuple[str, ...], message: str) -> None:
    result = bsa("data", "stats", *args)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert len(result.stderr.splitlines()) == 1


def test_usage_error_exits_2() -> None:
    result = bsa("data", "export", "--format", "xlsx", "-o", "x")
    assert result.returncode == 2
    assert "Invalid value for '--format'" in result.stderr


@pytest.fixture
def upstream(shared_bsa: Path) -> Iterator[UpstreamServer]:
    server = UpstreamServer(official_files(shared_bsa))
    with server.running():
        yield server


def test_download_fills_the_cache_and_data_commands_use_it(upstream: UpstreamServer) -> None:
    env = {sources.UPSTREAM_URL_ENV: upstream.url, sources.DATA_DIR_ENV: ""}
    result = bsa("data", "download", env=env)
    assert result.returncode == 0, result.stderr
    assert "download" in result.stdout
    assert sorted(p.name for p in sources.cache_dir().rglob("*") if p.is_file()) == [
        "Safe_Ans_Judge.md",
        "Safe_Rules.md",
        "Thinking_Accuracy_Judge.md",
        "dataset.csv",
    ]
    stats = bsa("data", "stats", "--json", env=env)
    assert json.loads(stats.stdout)["source"]["origin"] == "cache"
    assert sum(upstream.requests.values()) == 4


def test_tampered_cache_is_refused_on_the_command_line(upstream: UpstreamServer) -> None:
    env = {sources.UPSTREAM_URL_ENV: upstream.url, sources.DATA_DIR_ENV: ""}
    assert bsa("data", "download", env=env).returncode == 0
    cached = sources.cache_dir() / "dataset.csv"
    cached.write_bytes(cached.read_bytes().replace(b"Rumors", b"Rumours", 1))
    result = bsa("data", "stats", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cached {cached} fails its sha256 check")
    assert len(result.stderr.splitlines()) == 1
    assert bsa("data", "download", "--refresh", env=env).returncode == 0
    assert bsa("data", "stats", env=env).returncode == 0


def test_version() -> None:
    result = bsa("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("bsa, version ")


def test_croissant_command_writes_valid_metadata(tmp_path: Path) -> None:
    mlc = pytest.importorskip("mlcroissant")
    subset = tmp_path / "subset.csv"
    assert (
        bsa("data", "export", "--format", "csv", "-o", str(subset), "--limit", "5").returncode == 0
    )
    out = tmp_path / "meta" / "subset.croissant.json"
    result = bsa("data", "croissant", "--dataset", str(subset), "-o", str(out))
    assert result.returncode == 0, result.stderr
    records = list(mlc.Dataset(jsonld=out).records(record_set="items"))
    assert len(records) == 5
    official = tmp_path / "bsa.data.croissant.json"
    assert bsa("data", "croissant", "-o", str(official)).returncode == 0
    assert sources.canonical_url(sources.DATASET) in official.read_text(encoding="utf-8")


def test_croissant_command_refuses_an_invalid_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,query\n1,q\n", encoding="utf-8")
    result = bsa("data", "croissant", "--dataset", str(bad), "-o", str(tmp_path / "m.json"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {bad}: missing columns")
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("run",),
        ("generate",),
        ("judge",),
        ("score",),
        ("agree",),
        ("report",),
        ("compare",),
        ("leaderboard",),
        ("status",),
        ("export",),
        ("data",),
        ("data", "stats"),
        ("data", "export"),
        ("data", "croissant"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_help_of_every_command_without_warnings(command: tuple[str, ...]) -> None:
    """Click warns (not fails) on a flag defined twice; the filter turns that into a failure."""
    result = bsa(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_the_entry_point_imports_every_command_without_warnings() -> None:
    """``bsa --help`` imports every command module; in a fresh interpreter under ``-W error`` a
    warning at import (which an in-process test would not see a second time) fails it."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "bsa", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "leaderboard" in result.stdout
