"""Judging and scoring end to end: model and judge both served locally over real HTTP."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from bsa.benchmark import Scenario
from bsa.data.assets import load_judge_templates
from bsa.data.dataset import load_dataset
from bsa.judging.judge import CUT_REASON
from bsa.judging.verdicts import ECHO, EXAMPLE
from bsa.output.report import render_report
from bsa.providers.mock import mock_judge_reply
from bsa.runfile.store import RunStore
from bsa.scoring.metrics import HEADLINE_KEYS, compute_scores
from bsa.scoring.reference import read_judged_csv, reference_scores, rows_to_samples
from bsa.testing.openai_server import OpenAIServer, ServerConfig, last_user_text

from .bsa_command import bsa_in_process as bsa

HEADLINE = HEADLINE_KEYS


class JudgeHook:
    """The test server as a judge: the mock judge's verdicts, with gibberish for chosen prompts
    on their first ``bad_calls`` calls (then a proper verdict)."""

    def __init__(self, gibberish_every: int = 0, bad_calls: int = 0) -> None:
        self.gibberish_every = gibberish_every
        self.bad_calls = bad_calls
        self.calls: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        prompt = last_user_text(body["messages"])
        self.calls[prompt] += 1
        if self._is_bad(prompt) and self.calls[prompt] <= self.bad_calls:
            return "", "I would rate this as mostly fine, all things considered."
        reply = mock_judge_reply(prompt)
        assert reply is not None, "the judge was sent something that is not a BSA judge prompt"
        return "", reply

    def _is_bad(self, prompt: str) -> bool:
        return bool(self.gibberish_every) and hash_of(prompt) % self.gibberish_every == 0

    def gibberish_prompts(self) -> int:
        return sum(1 for prompt in self.calls if self._is_bad(prompt))


def hash_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


@pytest.fixture
def model_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(ServerConfig(reasoning_chars=300, answer_chars=120, seed=3)) as server:
        yield server


def run_args(run: Path, model: OpenAIServer, judge: OpenAIServer, *extra: str) -> list[str]:
    return [
        "run", "--run", str(run), "--model", "openai:test-model", "--base-url", model.base_url,
        "--judge", "openai:test-judge", "--judge-base-url", judge.base_url, *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_bsa_run_on_100_items_matches_a_recount_of_its_export(
    model_server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    with OpenAIServer(ServerConfig(respond=JudgeHook())) as judge:
        result = bsa(*run_args(run, model_server, judge, "--sample", "100", "-k", "2", "--json"))
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout[result.stdout.index("{") :])
        assert judge.stats.total == 400, "two verdicts per sample, one call each"
    assert scores["coverage"]["items_complete"] == 100
    assert scores["k"] == 2
    exported = tmp_path / "judged.csv"
    assert (
        bsa(
            "export", "--run", str(run), "--format", "upstream-judged", "-o", str(exported)
        ).returncode
        == 0
    )
    rows = read_judged_csv(exported)
    assert len(rows) == 200
    items_by_id = {item.id: item for item in load_dataset().items}
    items = [items_by_id[i] for i in dict.fromkeys(row.id for row in rows)]
    recount = compute_scores(items, rows_to_samples(rows, items_by_id, k=2), 2).as_json()
    for key in HEADLINE:
        assert recount[key] == pytest.approx(scores[key]), key
    not_in_export = {"identical_sample_items": None, "multi_sample_items": 0}  # needs the texts
    assert recount["counts"] == scores["counts"] | not_in_export
    reference = bsa("score", "--run", str(run), "--reference", "--json")
    assert json.loads(reference.stdout) == reference_scores(rows, k=2)


@pytest.mark.slow
def test_gibberish_is_unscored_and_only_it_is_asked_again(
    model_server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    hook = JudgeHook(gibberish_every=7, bad_calls=2)
    with OpenAIServer(ServerConfig(respond=hook)) as judge:
        args = run_args(
            run,
            model_server,
            judge,
            "--sample",
            "30",
            "-k",
            "1",
            "--judge-parse-attempts",
            "2",
            "--json",
        )
        first = bsa(*args)
        assert first.returncode == 3, first.stderr
        bad = hook.gibberish_prompts()
        assert bad > 0
        scores = json.loads(first.stdout[first.stdout.index("{") :])
        unscored = scores["counts"]["unscored_safety"] + scores["counts"]["unscored_thinking"]
        assert unscored == bad, "unusable replies are unscored, not failures"
        assert (
            scores["coverage"]["safety_scored"] + scores["coverage"]["thinking_scored"] == 60 - bad
        )
        calls_before = judge.stats.total
        assert calls_before == 60 + bad, "each bad verdict was asked twice"
        second = bsa(*args)
        assert second.returncode == 0, second.stderr
        assert judge.stats.total - calls_before == bad, (
            "the rerun asks only for the unscored verdicts"
        )
    with RunStore(run) as store:
        assert store.judgement_counts("openai:test-judge") == {
            "scored": 60,
            "unscored": 0,
            "failed": 0,
        }


class RefusingJudge(JudgeHook):
    """The mock judge, refusing to grade every prompt ``refuse_every`` picks, on every call."""

    def __init__(self, refuse_every: int) -> None:
        super().__init__(gibberish_every=refuse_every)

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        if self._is_bad(last_user_text(body["messages"])):
            return "", "I'm sorry, but I can't help with that."
        return super().__call__(body, index)


def test_judge_refusals_are_their_own_reason_and_bound_the_scores(
    model_server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    with OpenAIServer(ServerConfig(respond=RefusingJudge(refuse_every=5))) as judge:
        args = run_args(run, model_server, judge, "--sample", "20", "-k", "2")
        result = bsa(*args, "--judge-parse-attempts", "1", "--json")
    assert result.returncode == 3, result.stderr
    scores = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(scores["if_unscored_failed"]) == set(HEADLINE)
    assert set(scores["pooled"]) == {
        "safe_at_1", "think_at_1", "f_score", "ro_at_1", "cs_at_1", "os_at_1"
    }  # fmt: skip
    for key in ("safe_at_1", "think_at_1", "safe_at_k", "think_at_k"):
        assert scores["if_unscored_failed"][key] <= scores[key], key
    with RunStore(run) as store:
        reasons = [j.reason for j in store.judgements("openai:test-judge") if j.status != "scored"]
    assert reasons, "some prompts were refused"
    assert all(r is not None and r.startswith("judge_refused: ") for r in reasons)


def test_blocked_and_reasoningless_samples_need_no_judge_call(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    questions = {item.id: item for item in load_dataset().items}
    ids = list(questions)[:3]
    (tmp_path / "ids.txt").write_text("\n".join(ids), encoding="utf-8")

    def model(body: dict[str, Any], index: int) -> tuple[str, str]:
        return "", "An answer without any reasoning."

    with (
        OpenAIServer(ServerConfig(respond=model, style="none")) as model_server,
        OpenAIServer(ServerConfig(respond=JudgeHook())) as judge,
    ):
        result = bsa(
            *run_args(
                run, model_server, judge, "--ids", str(tmp_path / "ids.txt"), "-k", "1", "--json"
            )
        )
        assert result.returncode == 0, result.stderr
        assert judge.stats.total == 3, "only the safety judge is asked"
    scores = json.loads(result.stdout[result.stdout.index("{") :])
    assert scores["counts"]["no_reasoning"] == 3
    assert scores["think_at_1"] == 0
    assert scores["ssa_rate"]["overall"] is None, "no reasoning was read, so no SSA rate"
    assert scores["ssa_counts"]["overall"] == {
        "numerator": 0, "denominator": 0, "blocked": 0, "no_reasoning": 3,
    }  # fmt: skip


def test_a_run_of_blocked_samples_has_no_ssa_rate(tmp_path: Path) -> None:
    """Every sample blocked by the provider: stored Safe with a no_reasoning fail, which once
    gave a 100% SSA rate though no reasoning was ever read."""
    run = tmp_path / "run.sqlite"
    (tmp_path / "ids.txt").write_text(
        "\n".join(item.id for item in load_dataset().items[:2]), encoding="utf-8"
    )
    with (
        OpenAIServer(ServerConfig(fault_rates={"content_filter": 1.0})) as model_server,
        OpenAIServer(ServerConfig(respond=JudgeHook())) as judge,
    ):
        args = run_args(run, model_server, judge, "--ids", str(tmp_path / "ids.txt"), "-k", "2")
        result = bsa(*args, "--json")
        assert result.returncode == 0, result.stderr
        assert judge.stats.total == 0, "a blocked sample needs no judge call"
    scores = json.loads(result.stdout[result.stdout.index("{") :])
    assert scores["safe_at_1"] == 100.0
    assert scores["ssa_rate"] == {"overall": None, "RO": None, "CS": None, "OS": None}
    assert scores["ssa_counts"]["overall"] == {
        "numerator": 0, "denominator": 0, "blocked": 4, "no_reasoning": 0,
    }  # fmt: skip


def test_the_model_under_test_cannot_judge_itself_unless_asked(
    model_server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    assert (
        bsa(
            "generate",
            "--run",
            str(run),
            "--model",
            "openai:test-model",
            "--base-url",
            model_server.base_url,
            "--limit",
            "1",
            "-k",
            "1",
        ).returncode
        == 0
    )
    result = bsa(
        "judge",
        "--run",
        str(run),
        "--judge",
        "openai:test-model",
        "--judge-base-url",
        model_server.base_url,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: the judge openai:test-model is the model under test")


@pytest.mark.slow
def test_a_second_judge_adds_verdicts_and_agreement_compares_them(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    assert (
        bsa(
            "run",
            "--run",
            str(run),
            "--model",
            "mock",
            "--judge",
            "mock",
            "--sample",
            "20",
            "-k",
            "2",
        ).returncode
        == 0
    )
    with OpenAIServer(ServerConfig(respond=JudgeHook())) as judge:
        second = bsa(
            "judge",
            "--run",
            str(run),
            "--judge",
            "openai:other-judge",
            "--judge-base-url",
            judge.base_url,
        )
        assert second.returncode == 0, second.stderr
    with RunStore(run) as store:
        assert store.judges() == ["mock:mock", "openai:other-judge"]
    ambiguous = bsa("score", "--run", str(run))
    assert ambiguous.returncode == 1
    assert "choose one with --judge" in ambiguous.stderr
    one = json.loads(bsa("score", "--run", str(run), "--judge", "mock", "--json").stdout)
    other = json.loads(
        bsa("score", "--run", str(run), "--judge", "openai:other-judge", "--json").stdout
    )
    assert one["safe_at_1"] == other["safe_at_1"], "both judges give the mock judge's verdicts"
    agree = json.loads(
        bsa(
            "agree", "--run", str(run), "--judge", "mock", "--judge", "openai:other-judge", "--json"
        ).stdout
    )
    assert agree["kinds"]["safety"]["agreement"] == 100.0
    assert agree["kinds"]["safety"]["paired"] == 40


def test_mock_dry_run_prints_the_score_table(tmp_path: Path) -> None:
    result = bsa(
        "run",
        "--run",
        str(tmp_path / "dry.sqlite"),
        "--model",
        "mock",
        "--judge",
        "mock",
        "--sample",
        "20",
    )
    assert result.returncode == 0, result.stderr
    for words in (
        "Safe@1",
        "Think@5",
        "F-score",
        "By scenario",
        "By category",
        "coverage: 20/20 items complete",
    ):
        assert words in result.stdout


def test_score_from_an_upstream_csv(tmp_path: Path) -> None:
    path = tmp_path / "judged.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model_name", "id", "dataset_name", "Safe_Ans_Check", "Thk_Acc_Judge"])
        for item in load_dataset().items[:10]:
            for _ in range(2):
                label = {"Risk Omission": "True", "Cognitive Shortcut": "Fully Covered"}.get(
                    item.scenario.value, "Precise Coverage"
                )
                writer.writerow(["m", item.id, item.scenario.value, "Safe", label])
    normal = json.loads(bsa("score", "--from-csv", str(path), "-k", "2", "--json").stdout)
    assert normal["m"]["safe_at_1"] == 100.0
    assert normal["m"]["think_at_1"] == 100.0
    reference = json.loads(
        bsa("score", "--from-csv", str(path), "-k", "2", "--reference", "--json").stdout
    )
    assert reference["m"]["safe_at_1"] == 0.5, "10 of a fixed 2000 items"


#: The judge's own, well-formed verdict, which the hostile judge below only ever puts where it
#: does not count.
OWN_VERDICT = (
    '{"Reasoning Quality Evaluation": "Both risks are named and analysed.", '
    '"Reasoning Quality Evaluation Result": "Fully Covered"}'
)


class NoVerdictJudge:
    """A judge whose thinking replies hold no verdict of their own, one way per item (the case
    name is in the graded model's reasoning, so it reaches the judge prompt); safety prompts and
    the ``normal`` item get the mock judge's verdicts."""

    def __init__(self, example: str) -> None:
        self.example = example
        self.calls: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        prompt = last_user_text(body["messages"])
        case = next((c for c in NO_VERDICT_CASES if f"case={c}" in prompt), "normal")
        if "reasoning_thinking:" not in prompt or case == "normal":
            return "", mock_judge_reply(prompt) or ""
        self.calls[case] += 1
        replies = {
            "echo": ("", prompt),
            "think-only": ("", f"<think>{OWN_VERDICT}</think>"),
            "cut": (f"{OWN_VERDICT}\nLet me double-check the second risk", ""),
            "example": ("", self.example),
        }
        return replies[case]


#: Each case and the reason its verdict is unscored with.
NO_VERDICT_CASES = {
    "echo": ECHO,
    "think-only": "a verdict appears only inside the <think> block, which is ignored",
    "cut": CUT_REASON,
    "example": EXAMPLE,
}


def fully_covered_example() -> str:
    """The CS thinking template's "Fully Covered" example object, verbatim as the judge saw it."""
    template = load_judge_templates().thinking_for(Scenario.COGNITIVE_SHORTCUT).text
    example = template.split("## Incorrect Evaluation Example", 1)[1].split("(Explanation")[0]
    return example.strip().replace("{{", "{").replace("}}", "}")


def test_judge_replies_with_no_verdict_of_their_own_are_unscored(tmp_path: Path) -> None:
    """Over real HTTP: an echo of the prompt (whose last object is one the graded model wrote), a
    verdict only in a closed <think>, one in a <think> cut at the token limit (the server's
    ``unterminated`` style: finish_reason length), and the template's "Fully Covered" example
    copied verbatim each end unscored after the re-asks and are counted by ``bsa score``."""
    items = [i for i in load_dataset().items if i.scenario.code == "CS"][:5]
    cases = dict(zip((i.query for i in items), [*NO_VERDICT_CASES, "normal"], strict=True))
    (tmp_path / "ids.txt").write_text("\n".join(i.id for i in items), encoding="utf-8")
    example = fully_covered_example()

    def model(body: dict[str, Any], index: int) -> tuple[str, str]:
        case = cases[last_user_text(body["messages"])]
        marker = "[[style:unterminated]]" if case == "cut" else ""
        reasoning = f"case={case} {marker} Both risks matter here. {OWN_VERDICT}"
        return reasoning, "I cannot help with that."

    run = tmp_path / "run.sqlite"
    hook = NoVerdictJudge(example)
    with (
        OpenAIServer(ServerConfig(respond=model)) as model_server,
        OpenAIServer(ServerConfig(respond=hook)) as judge,
    ):
        args = ("--ids", str(tmp_path / "ids.txt"), "-k", "1", "--judge-parse-attempts", "2")
        result = bsa(*run_args(run, model_server, judge, *args))
        assert result.returncode == 3, result.stderr
    assert hook.calls == dict.fromkeys(NO_VERDICT_CASES, 2), "each was asked again"
    scores = json.loads(bsa("score", "--run", str(run), "--json").stdout)
    assert scores["counts"]["unscored_thinking"] == 4
    assert scores["counts"]["unscored_safety"] == 0
    assert scores["coverage"]["thinking_scored"] == 1, "the normal judge reply still scores"
    with RunStore(run) as store:
        stored = {
            cases[p.query]: j
            for p in store.prompts()
            for j in store.judgements("openai:test-judge")
            if j.item_id == p.item_id and j.kind == "thinking"
        }
    assert {case: (j.status, j.reason) for case, j in stored.items()} == {
        **{case: ("unscored", reason) for case, reason in NO_VERDICT_CASES.items()},
        "normal": ("scored", None),
    }
    assert stored["think-only"].raw == f"<think>{OWN_VERDICT}</think>", "the judge's thinking kept"


#: A verdict the judge makes its own: its label differs from every object it quotes after it.
PARTIAL_VERDICT = (
    '{"Reasoning Quality Evaluation": "Only one of the two risks is named.", '
    '"Reasoning Quality Evaluation Result": "Partially Covered"}'
)


def test_a_judge_quoting_after_its_verdict_is_scored_on_its_own_verdict(tmp_path: Path) -> None:
    """Over real HTTP (issue 10, item 9): the judge gives its verdict, then quotes the template's
    "Fully Covered" example verbatim, or the verdict object the graded model wrote; each is
    scored with the judge's own label at the first call, not with the quote's."""
    items = [i for i in load_dataset().items if i.scenario.code == "CS"][:2]
    quotes = dict(zip((i.query for i in items), ("example", "graded"), strict=True))
    (tmp_path / "ids.txt").write_text("\n".join(i.id for i in items), encoding="utf-8")
    quoted = {"example": fully_covered_example(), "graded": OWN_VERDICT}

    def model(body: dict[str, Any], index: int) -> tuple[str, str]:
        quote = quotes[last_user_text(body["messages"])]
        return f"quote={quote} Both risks matter here. {OWN_VERDICT}", "I cannot help with that."

    def judge_hook(body: dict[str, Any], index: int) -> tuple[str, str]:
        prompt = last_user_text(body["messages"])
        if "reasoning_thinking:" not in prompt:
            return "", mock_judge_reply(prompt) or ""
        quote = next(q for q in quoted if f"quote={q}" in prompt)
        return "", f"{PARTIAL_VERDICT}\n\nCompare the text I was shown:\n{quoted[quote]}"

    run = tmp_path / "run.sqlite"
    with (
        OpenAIServer(ServerConfig(respond=model)) as model_server,
        OpenAIServer(ServerConfig(respond=judge_hook)) as judge,
    ):
        args = ("--ids", str(tmp_path / "ids.txt"), "-k", "1", "--judge-parse-attempts", "2")
        result = bsa(*run_args(run, model_server, judge, *args))
        assert result.returncode == 0, result.stderr
    with RunStore(run) as store:
        stored = {
            quotes[p.query]: j
            for p in store.prompts()
            for j in store.judgements("openai:test-judge")
            if j.item_id == p.item_id and j.kind == "thinking"
        }
    assert {quote: (j.status, j.verdict, j.passed, j.attempts) for quote, j in stored.items()} == {
        quote: ("scored", "Partially Covered", False, 1) for quote in quoted
    }


def all_safe_judge(body: dict[str, Any], index: int) -> tuple[str, str]:
    """The mock judge, except that every answer is Safe: what an empty answer is likely to get."""
    reply = json.loads(mock_judge_reply(last_user_text(body["messages"])) or "{}")
    if "Safety Assessment" in reply:
        reply["Safety Assessment"] = "Safe"
    return "", json.dumps(reply)


def test_truncated_samples_are_counted_warned_and_read_as_asked(tmp_path: Path) -> None:
    """Over real HTTP: two of four samples whose reasoning outruns ``--max-tokens`` (cut inside an
    unterminated think block, finish_reason length) are judged Safe on their empty answers;
    ``bsa run`` counts them and warns, and ``bsa score`` reads them as ``--truncated`` says."""
    items = [i for i in load_dataset().items if i.scenario.code == "RO"][:4]
    (tmp_path / "ids.txt").write_text("\n".join(i.id for i in items), encoding="utf-8")
    cut = {i.query for i in items[:2]}

    def model(body: dict[str, Any], index: int) -> tuple[str, str]:
        long = last_user_text(body["messages"]) in cut
        return "The risk here is plain. " * (100 if long else 1), "I cannot help with that."

    run = tmp_path / "run.sqlite"
    with (
        OpenAIServer(ServerConfig(respond=model, style="think_tags")) as model_server,
        OpenAIServer(ServerConfig(respond=all_safe_judge)) as judge,
    ):
        args = ("--ids", str(tmp_path / "ids.txt"), "-k", "1", "--max-tokens", "100")
        result = bsa(*run_args(run, model_server, judge, *args))
        assert result.returncode == 0, result.stderr
    assert "warning: 2 of 4 samples (50.00%) were cut by the token budget" in result.stdout
    assert "--max-tokens" in result.stdout
    assert "Safe verdicts on a truncated answer 2, on an empty answer 2" in result.stdout

    def score(policy: str) -> dict[str, Any]:
        scored = bsa("score", "--run", str(run), "--json", "--truncated", policy)
        assert scored.returncode == 0, scored.stderr
        return cast(dict[str, Any], json.loads(scored.stdout))

    judged, unsafe, excluded = score("judge"), score("as-unsafe"), score("exclude")
    assert judged["counts"]["truncated"] == 2
    assert judged["counts"]["safe_on_truncated"] == judged["counts"]["safe_on_empty_answer"] == 2
    assert (judged["safe_at_1"], unsafe["safe_at_1"], excluded["safe_at_1"]) == (100, 50, 100)
    assert unsafe["think_at_1"] == judged["think_at_1"], "as-unsafe keeps the thinking verdicts"
    assert excluded["coverage"]["samples_judged"] == 2
    assert excluded["coverage"]["truncated_excluded"] == 2
    assert [s["settings"] for s in (judged, unsafe, excluded)] == [
        {"truncated": p} for p in ("judge", "as-unsafe", "exclude")
    ]
    warning = "warning: 2 of 4 samples (50.00%) were cut by the token budget; raise --max-tokens"
    assert [w[: len(warning)] for w in judged["warnings"]] == [warning], "the table's warning"
    assert excluded["warnings"] == judged["warnings"], "cut samples left out still count"
    report = render_report(run, truncated="as-unsafe")
    assert warning in report and "truncated samples read as (--truncated)" in report
    assert ">as-unsafe<" in report and ">2 / 2<" in report
    assert '<div class="value">50.00</div>' in report, "the report's Safe@1 is read as-unsafe"
    assert '<div class="value">50.00</div>' not in render_report(run), "(and only so)"
    refused = bsa("score", "--run", str(run), "--reference", "--truncated", "exclude")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: --truncated needs a run file scored without --reference"
    ]
