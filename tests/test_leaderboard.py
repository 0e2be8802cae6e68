"""Leaderboard rows: the published table embedded as data, the three formats, sorting, the notes
that keep a partial run from passing for a full one, and rows from real mock runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bsa.cli import main
from bsa.scoring.inputs import score_run
from bsa.scoring.leaderboard import (
    CSV_COLUMNS,
    RUN_ACCESS,
    TABLE_COLUMNS,
    alpha_note,
    format_leaderboard,
    leaderboard,
    sort_rows,
)
from bsa.scoring.metrics import DEFAULT_ALPHA, HEADLINE_KEYS, round_percent
from bsa.scoring.published import (
    PUBLISHED,
    PUBLISHED_COLUMNS,
    PUBLISHED_ITEMS,
    PUBLISHED_K,
    PUBLISHED_KEYS,
)

from .bsa_command import bsa_in_process

HEADER = "| " + " | ".join(TABLE_COLUMNS) + " |"


def published_csv(shared_bsa: Path) -> list[dict[str, str]]:
    with (shared_bsa / "leaderboard_published.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_published_data_equals_the_shared_csv(shared_bsa: Path) -> None:
    expected = published_csv(shared_bsa)
    assert tuple(expected[0]) == PUBLISHED_COLUMNS
    assert len(PUBLISHED) == len(expected) == 23
    for row, csv_row in zip(PUBLISHED, expected, strict=True):
        data = row.as_dict()
        assert (data["model"], data["access"]) == (csv_row["model"], csv_row["access"])
        for key in PUBLISHED_KEYS:
            assert data[key] == float(csv_row[key]), (row.model, key)


def test_published_rows_are_plausible() -> None:
    assert {row.access for row in PUBLISHED} == {"open", "closed"}
    for row in PUBLISHED:
        for key in PUBLISHED_KEYS:
            assert 0 <= row.figures[key] <= 100
        assert row.safe_at_k <= row.safe_at_1 and row.think_at_k <= row.think_at_1


def run_row(model: str, f: float | None, **extra: Any) -> dict[str, Any]:
    figures = dict.fromkeys(HEADLINE_KEYS, 50.0)
    return {
        "model": model,
        "access": RUN_ACCESS,
        **figures,
        "f_score": f,
        "f_score_published": None,
        "items": PUBLISHED_ITEMS,
        "items_complete": PUBLISHED_ITEMS,
        "k": PUBLISHED_K,
        "alpha": 0.7639364807041505,
        "run": f"{model}.sqlite",
        **extra,
    }


def test_markdown_header_is_the_published_columns_with_the_printed_f_score() -> None:
    text = format_leaderboard([run_row("full", 40.0)], "md", alpha=DEFAULT_ALPHA)
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert (*PUBLISHED_COLUMNS[:7], "f_score_published", *PUBLISHED_COLUMNS[7:]) == TABLE_COLUMNS
    assert lines[1].count("|") == len(TABLE_COLUMNS) + 1
    cells = ["50.00"] * 4 + ["40.00", ""] + ["50.00"] * 6
    assert lines[2] == "| full | run | " + " | ".join(cells) + " |"
    assert lines[3:] == ["", f"- {alpha_note(DEFAULT_ALPHA)}"]  # a full run needs no other note


def test_markdown_notes_partial_runs_other_k_and_missing_verdicts() -> None:
    rows = [run_row("part", 40.0, items=100, items_complete=98, k=3), run_row("full", 30.0)]
    text = format_leaderboard(rows, "md", alpha=DEFAULT_ALPHA)
    lines = text.splitlines()
    assert lines[2].startswith("| part \\* | run |")
    assert lines[3].startswith("| full | run |")
    (note,) = [line for line in lines if line.startswith("- \\* part")]
    assert "covers 100 of the 2,000 items" in note
    assert "not comparable with full-set figures" in note
    assert "2 items lack some of their k verdicts" in note
    assert "k = 3 (published: k = 5)" in note


def test_markdown_escapes_pipes() -> None:
    text = format_leaderboard([run_row("a|b", 40.0)], "md", alpha=DEFAULT_ALPHA)
    assert "| a\\|b | run |" in text


def test_csv_and_json_formats() -> None:
    rows = [run_row("x", 40.0, items=100), run_row("y", None)]
    parsed = list(csv.DictReader(io.StringIO(format_leaderboard(rows, "csv", alpha=0.5))))
    assert tuple(parsed[0]) == CSV_COLUMNS == (*TABLE_COLUMNS, "items", "k")
    assert parsed[0]["f_score"] == "40.00" and parsed[0]["items"] == "100"
    assert parsed[1]["f_score"] == parsed[1]["f_score_published"] == ""
    data = json.loads(format_leaderboard(rows, "json", alpha=0.5))
    assert data == {"alpha": 0.5, "note": alpha_note(0.5), "rows": rows}
    with pytest.raises(ValueError, match="unknown leaderboard format"):
        format_leaderboard(rows, "html", alpha=0.5)


# ---------------------------------------------------------------- rows from runs


@pytest.fixture(scope="module")
def mock_runs(tmp_path_factory: pytest.TempPathFactory, shared_bsa: Path) -> list[Path]:
    """Two small mock runs: without safety rules, and with them before the query."""
    folder = tmp_path_factory.mktemp("runs")
    env = {
        "BSA_DATA_DIR": str(shared_bsa),
        "BSA_CACHE_DIR": str(folder / "cache"),
        "BSA_UPSTREAM_URL": "http://127.0.0.1:9/unreachable",
    }
    paths = []
    for rules in ("none", "prefix"):
        path = folder / f"{rules}.sqlite"
        command = ["run", "--run", str(path), "--model", "mock"]
        command += ["--judge", "mock", "--sample", "30", "-k", "2", "--safety-rules", rules]
        result = bsa_in_process(*command, env=env)
        assert result.returncode == 0, result.stderr
        paths.append(path)
    return paths


def test_rows_from_runs(mock_runs: list[Path]) -> None:
    rows = leaderboard(mock_runs, sort=False)
    assert [row["model"] for row in rows] == ["mock", "mock (safety rules: prefix)"]
    for row, path in zip(rows, mock_runs, strict=True):
        _, scores = score_run(path, bootstrap=0)
        assert row["access"] == RUN_ACCESS
        assert (row["items"], row["k"], row["run"]) == (30, 2, str(path))
        for key in HEADLINE_KEYS:
            assert row[key] == round_percent(getattr(scores, key), 2)
    text = format_leaderboard(rows, "md", alpha=DEFAULT_ALPHA)
    assert text.splitlines()[0] == HEADER
    assert "covers 30 of the 2,000 items" in text


def test_with_published_sorted_by_f_score(mock_runs: list[Path]) -> None:
    rows = leaderboard(mock_runs, with_published=True)
    assert len(rows) == 2 + len(PUBLISHED)
    scores = [row["f_score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert sum(row["access"] == RUN_ACCESS for row in rows) == 2
    as_given = leaderboard(mock_runs, with_published=True, sort=False)
    assert [row["model"] for row in as_given[2:]] == [row.model for row in PUBLISHED]
    parsed = list(csv.DictReader(io.StringIO(format_leaderboard(rows, "csv", alpha=DEFAULT_ALPHA))))
    assert len(parsed) == 25


def test_sort_puts_rows_without_f_score_last_keeping_order() -> None:
    rows = [run_row("none1", None), run_row("low", 10.0), run_row("none2", None)]
    rows.append(run_row("high", 90.0))
    rows.append(run_row("low again", 10.0))
    assert [r["model"] for r in sort_rows(rows)] == ["high", "low", "low again", "none1", "none2"]


# ---------------------------------------------------------------- one alpha for every row


def published_rank(model: str, alpha: float) -> int:
    models = [row["model"] for row in leaderboard([], with_published=True, alpha=alpha)]
    return models.index(model) + 1


def published_row(model: str, alpha: float) -> dict[str, Any]:
    (row,) = [r for r in leaderboard([], with_published=True, alpha=alpha) if r["model"] == model]
    return row


def test_published_f_score_is_recomputed_at_the_chosen_alpha() -> None:
    # By hand: 35.25 ** 0.61 * 97.52 ** 0.39 = 52.42; at 0.7639 it is the printed 44.82.
    qwen = published_row("Qwen3-235B-A22B", 0.61)
    assert (qwen["f_score"], qwen["f_score_published"], qwen["alpha"]) == (52.42, 44.82, 0.61)
    assert published_row("Qwen3-235B-A22B", DEFAULT_ALPHA)["f_score"] == 44.82
    # 32.65 ** 0.61 * 91.59 ** 0.39 = 48.82 (printed 41.65, at 0.7639).
    glm = published_row("GLM-Z1-AirX", 0.61)
    assert (glm["f_score"], glm["f_score_published"]) == (48.82, 41.65)
    # A row printed at alpha 0.61 keeps its figure at 0.61: 54.57 ** 0.61 * 99.28 ** 0.39 = 68.92.
    assert published_row("Claude-3.7-Sonnet", 0.61)["f_score"] == 68.92


def test_ranking_uses_one_alpha_not_the_mixed_printed_column() -> None:
    # The printed column ranks Qwen3-235B-A22B 12th; on one alpha it is 7th, at 0.61 and at 0.7639
    # (just below Doubao-1.5-thinking-pro, above Qwen3-32B).
    assert published_rank("Qwen3-235B-A22B", 0.61) == 7
    assert published_rank("Qwen3-235B-A22B", DEFAULT_ALPHA) == 7
    assert published_rank("GLM-Z1-AirX", 0.61) == 11
    assert published_rank("GLM-Z1-AirX", DEFAULT_ALPHA) == 10


def invoke_leaderboard(fmt: str) -> Any:
    result = CliRunner().invoke(
        main, ["leaderboard", "--with-published", "--alpha", "0.61", "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    return result


def test_markdown_notes_the_alpha_without_runs() -> None:
    lines = invoke_leaderboard("md").stdout.splitlines()
    assert lines[0] == HEADER
    assert lines[2 + 6].startswith("| Qwen3-235B-A22B | open | 97.52 |")
    assert "| 52.42 | 44.82 |" in lines[2 + 6]
    assert f"- {alpha_note(0.61)}" in lines
    assert "alpha = 0.61 for every row" in alpha_note(0.61)


def test_csv_stays_parseable_and_the_note_goes_to_stderr() -> None:
    result = invoke_leaderboard("csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 23 and tuple(rows[0]) == CSV_COLUMNS
    assert (rows[6]["model"], rows[6]["f_score"], rows[6]["f_score_published"]) == (
        "Qwen3-235B-A22B", "52.42", "44.82"
    )  # fmt: skip
    assert result.stderr == f"note: {alpha_note(0.61)}\n"


def test_json_carries_alpha_and_note() -> None:
    data = json.loads(invoke_leaderboard("json").stdout)
    assert (data["alpha"], data["note"]) == (0.61, alpha_note(0.61))
    assert data["rows"][6]["model"] == "Qwen3-235B-A22B"
    assert data["rows"][6]["f_score_published"] == 44.82
