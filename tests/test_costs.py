"""Prices and cost so far: the price flags and file, their record in the run file, and the tokens
and cost ``status``, ``score`` and ``report`` show, model and judges apart, checked by hand."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bsa.costs.prices import Price, PriceFlags, load_price_file, price_of
from bsa.costs.spend import cost_usd
from bsa.errors import BsaError
from bsa.runfile.usage import StageUsage
from tests.bsa_command import bsa_in_process

JUDGE = "mock:j"


def test_cost_bills_cached_reads_and_cache_writes_apart() -> None:
    """1M in of which 400k read from the cache and 100k written to it, 10k out, at $3 / $15 with
    cached input at $0.30: 500k x 3 + 400k x 0.3 + 100k x 3 x 1.25 + 10k x 15, per million."""
    usage = StageUsage(calls=1, input_tokens=1_000_000, cached_tokens=400_000,
                       cache_write_tokens=100_000, output_tokens=10_000)  # fmt: skip
    assert cost_usd(usage, Price(3.0, 15.0, 0.3)) == pytest.approx(1.5 + 0.12 + 0.375 + 0.15)
    assert cost_usd(usage, Price(3.0, 15.0)) == pytest.approx(1.5 + 1.2 + 0.375 + 0.15)


def test_price_file_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "prices.toml"
    toml.write_text(
        '["openai:gpt-4o"]\nin = 2.5\nout = 10\ncached-in = 1.25\n\n[mock]\nin = 1\nout = 2\n'
    )
    table = load_price_file(toml)
    assert table["openai:gpt-4o"] == Price(2.5, 10.0, 1.25)
    assert price_of(table, "mock:mock") == Price(1.0, 2.0), "a bare name prices any provider"
    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps({"openai:gpt-4o": {"in": 2.5, "out": 10, "cached-in": 1.25}}))
    assert load_price_file(as_json)["openai:gpt-4o"] == table["openai:gpt-4o"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[m]\nin = 1\n", "'out' is missing"),
        ("[m]\nin = 1\nout = -2\n", "is not a price"),
        ("[m]\nin = 1\nout = 2\ncached = 1\n", "unknown key 'cached'"),
        ('[m]\nin = "1"\nout = 2\n', "is not a price"),
        ("m = 3\n", "expected a table"),
        ("[m\n", "not TOML"),
    ],
)
def test_a_bad_price_file_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(BsaError, match=words):
        load_price_file(path)


def test_a_price_flag_needs_its_twin() -> None:
    with pytest.raises(BsaError, match="--price-in needs --price-out"):
        PriceFlags(price_in=1.0).table("mock:mock", ())


def sums(run: Path, table: str, where: str = "1") -> tuple[int, int]:
    """Input and output tokens stored in ``table``, summed here apart from bsa's own reading."""
    with sqlite3.connect(run) as connection:
        row = connection.execute(
            f"SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM {table} WHERE {where}"
        ).fetchone()
    return int(row[0]), int(row[1])


@pytest.fixture
def priced_run(tmp_path: Path) -> Path:
    """A mock run judged by ``mock:j``, the model priced by flags, the judge by a price file."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({JUDGE: {"in": 0.5, "out": 4}}))
    run = tmp_path / "run.sqlite"
    result = bsa_in_process(
        "run", "--run", run, "--model", "mock", "--judge", JUDGE, "--sample", "6", "-k", "2",
        "--price-in", "1", "--price-out", "2", "--prices", prices, "--bootstrap", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run


def test_prices_are_recorded_and_cost_is_shown_without_flags(priced_run: Path) -> None:
    model_in, model_out = sums(priced_run, "generations")
    judge_in, judge_out = sums(priced_run, "judgements", "prompt_sha256 IS NOT NULL")
    model_cost = (model_in * 1 + model_out * 2) / 1e6
    judge_cost = (judge_in * 0.5 + judge_out * 4) / 1e6
    status = json.loads(bsa_in_process("status", "--run", priced_run, "--json").stdout)["cost"]
    assert status["model"] | {"cost_usd": pytest.approx(model_cost)} == {
        "name": "mock:mock", "calls": 12, "input_tokens": model_in, "cached_tokens": 0,
        "cache_write_tokens": 0, "output_tokens": model_out,
        "reasoning_tokens": status["model"]["reasoning_tokens"],
        "price": {"in": 1.0, "out": 2.0}, "cost_usd": model_cost,
    }  # fmt: skip
    (judge,) = status["judges"]
    assert (judge["name"], judge["calls"], judge["input_tokens"]) == (JUDGE, 24, judge_in)
    assert judge["cost_usd"] == pytest.approx(judge_cost)
    assert status["total_cost_usd"] == pytest.approx(model_cost + judge_cost)
    score = json.loads(bsa_in_process("score", "--run", priced_run, "--json").stdout)
    assert score["cost"] == status
    printed = bsa_in_process("status", "--run", priced_run).stdout
    assert f"judge {JUDGE}: 24 calls, {judge_in:,} tokens in, {judge_out:,} out: $" in printed
    assert "cost so far: $" in printed


def test_reading_flags_override_the_record_for_that_reading_only(priced_run: Path) -> None:
    _, judge_out = sums(priced_run, "judgements", "prompt_sha256 IS NOT NULL")
    result = bsa_in_process(
        "status", "--run", priced_run, "--json", "--judge-price-in", "0", "--judge-price-out", "1"
    )
    (judge,) = json.loads(result.stdout)["cost"]["judges"]
    assert judge["cost_usd"] == pytest.approx(judge_out / 1e6)
    again = json.loads(bsa_in_process("status", "--run", priced_run, "--json").stdout)
    assert again["cost"]["judges"][0]["price"] == {"in": 0.5, "out": 4.0}, "not written"


def test_no_prices_say_so_rather_than_zero(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    bsa_in_process("run", "--run", run, "--model", "mock", "--judge", JUDGE, "--sample", "3",
                   "-k", "1", "--bootstrap", "0")  # fmt: skip
    cost = json.loads(bsa_in_process("score", "--run", run, "--json").stdout)["cost"]
    assert cost["model"]["cost_usd"] is None and cost["total_cost_usd"] is None
    assert cost["model"]["input_tokens"] > 0
    printed = bsa_in_process("status", "--run", run).stdout
    assert "out: no prices" in printed and "$0" not in printed
    assert f"cost so far: no prices for model mock:mock, judge {JUDGE} (give" in printed
    partly = bsa_in_process("status", "--run", run, "--price-in", "1", "--price-out", "1").stdout
    assert f"for the priced stages; no prices for judge {JUDGE} (give" in partly
    page = tmp_path / "r.html"
    assert bsa_in_process("report", "--run", run, "-o", page).returncode == 0
    assert "Tokens and cost so far" in page.read_text() and "no prices" in page.read_text()


def test_later_flags_override_recorded_prices(priced_run: Path) -> None:
    result = bsa_in_process(
        "judge", "--run", priced_run, "--judge", JUDGE, "--judge-price-in", "9",
        "--judge-price-out", "9",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cost = json.loads(bsa_in_process("status", "--run", priced_run, "--json").stdout)["cost"]
    assert cost["judges"][0]["price"] == {"in": 9.0, "out": 9.0}
    assert cost["model"]["price"] == {"in": 1.0, "out": 2.0}, "the model's record stays"


def test_report_shows_cost_per_judge(priced_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    assert bsa_in_process("report", "--run", priced_run, "-o", page).returncode == 0
    html = page.read_text()
    assert "Tokens and cost so far" in html and f"judge {JUDGE}" in html


def test_cached_tokens_of_samples_and_verdicts_are_stored_and_shown(tmp_path: Path) -> None:
    """Over HTTP: the test server counts the system prompt as cached; the judge's one-message
    prompts have none cached, which is stored as 0 (reported), not left empty."""
    from bsa.testing.openai_server import OpenAIServer, ServerConfig, approx_tokens, mock_judge_hook

    run = tmp_path / "run.sqlite"
    system = "Answer with care. " * 30
    with OpenAIServer(ServerConfig()) as model, OpenAIServer(ServerConfig(respond=mock_judge_hook)) as judge:  # fmt: skip
        result = bsa_in_process(
            "run", "--run", run, "--model", "openai:m", "--base-url", model.base_url,
            "--judge", "openai:j", "--judge-base-url", judge.base_url, "--sample", "2", "-k", "2",
            "--system-prompt", system, "--bootstrap", "0",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cost = json.loads(bsa_in_process("status", "--run", run, "--json").stdout)["cost"]
    assert cost["model"]["cached_tokens"] == 4 * approx_tokens(system)
    assert cost["judges"][0]["calls"] == 8 and cost["judges"][0]["cached_tokens"] == 0
    with sqlite3.connect(run) as connection:
        stored = connection.execute("SELECT DISTINCT cached_tokens FROM judgements").fetchall()
    assert stored == [(0,)]
    assert f"{4 * approx_tokens(system):,} cached" in bsa_in_process("status", "--run", run).stdout
