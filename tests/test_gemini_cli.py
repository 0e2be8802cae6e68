"""``gemini:MODEL`` from the command line, against the loopback Gemini API (tests/fake_gemini.py):
``bsa run`` with Gemini as the model and as the judge, resumed; the thinking budget by flag and by
``-o``; and a rejected key that the server echoes, which no output may show."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.redaction import MASK
from tests.fake_gemini import TEST_KEY, FakeGemini
from tests.optional import requires

needs = requires("google.genai")
WRONG_KEY = "AIzaSyWrongKey-abcdefghijklmnopqrstuvw"


def bsa(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
    monkeypatch.setenv("GEMINI_API_KEY", TEST_KEY)
    fake = FakeGemini()
    with fake.serve():
        yield fake


def run_both(gemini: FakeGemini, run: Path) -> dict[str, Any]:
    """``bsa run`` with ``gemini:gemini-test`` as the model and ``gemini:gemini-judge`` as the
    judge; the score table as JSON."""
    result = bsa(
        "run", "--run", run, "--sample", 3, "-k", 2, "--json",
        "--model", "gemini:gemini-test", "--base-url", gemini.base_url,
        "--judge", "gemini:gemini-judge", "--judge-base-url", gemini.base_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores: dict[str, Any] = json.loads(result.output[result.output.index("{") :])
    return scores


def test_bsa_run_with_gemini_as_model_and_judge_resumes(gemini: FakeGemini, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    scores = run_both(gemini, run)
    assert scores["judge"] == "gemini:gemini-judge"
    assert scores["coverage"]["items_complete"] == 3
    assert scores["counts"]["no_reasoning"] == 0, "thought summaries are the reasoning"
    models = [r.model for r in gemini.requests]
    assert (models.count("gemini-test"), models.count("gemini-judge")) == (6, 12)
    again = run_both(gemini, run)
    assert again["safe_at_1"] == scores["safe_at_1"]
    assert len(gemini.requests) == 18, "the rerun resumes: no call twice"
    with sqlite3.connect(run) as connection:
        sources = {row[0] for row in connection.execute("SELECT reasoning_source FROM generations")}
    assert sources == {"thought_summary"}


def generate(tmp_path: Path, gemini: FakeGemini, *extra: object) -> Result:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\nq1,Hello there\n", encoding="utf-8")
    return bsa("generate", "--run", tmp_path / "run.sqlite", "--input", questions,
               "--model", "gemini:gemini-test", "--base-url", gemini.base_url, "-k", 1,
               *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("given", "budget"),
    [((), 8192), (("--thinking-budget", "2048"), 2048), (("-o", "thinking_budget", "-1"), -1)],
    ids=["default", "flag", "o-dynamic"],
)
def test_the_thinking_budget_reaches_gemini(
    gemini: FakeGemini, tmp_path: Path, given: tuple[str, ...], budget: int
) -> None:
    result = generate(tmp_path, gemini, *given)
    assert result.exit_code == 0, result.output
    assert [r.thinking for r in gemini.requests] == [
        {"includeThoughts": True, "thinkingBudget": budget}
    ]


def test_a_rejected_key_stops_the_run_in_one_masked_line(
    gemini: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake quotes the key it was sent in its 400; bsa prints one line, key masked."""
    monkeypatch.setenv("GEMINI_API_KEY", WRONG_KEY)
    result = generate(tmp_path, gemini)
    assert result.exit_code != 0
    assert "$GEMINI_API_KEY" in result.output and MASK in result.output
    assert WRONG_KEY[:16] not in result.output
    assert "Traceback" not in result.output
    stored = (tmp_path / "run.sqlite").read_bytes().decode("utf-8", "replace")
    assert WRONG_KEY[:16] not in stored
    assert len(gemini.requests) == 1, "a bad key is fatal: no retry, no second call"
