"""k samples that are really k samples (issue 13): per-sample request and judge seeds, and a test
server whose samples vary, all over real HTTP through the ``bsa`` commands."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bsa.benchmark import Scenario
from bsa.cli import main
from bsa.data.dataset import load_dataset
from bsa.data.items import Item
from bsa.judging.verdicts import SAFETY_SPEC, THINKING_SPECS
from bsa.providers.mock import mock_judge_reply
from bsa.testing.openai_server import (
    OpenAIServer,
    ServerConfig,
    expected_texts,
    last_user_text,
    mock_judge_hook,
)
from tests.test_generate_cli import write_questions

CONFIG = ServerConfig(reasoning_chars=120, answer_chars=40)
QUESTIONS = ["First question", "Second question"]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(CONFIG) as running:
        yield running


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def generate(run: Path, server: OpenAIServer, source: list[str], *extra: str) -> Result:
    """``bsa generate`` with k 3 (``source``: ``--input FILE`` or ``--ids FILE``)."""
    result = cli(
        "generate", "--run", run, "--model", "openai:test-model", "--base-url", server.base_url,
        *source, "-k", "3", "--concurrency", "4", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def questions(tmp_path: Path) -> list[str]:
    return ["--input", str(write_questions(tmp_path / "q.csv", QUESTIONS))]


def exported(run: Path) -> list[dict[str, Any]]:
    """``bsa export --format jsonl``, without the fields that are timing (latency_s, created_at)."""
    out = run.with_suffix(".jsonl")
    assert cli("export", "--run", run, "--format", "jsonl", "-o", out).exit_code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in row.items() if k not in ("latency_s", "created_at")} for row in rows]


def seeds_sent(server: OpenAIServer) -> dict[str, list[int | None]]:
    """The seeds the server was sent, by question, sorted (None, no seed, first)."""
    sent: defaultdict[str, list[int | None]] = defaultdict(list)
    for body in server.requests:
        sent[last_user_text(body["messages"])].append(body.get("seed"))
    return {q: sorted(seeds, key=lambda s: (s is not None, s or 0)) for q, seeds in sent.items()}


def answers_of(rows: list[dict[str, Any]], item: str) -> list[str]:
    return [row["answer"] for row in rows if row["id"] == item]


# ---------------------------------------------------------------- the model's request seed


def test_without_a_seed_k_requests_give_k_different_samples(
    server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    generate(run, server, questions(tmp_path))
    rows = exported(run)
    for item, question in zip(("q000", "q001"), QUESTIONS, strict=True):
        assert sorted(answers_of(rows, item)) == sorted(
            expected_texts(question, 0, CONFIG, answer=a)[1].strip() for a in (1, 2, 3)
        ), "the first, second and third answer to the question"
        assert len({row["reasoning"] for row in rows if row["id"] == item}) == 3
    assert [row["seed"] for row in rows] == [None] * 6
    assert seeds_sent(server) == {question: [None] * 3 for question in QUESTIONS}


def test_a_seeded_run_repeats_byte_for_byte_and_its_k_samples_differ(
    server: OpenAIServer, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.sqlite", tmp_path / "second.sqlite"
    generate(first, server, questions(tmp_path), "--request-seed", "7")
    generate(second, server, questions(tmp_path), "--request-seed", "7")
    rows = exported(first)
    assert rows == exported(second)
    assert first.with_suffix(".jsonl").read_text(encoding="utf-8").count('"answer"') == 6
    assert [row["seed"] for row in rows] == [7, 8, 9, 7, 8, 9]
    for item, question in zip(("q000", "q001"), QUESTIONS, strict=True):
        assert answers_of(rows, item) == [
            expected_texts(question, 0, CONFIG, seed=seed)[1].strip() for seed in (7, 8, 9)
        ]
        assert len(set(answers_of(rows, item))) == 3
    assert seeds_sent(server) == {question: [7, 7, 8, 8, 9, 9] for question in QUESTIONS}


def test_a_resumed_run_sends_the_seeds_a_whole_run_sends(
    server: OpenAIServer, tmp_path: Path
) -> None:
    """Raising k and replacing a lost sample ask for exactly the missing samples' seeds."""
    whole, resumed = tmp_path / "whole.sqlite", tmp_path / "resumed.sqlite"
    generate(whole, server, questions(tmp_path), "--request-seed", "7")
    generate(resumed, server, questions(tmp_path), "--request-seed", "7", "-k", "2")
    with sqlite3.connect(resumed) as connection:
        connection.execute("DELETE FROM generations WHERE item_id = 'q001' AND sample = 0")
    connection.close()
    server.reset()
    generate(resumed, server, questions(tmp_path), "--request-seed", "7")
    assert seeds_sent(server) == {QUESTIONS[0]: [9], QUESTIONS[1]: [7, 9]}
    assert exported(resumed) == exported(whole)


@pytest.mark.parametrize(
    ("ignore_n", "sent", "stored"),
    [
        (False, [(7, 3)], [7, 7, 7]),  # one request, the n choices sampled by the server
        (True, [(7, 3), (8, 1), (9, 1)], [7, 8, 9]),  # n ignored: each sample its own request
    ],
)
def test_use_n_sends_the_first_samples_seed(
    tmp_path: Path, ignore_n: bool, sent: list[tuple[int, int]], stored: list[int]
) -> None:
    with OpenAIServer(replace(CONFIG, ignore_n=ignore_n)) as server:
        run = tmp_path / "run.sqlite"
        source = ["--input", str(write_questions(tmp_path / "q.csv", QUESTIONS[:1]))]
        generate(run, server, source, "--request-seed", "7", "--use-n", "--concurrency", "1")
        requests = sorted((body["seed"], body.get("n", 1)) for body in server.requests)
    rows = exported(run)
    assert requests == sent
    assert [row["seed"] for row in rows] == stored
    assert len(set(answers_of(rows, "q000"))) == 3


# ---------------------------------------------------------------- @1 and @k through real HTTP

RO = THINKING_SPECS[Scenario.RISK_OMISSION]


def risk_omission_items(tmp_path: Path) -> tuple[list[Item], list[str]]:
    """Two Risk Omission items and the ``--ids`` arguments that select them."""
    items = [i for i in load_dataset().items if i.scenario is Scenario.RISK_OMISSION][:2]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(item.id for item in items), encoding="utf-8")
    return items, ["--ids", str(ids)]


def seeded_texts(items: list[Item]) -> dict[tuple[int, int], tuple[str, str]]:
    """(reasoning, answer) of sample s of item i, as stored from a run seeded with 7."""
    texts = {}
    for i, item in enumerate(items):
        for s in range(3):
            reasoning, answer = expected_texts(item.query, 0, CONFIG, seed=7 + s)
            texts[i, s] = (reasoning.strip(), answer.strip())
    return texts


class PerSampleJudge:
    """A judge that fails the samples it is told to, recognised by their texts in its prompt:
    Unsafe for the answers in ``unsafe``, Risk Omission's ``false`` for the reasonings in
    ``shallow``; every other verdict passes."""

    def __init__(self, unsafe: set[str], shallow: set[str]) -> None:
        self.unsafe = unsafe
        self.shallow = shallow

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        prompt = last_user_text(body["messages"])
        reply = json.loads(mock_judge_reply(prompt) or "{}")
        if SAFETY_SPEC.key in reply:
            unsafe = any(answer in prompt for answer in self.unsafe)
            reply[SAFETY_SPEC.key] = "Unsafe" if unsafe else "Safe"
        else:
            reply[RO.key] = not any(reasoning in prompt for reasoning in self.shallow)
        return "", json.dumps(reply)


def test_at_1_and_at_k_differ_by_hand_computed_amounts(
    server: OpenAIServer, tmp_path: Path
) -> None:
    """Item 0's sample 1 is Unsafe; item 1's samples 0 and 2 miss the risk in their reasoning.
    By hand: Safe@1 = mean(2/3, 3/3) = 83.33, Safe@3 = 1 of 2 items = 50; Think@1 =
    mean(3/3, 1/3) = 66.67, Think@3 = 50. With k identical samples @1 would equal @3."""
    items, ids = risk_omission_items(tmp_path)
    texts = seeded_texts(items)
    hook = PerSampleJudge({texts[0, 1][1]}, {texts[1, 0][0], texts[1, 2][0]})
    with OpenAIServer(replace(CONFIG, respond=hook)) as judge:
        result = cli(
            "run", "--run", tmp_path / "run.sqlite", "--model", "openai:test-model",
            "--base-url", server.base_url, "--judge", "openai:test-judge", "--judge-base-url",
            judge.base_url, *ids, "-k", "3", "--request-seed", "7", "--json",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout[result.stdout.index("{") :])
    assert scores["safe_at_1"] == pytest.approx((2 / 3 + 1) / 2 * 100)
    assert scores["safe_at_k"] == pytest.approx(50.0)
    assert scores["think_at_1"] == pytest.approx((1 + 1 / 3) / 2 * 100)
    assert scores["think_at_k"] == pytest.approx(50.0)


# ---------------------------------------------------------------- the judge's seed


def judge(run: Path, server: OpenAIServer, seed: str) -> Result:
    return cli(
        "judge", "--run", run, "--judge", "openai:test-judge", "--judge-base-url",
        server.base_url, "--judge-seed", seed,
    )  # fmt: skip


def test_the_judge_seed_is_sent_per_verdict_and_a_changed_one_is_refused(
    server: OpenAIServer, tmp_path: Path
) -> None:
    items, ids = risk_omission_items(tmp_path)
    texts = seeded_texts(items)
    run = tmp_path / "run.sqlite"
    generate(run, server, ids, "--request-seed", "7")
    with OpenAIServer(replace(CONFIG, respond=mock_judge_hook)) as judge_server:
        judged = judge(run, judge_server, "100")
        assert judged.exit_code == 0, judged.output
        sent = judge_server.requests
        for body in sent:
            prompt = last_user_text(body["messages"])
            (sample,) = {s for (_, s), pair in texts.items() if any(t in prompt for t in pair)}
            assert body["seed"] == 100 + sample
        assert Counter(body["seed"] for body in sent) == {100: 4, 101: 4, 102: 4}
        changed = judge(run, judge_server, "101")
        assert judge_server.stats.total == len(sent), "nothing asked with the changed seed"
    assert changed.exit_code == 1
    (line,) = changed.output.strip().splitlines()
    assert line.startswith("error: ") and "other judge settings" in line
