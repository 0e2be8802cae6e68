"""CSV exports show formula-looking text as text (OWASP's rule); JSONL keeps it exact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bsa.output.run_export import export_run
from bsa.output.spreadsheet import spreadsheet_safe
from bsa.runfile.store import (
    INSERT_GENERATION,
    INSERT_JUDGEMENT,
    Generation,
    Judgement,
    Prompt,
    RunStore,
    generation_row,
    judgement_row,
)

PAYLOAD = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("cell", "safe"),
    [(PAYLOAD, "'" + PAYLOAD), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("  =1+1", "'  =1+1"), ("\n@x", "'\n@x"),
     ("a = b", "a = b"), ("", ""), (None, None), (12, 12), (-3.5, -3.5)],
)  # fmt: skip
def test_formula_cells_get_a_quote_and_numbers_stay_numbers(cell: object, safe: object) -> None:
    assert spreadsheet_safe(cell) == safe


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    run = tmp_path / "run.sqlite"
    with RunStore(run) as store:
        store.set_meta("generation", {"model": "@evil-model"})
        store.set_meta("k", 1)
        store.add_prompts([Prompt("q1", "+cmd query")])
        sample = Generation(
            "q1", 0, "ok", PAYLOAD, "-reasoning", "content", "stop", False,
            12, 34, None, 0.5, 1, None, "{}",
        )  # fmt: skip
        store.connection.execute(INSERT_GENERATION, generation_row(sample))
        verdict = Judgement(
            "q1", 0, "safety", "@evil-judge", "scored", "Safe", True, PAYLOAD, None,
            None, "{}", 1, 0.5, 7, 8,
        )  # fmt: skip
        store.connection.execute(INSERT_JUDGEMENT, judgement_row(verdict))
    return run


def test_csv_exports_neutralise_formulas_and_jsonl_is_exact(
    hostile_run: Path, tmp_path: Path
) -> None:
    export_run(hostile_run, tmp_path / "s.csv", "csv")
    export_run(hostile_run, tmp_path / "u.csv", "upstream-csv")
    export_run(hostile_run, tmp_path / "s.jsonl", "jsonl")
    with (tmp_path / "s.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["answer"], row["reasoning"]) == ("'" + PAYLOAD, "'-reasoning")
    assert (row["prompt_tokens"], row["latency_s"], row["id"]) == ("12", "0.5", "q1")
    with (tmp_path / "u.csv").open(encoding="utf-8", newline="") as handle:
        (upstream,) = csv.DictReader(handle)
    assert (upstream["question"], upstream["answer"], upstream["tokens"]) == (
        "'+cmd query", "'" + PAYLOAD, "46",
    )  # fmt: skip
    record = json.loads((tmp_path / "s.jsonl").read_text(encoding="utf-8"))
    assert (record["answer"], record["reasoning"], record["prompt_tokens"]) == (
        PAYLOAD, "-reasoning", 12,
    )  # fmt: skip


def test_a_formula_from_a_model_over_http_is_text_in_csv_and_exact_in_jsonl(tmp_path: Path) -> None:
    import asyncio

    from bsa.engine.generate import Execution, GenerationSettings, generate
    from bsa.providers import ProviderOptions, create_provider
    from bsa.testing.openai_server import OpenAIServer, ServerConfig

    run = tmp_path / "run.sqlite"
    with OpenAIServer(ServerConfig(respond=lambda body, index: ("@SUM(A1)", PAYLOAD))) as server:
        provider = create_provider("openai:m", ProviderOptions(base_url=server.base_url))
        asyncio.run(
            generate(run, [Prompt("q", "Hi")], provider, GenerationSettings("openai:m"),
                     Execution(k=1))
        )  # fmt: skip
    for fmt, answer_column, reasoning_column in (
        ("csv", "answer", "reasoning"),
        ("upstream-csv", "answer", "reasoning_content"),
    ):
        export_run(run, tmp_path / f"{fmt}.csv", fmt)
        with (tmp_path / f"{fmt}.csv").open(encoding="utf-8", newline="") as handle:
            (row,) = csv.DictReader(handle)
        assert row[answer_column] == "'" + PAYLOAD and row[reasoning_column] == "'@SUM(A1)"
    export_run(run, tmp_path / "samples.jsonl", "jsonl")
    record = json.loads((tmp_path / "samples.jsonl").read_text(encoding="utf-8"))
    assert (record["answer"], record["reasoning"]) == (PAYLOAD, "@SUM(A1)")


def test_verdict_csv_neutralises_a_judges_formula_and_jsonl_keeps_it(
    hostile_run: Path, tmp_path: Path
) -> None:
    export_run(hostile_run, tmp_path / "v.csv", "verdicts-csv")
    export_run(hostile_run, tmp_path / "v.jsonl", "verdicts-jsonl")
    with (tmp_path / "v.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert (row["rationale"], row["judge"]) == ("'" + PAYLOAD, "'@evil-judge")
    assert (row["prompt_tokens"], row["latency_s"], row["passed"]) == ("7", "0.5", "True")
    record = json.loads((tmp_path / "v.jsonl").read_text(encoding="utf-8"))
    assert (record["rationale"], record["judge"], record["passed"]) == (
        PAYLOAD,
        "@evil-judge",
        True,
    )
