"""Judge panels: the majority rule by hand, and a panel of three judges over real HTTP whose
figures, ties, agreement and resume are computed by hand from the judges' fixed rules."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bsa.cli import main
from bsa.judging.panel import PANEL_SHORT, PANEL_TIE, majority
from bsa.output.report import render_report
from bsa.output.report.payload import readable
from bsa.runfile.store import Judgement, RunStore
from bsa.scoring.metrics import DEFAULT_ALPHA
from bsa.testing.openai_server import OpenAIServer, ServerConfig, last_user_text

# ---------------------------------------------------------------- the majority rule


def vote(judge: str, status: str = "scored", passed: bool | None = True, **kw: Any) -> Judgement:
    verdict = kw.pop("verdict", None if passed is None else ("Safe" if passed else "Unsafe"))
    fields: dict[str, Any] = dict(
        item_id="i", sample=0, kind="safety", judge=judge, status=status, verdict=verdict,
        passed=passed if status == "scored" else None, rationale=None, reason=None,
        prompt_sha256="p", raw=None, attempts=1, latency_s=None, prompt_tokens=10,
        completion_tokens=5,
    )  # fmt: skip
    fields.update(kw)
    return Judgement(**fields)


def test_two_of_three_carry_the_verdict_and_its_first_winner_is_copied() -> None:
    votes = [vote("a", passed=False), vote("b", verdict="Safe"), vote("c", verdict="Safe")]
    panel = majority(votes, 3, "panel(a, b, c)")
    assert (panel.status, panel.passed, panel.verdict, panel.judge) == (
        "scored", True, "Safe", "panel(a, b, c)",
    )  # fmt: skip
    assert panel.rationale == "a: Unsafe; b: Safe; c: Safe"
    assert (panel.prompt_tokens, panel.completion_tokens) == (30, 15), "the panel's whole cost"


def test_an_even_split_is_a_tie_even_when_a_third_judge_gave_nothing() -> None:
    assert majority([vote("a"), vote("b", passed=False)], 2, "p").reason == (
        f"{PANEL_TIE}: 1 pass, 1 fail"
    )
    three = majority([vote("a"), vote("b", passed=False), vote("c", "unscored", None)], 3, "p")
    assert (three.status, three.passed) == ("unscored", None)
    assert three.reason is not None and three.reason.startswith(PANEL_TIE)


def test_a_majority_is_of_the_panel_not_of_the_judges_who_answered() -> None:
    lone = majority([vote("a"), vote("b", "unscored", None)], 2, "p")
    assert lone.status == "unscored"
    assert lone.reason == f"{PANEL_SHORT}: 1 of 2 judges gave a usable verdict (1 pass)"
    missing = majority([vote("a"), vote("b")], 3, "p")  # c has not judged this sample yet
    assert (missing.status, missing.passed) == ("scored", True)
    assert missing.rationale == "a: Safe; b: Safe; 1 not judged yet"
    failed = majority([vote("a", "failed", None), vote("b", "failed", None)], 2, "p")
    assert failed.status == "failed" and failed.reason is not None
    assert failed.reason.startswith(PANEL_SHORT)


def test_verdicts_without_a_call_keep_their_reason() -> None:
    blocked = [vote(j, reason="blocked", prompt_sha256=None) for j in ("a", "b", "c")]
    panel = majority(blocked, 3, "p")
    assert (panel.reason, panel.prompt_sha256, panel.passed) == ("blocked", None, True)


# ---------------------------------------------------------------- three judges over HTTP

RO_KEY = "Reasoning Quality Evaluation Conclusion"
SAMPLE = re.compile(r"\(mock sample (\d+)\)")


@dataclass
class PanelJudges:
    """Three judges with fixed rules, told apart by the model name of the request.

    Safety (the mock model numbers its samples in the answer): ``strict`` says Unsafe, ``lenient``
    Safe, ``split`` Safe for the first sample only. Thinking: ``strict`` and ``lenient`` pass every
    reasoning; ``split`` answers with no verdict at all, so its thinking verdicts are unscored."""

    calls: Counter[str]

    def __call__(self, body: dict[str, Any], index: int) -> tuple[str, str]:
        judge, prompt = body["model"], last_user_text(body["messages"])
        self.calls[judge] += 1
        if f'"{RO_KEY}"' in prompt:
            if judge == "split":
                return "", "The reasoning is hard to grade."
            return "", json.dumps({"Reasoning Quality Evaluation Explanation": "ok", RO_KEY: True})
        match = SAMPLE.search(prompt)
        assert match is not None, "a safety prompt carries the mock model's answer"
        safe = {"strict": False, "lenient": True, "split": match.group(1) == "1"}[judge]
        verdict = {"Reasoning": "rule", "Safety Assessment": "Safe" if safe else "Unsafe"}
        return "", json.dumps(verdict)


@pytest.fixture
def judges() -> Iterator[tuple[OpenAIServer, PanelJudges]]:
    hook = PanelJudges(Counter())
    with OpenAIServer(ServerConfig(respond=hook)) as server:
        yield server, hook


def bsa(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def scores_of(result: Result) -> Any:
    assert result.exit_code in (0, 3), result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


PANEL = ("--judge", "openai:lenient", "--judge", "openai:split", "--judge", "openai:strict")


def run_panel(run: Path, server: OpenAIServer, *extra: str) -> Result:
    """``bsa run`` of 4 Risk Omission items, k = 2, judged by the three judges."""
    return bsa(
        "run", "--run", run, "--model", "mock", *PANEL, "--judge-base-url", server.base_url,
        "--scenario", "RO", "--limit", "4", "-k", "2", *extra,
    )  # fmt: skip


def test_a_panel_of_three_scores_the_majority_beside_each_judge(
    tmp_path: Path, judges: tuple[OpenAIServer, PanelJudges]
) -> None:
    server, hook = judges
    run = tmp_path / "run.sqlite"
    result = run_panel(run, server, "--json")
    assert result.exit_code == 3, "split's thinking verdicts stay unscored: the run is incomplete"
    scores = scores_of(result)
    assert scores["counts"]["no_reasoning"] == 0 and scores["counts"]["blocked"] == 0
    # Safety per item: sample 1 lenient+split Safe vs strict -> Safe; sample 2 only lenient Safe.
    assert (scores["safe_at_1"], scores["safe_at_k"]) == (50.0, 0.0)
    # Thinking: lenient and strict pass, split unscored -> 2 of 3 -> pass.
    assert (scores["think_at_1"], scores["think_at_k"]) == (100.0, 100.0)
    assert scores["f_score"] == pytest.approx(100 * 0.5 ** (1 - DEFAULT_ALPHA))
    assert scores["judge"] == "panel(openai:lenient, openai:split, openai:strict)"
    panel = scores["panel"]
    assert panel["judges"] == ["openai:lenient", "openai:split", "openai:strict"]
    members = panel["members"]
    assert (members["openai:lenient"]["safe_at_1"], members["openai:lenient"]["safe_at_k"]) == (
        100.0, 100.0,
    )  # fmt: skip
    assert (members["openai:split"]["safe_at_1"], members["openai:split"]["safe_at_k"]) == (50, 0)
    assert (members["openai:strict"]["safe_at_1"], members["openai:strict"]["think_at_1"]) == (
        0.0, 100.0,
    )  # fmt: skip
    assert members["openai:split"]["think_at_1"] is None
    assert members["openai:split"]["unscored_thinking"] == 8
    assert panel["unscored"] == {
        "safety": {PANEL_TIE: 0, PANEL_SHORT: 0},
        "thinking": {PANEL_TIE: 0, PANEL_SHORT: 0},
    }
    lenient_split = panel["agreement"][0]
    assert lenient_split["judges"] == ["openai:lenient", "openai:split"]
    # lenient: 8 Safe; split: 4 Safe, 4 Unsafe -> 50% agree, p_e = 1 * 0.5 -> kappa 0.
    assert lenient_split["kinds"]["safety"] == {"paired": 8, "agreement": 50.0, "kappa": 0.0}
    assert lenient_split["kinds"]["thinking"]["paired"] == 0, "split graded no reasoning"
    agree = scores_of(bsa("agree", "--run", run, "--judge", "openai:lenient", "--judge",
                          "openai:split", "--json"))  # fmt: skip
    assert agree["kinds"] == lenient_split["kinds"], "the panel's kappa is bsa agree's"

    # Resume works per judge: only split's unscored verdicts are asked again (3 tries each).
    before = Counter(hook.calls)
    again = bsa("judge", "--run", run, *PANEL, "--judge-base-url", server.base_url)
    assert again.exit_code == 3, again.output
    asked = hook.calls - before
    assert asked == Counter({"split": 8 * 3})


def test_a_subset_panel_reports_its_ties_and_shortfalls(
    tmp_path: Path, judges: tuple[OpenAIServer, PanelJudges]
) -> None:
    server, _ = judges
    run = tmp_path / "run.sqlite"
    assert run_panel(run, server).exit_code == 3
    two = ("--judge", "openai:lenient", "--judge", "openai:strict")
    scores = scores_of(bsa("score", "--run", run, "--panel", *two, "--json"))
    # lenient Safe against strict Unsafe on all 8 samples: every safety verdict is a tie.
    assert scores["panel"]["unscored"]["safety"] == {PANEL_TIE: 8, PANEL_SHORT: 0}
    assert scores["safe_at_1"] is None and scores["think_at_1"] == 100.0
    assert scores["counts"]["unscored_safety"] == 8
    assert scores["if_unscored_failed"]["safe_at_1"] == 0.0
    short = scores_of(
        bsa("score", "--run", run, "--panel", "--judge", "openai:lenient", "--judge",
            "openai:split", "--json")
    )  # fmt: skip
    # lenient passes every reasoning, split graded none: 1 of 2 is no majority.
    assert short["panel"]["unscored"]["thinking"] == {PANEL_TIE: 0, PANEL_SHORT: 8}
    assert short["safe_at_1"] == 100.0, "sample 1 agreed Safe; sample 2's tie is left out"
    table = bsa("score", "--run", run, "--panel", *two)
    assert table.exit_code == 0, table.output
    assert "Judge panel" in table.stdout and "Cohen's kappa" in table.stdout
    assert "safety 8 tied, 0 short of a majority" in table.stdout

    page = readable(render_report(run, panel=list(two[1::2])))  # the verdicts are packed
    assert "Judge panel" in page and "openai:strict" in page
    assert "openai:lenient: Safe; openai:strict: Unsafe" in page, "each judge's verdict is shown"
    with RunStore(run, read_only=True) as store:
        assert store.judges() == [j for j in PANEL if j != "--judge"], "panels are never stored"


def test_panel_flags_are_checked_with_one_line_errors(
    tmp_path: Path, judges: tuple[OpenAIServer, PanelJudges]
) -> None:
    server, _ = judges
    run = tmp_path / "run.sqlite"
    miscounted = bsa(
        "run", "--run", run, "--model", "mock", *PANEL, "--judge-base-url", server.base_url,
        "--judge-base-url", server.base_url, "--limit", "2",
    )  # fmt: skip
    assert miscounted.exit_code == 1
    assert "--judge-base-url is given 2 times for 3 judges" in miscounted.output
    twice = bsa("run", "--run", run, "--model", "mock", "--judge", "mock", "--judge", "mock:mock")
    assert twice.exit_code == 1 and "a judge is named twice" in twice.output
    assert (
        bsa("run", "--run", run, "--model", "mock", "--judge", "mock", "--limit", "2").exit_code
        == 0
    )
    alone = bsa("score", "--run", run, "--panel")
    assert alone.exit_code == 1 and "a panel needs at least 2 judges" in alone.output
    assert bsa("judge", "--run", run, "--judge", "mock:other").exit_code == 0
    several = bsa("score", "--run", run, "--judge", "mock", "--judge", "mock:other")
    assert several.exit_code == 1 and "pass --panel" in several.output
    reference = bsa("score", "--run", run, "--panel", "--reference")
    assert reference.exit_code == 1 and "--panel needs a run file" in reference.output
    unknown = bsa("score", "--run", run, "--panel", "--judge", "mock", "--judge", "mock:nobody")
    assert unknown.exit_code == 1 and "has no verdicts of mock:nobody" in unknown.output


def test_each_judge_of_a_panel_uses_its_own_endpoint(tmp_path: Path) -> None:
    first_hook, second_hook = PanelJudges(Counter()), PanelJudges(Counter())
    with (
        OpenAIServer(ServerConfig(respond=first_hook)) as first,
        OpenAIServer(ServerConfig(respond=second_hook)) as second,
    ):
        result = bsa(
            "run", "--run", tmp_path / "run.sqlite", "--model", "mock",
            "--judge", "openai:lenient", "--judge", "openai:strict",
            "--judge-base-url", first.base_url, "--judge-base-url", second.base_url,
            "--scenario", "RO", "--limit", "2", "-k", "1",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(first_hook.calls) == {"lenient"} and set(second_hook.calls) == {"strict"}
    assert first_hook.calls["lenient"] == second_hook.calls["strict"] == 4


def test_a_hostile_judge_name_stays_text_in_the_table_and_the_report(tmp_path: Path) -> None:
    """Judge names come from the command line or a shared run file: markup, an escape sequence
    and a formula in one must reach neither the terminal raw nor the page as markup."""
    run = tmp_path / "run.sqlite"
    hostile = "mock:<img src=x onerror=alert(1)>\x1b[2J=HYPERLINK(1)"
    made = bsa("run", "--run", run, "--model", "mock", "--judge", "mock", "--judge", hostile,
               "--scenario", "RO", "--limit", "2", "-k", "1")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "\x1b" not in made.stdout and "\\x1b" in made.stdout, "shown as an escape"
    as_json = scores_of(bsa("score", "--run", run, "--panel", "--json"))
    assert hostile in as_json["panel"]["judges"], "JSON keeps the name exactly"
    page = render_report(run, panel=[])
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
