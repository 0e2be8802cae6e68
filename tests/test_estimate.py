"""``bsa estimate`` against a mock run: every figure recomputed here by hand, from the dataset, the
run file's rows (read with SQL) and the official judge prompts as ``bsa judge`` renders them."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import bsa
from bsa.data.assets import load_judge_templates
from bsa.data.selection import Selection, select
from bsa.judging.judge import render
from bsa.runfile.store import RunStore
from tests.bsa_command import bsa_in_process

JUDGE = "mock:j"
RUN_FLAGS = ("--model", "mock", "--judge", JUDGE, "--bootstrap", "0")


def usd(value: float) -> Any:
    """A cost as the estimate gives it: rounded to 6 decimals (a millionth of a dollar)."""
    return pytest.approx(value, abs=1e-6)


def estimate(run: Path, *flags: str) -> dict[str, Any]:
    result = bsa_in_process("estimate", "--run", run, *RUN_FLAGS, "--json", *flags)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def queries(sample: int) -> list[str]:
    """The queries of ``--sample N`` (the same stratified draw as the command's)."""
    return [item.query for item in select(bsa.load_dataset(), Selection(sample=sample)).items]


def template_chars(kind: str, scenario: str) -> int:
    """A template's own characters: its prompt rendered with every field empty."""
    templates = load_judge_templates()
    template = (
        templates.safety
        if kind == "safety"
        else templates.thinking_for(bsa.Scenario.parse(scenario))
    )
    return len(template.render(**dict.fromkeys(template.placeholders, "")))


def test_a_new_run_rests_on_the_stated_defaults(tmp_path: Path) -> None:
    run = tmp_path / "new.sqlite"
    result = estimate(run, "--sample", "3", "-k", "2", "--price-in", "1", "--price-out", "2")
    assert not run.exists(), "estimating creates nothing"
    chars = sum(len(q) for q in queries(3)) * 2
    model = result["model"]
    assert (model["calls"], model["input_tokens"]) == (6, round(chars / 4))
    assert model["output_tokens"] == 6 * 2000
    assert model["cost_usd"] == usd((round(chars / 4) * 1 + 12_000 * 2) / 1e6)
    assert model["wall_s"] == 60.0, "6 calls in one wave of 16, 60 s each"
    (judge,) = result["judges"]
    items = select(bsa.load_dataset(), Selection(sample=3)).items
    # A predicted sample is 2000 tokens x 4 characters: 6400 of reasoning, 1600 of answer.
    judged = sum(
        template_chars("safety", i.scenario.value) + template_chars("thinking", i.scenario.value)
        + 2 * (len(i.query) + len(i.risk_summary)) + 1600 + 6400
        for i in items
    ) * 2  # fmt: skip
    assert (judge["calls"], judge["input_tokens"]) == (12, round(judged / 4))
    assert (judge["output_tokens"], judge["cost_usd"], judge["wall_s"]) == (2400, None, 10.0)
    assert result["total"]["cost_usd"] is None, "no judge price: no total, never $0"
    assert result["total"]["wall_s"] == 60.0, "bsa run judges while it generates: the longer"


def test_concurrency_rate_limits_and_batch(tmp_path: Path) -> None:
    run = tmp_path / "new.sqlite"
    args = ("--sample", "3", "-k", "2", "--price-in", "1", "--price-out", "2")
    waves = estimate(run, *args, "--concurrency", "4")["model"]
    assert waves["wall_s"] == math.ceil(6 / 4) * 60
    assert estimate(run, *args, "--rpm", "1")["model"]["wall_s"] == 6 * 60, "1 call a minute"
    # Only models with a batch API take --batch, as in `bsa run` (the estimate calls no one).
    openai = ("--model", "openai:gpt-x", "--price-in", "1", "--price-out", "2")
    full = estimate(run, *args, *openai)["model"]
    batch = estimate(run, *args, *openai, "--batch")["model"]
    assert batch["cost_usd"] == usd(full["cost_usd"] / 2)
    assert batch["wall_s"] is None and batch["batch"] is True


@pytest.fixture
def partial_run(tmp_path: Path) -> Path:
    """4 items x k 1 generated and judged; the estimate asks for 6 items x k 2."""
    run = tmp_path / "run.sqlite"
    done = bsa_in_process("run", "--run", run, *RUN_FLAGS, "--sample", "4", "-k", "1")
    assert done.returncode == 0, done.stderr
    return run


def rows(run: Path, sql: str) -> list[Any]:
    with sqlite3.connect(run) as connection:
        return connection.execute(sql).fetchall()


def test_a_partial_run_is_calibrated_by_its_own_calls(partial_run: Path) -> None:
    result = estimate(
        partial_run, "--sample", "6", "-k", "2", "--price-in", "1", "--price-out", "2",
        "--judge-price-in", "0.5", "--judge-price-out", "4",
    )  # fmt: skip
    stored = rows(partial_run, "SELECT p.query, g.prompt_tokens, g.completion_tokens, "
                  "g.latency_s, LENGTH(g.answer), LENGTH(g.reasoning) FROM generations g "
                  "JOIN prompts p USING (item_id)")  # fmt: skip
    per_char = sum(len(r[0]) for r in stored) / sum(r[1] for r in stored)
    mean_out = sum(r[2] for r in stored) / len(stored)
    have = {r[0] for r in stored}
    # Each of the 6 items lacks the samples below k = 2 that are not stored (a larger stratified
    # draw need not hold every item of a smaller one).
    missing = [q for q in queries(6) for _ in range(2 - (q in have))]
    assert len(missing) == result["missing_samples"] and 8 <= len(missing) < 12
    model = result["model"]
    input_tokens = round(sum(len(q) for q in missing) / per_char)
    output_tokens = round(len(missing) * mean_out)
    assert (model["calls"], model["input_tokens"]) == (len(missing), input_tokens)
    assert model["output_tokens"] == output_tokens
    assert model["cost_usd"] == usd((input_tokens + 2 * output_tokens) / 1e6)
    assert model["wall_s"] == pytest.approx(sum(r[3] for r in stored) / 4, abs=1e-3), "one wave"
    # The judge: its own stored prompts (as bsa judge renders them) calibrate it; every verdict
    # of the 4 stored samples is scored, so it is asked both verdicts of the new ones, whose
    # answer and reasoning are as long as the stored samples' on average.
    templates = load_judge_templates()
    with RunStore(partial_run, read_only=True) as store:
        prompts = {p.item_id: p for p in store.prompts()}
        generations = {(g.item_id, g.sample): g for g in store.generations()}
        verdicts = list(store.judgements(JUDGE))
    judge_chars = sum(
        len(render(v.kind, prompts[v.item_id], generations[(v.item_id, v.sample)], templates))
        for v in verdicts
    )
    judge_per_char = judge_chars / sum(v.prompt_tokens or 0 for v in verdicts)
    answer = round(sum(r[4] for r in stored) / 4)
    reasoning = round(sum(r[5] for r in stored) / 4)
    items = {i.query: i for i in bsa.load_dataset().items}
    new_chars = sum(
        template_chars("safety", items[q].scenario.value) + answer
        + template_chars("thinking", items[q].scenario.value) + reasoning
        + 2 * (len(q) + len(items[q].risk_summary))
        for q in missing
    )  # fmt: skip
    (judge,) = result["judges"]
    calls = 2 * len(missing)
    assert (judge["calls"], judge["input_tokens"]) == (calls, round(new_chars / judge_per_char))
    judge_out = round(calls * sum(v.completion_tokens or 0 for v in verdicts) / len(verdicts))
    assert judge["output_tokens"] == judge_out
    assert judge["cost_usd"] == usd((judge["input_tokens"] * 0.5 + judge_out * 4) / 1e6)
    assert result["total"]["cost_usd"] == usd(model["cost_usd"] + judge["cost_usd"])


def test_a_judged_run_needs_no_more_calls(partial_run: Path) -> None:
    result = estimate(partial_run, "--sample", "4", "-k", "1")
    assert result["total"]["calls"] == 0 and result["missing_samples"] == 0


def test_the_table_states_its_assumptions(tmp_path: Path) -> None:
    result = bsa_in_process("estimate", "--run", tmp_path / "r.sqlite", *RUN_FLAGS,
                            "--sample", "3", "--expect-output-tokens", "500")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("estimate for") and "a new run, k = 5" in lines[0]
    assert any(line.startswith("total") and "no prices" in line for line in lines)
    assert "4.00 characters a token (assumed), 500 output tokens a reply (assumed)" in result.stdout


def test_stored_samples_without_verdicts_are_judged_less_those_needing_no_call(
    tmp_path: Path,
) -> None:
    """A generated, unjudged run: a judge call per verdict of each stored sample, except a
    blocked sample's (none) and a thinking verdict on a sample without reasoning."""
    run = tmp_path / "run.sqlite"
    made = bsa_in_process("generate", "--run", run, "--model", "mock", "--sample", "8", "-k", "2")
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(run) as connection:
        connection.execute("UPDATE generations SET status = 'blocked' WHERE rowid = 1")
        connection.execute("UPDATE generations SET reasoning = NULL WHERE rowid = 2")
    (expected,) = rows(run, "SELECT SUM(CASE WHEN status = 'blocked' THEN 0 WHEN "
                       "COALESCE(TRIM(reasoning), '') = '' THEN 1 ELSE 2 END) FROM generations")[0]  # fmt: skip
    result = estimate(run, "--sample", "8", "-k", "2")
    assert result["model"]["calls"] == 0
    assert result["judges"][0]["calls"] == expected == 2 * 16 - 2 - 1
    # k 3 adds a sample to each of the 8 items: their verdicts are as often skipped as the
    # stored samples' were (1 blocked and 1 without reasoning of 16).
    more = estimate(run, "--sample", "8", "-k", "3")["judges"][0]["calls"]
    assert more == expected + round(8 * (1 - 1 / 16)) + round(8 * (1 - 2 / 16))


def test_plain_prompts_are_estimated_without_a_judge(tmp_path: Path) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("id,question\na,How are you?\nb,What is 2 + 2?\n")
    run = tmp_path / "r.sqlite"
    plain = ("estimate", "--run", run, "--model", "mock", "--input", questions, "--json", "-k", "1")
    result = bsa_in_process(*plain)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["model"]
    assert (model["calls"], model["input_tokens"]) == (2, round((12 + 14) / 4))
    judged = bsa_in_process(*plain, "--judge", JUDGE)
    assert judged.returncode == 1 and judged.stderr.startswith("error: only BSA items")
