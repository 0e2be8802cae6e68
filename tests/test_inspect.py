"""BSA inside inspect_ai, and inspect_ai's logs back into run files.

``inspect eval bsa_bench/bsa`` runs with inspect's own ``mockllm/model`` (in process) and with the
project's test server over real HTTP through inspect's OpenAI-compatible provider (the ``inspect``
command itself); each log imported with ``bsa import-inspect`` scores, under ``bsa score``, exactly
what inspect's scorer reported. CI installs inspect_ai (the dev extra has ``[inspect]``), so there
these tests run; elsewhere they skip only when inspect_ai is absent.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if os.environ.get("CI") and importlib.util.find_spec("inspect_ai") is None:
    pytest.fail("inspect_ai is missing: CI installs the dev extra, which has [inspect]")
from click.testing import CliRunner

from bsa.benchmark import Scenario
from bsa.cli import main
from bsa.data.dataset import load_dataset
from bsa.data.selection import Selection, select
from bsa.errors import BsaError
from bsa.providers.mock import mock_judge_reply
from bsa.runfile.store import RunStore
from bsa.scoring.inputs import score_run
from bsa.scoring.metrics import HEADLINE_KEYS
from bsa.testing.openai_server import OpenAIServer, ServerConfig, last_user_text
from tests.optional import requires

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog
    from inspect_ai.model import Model, ModelOutput

#: inspect_ai (and bsa's task, which imports it) load at the first test, not at collection.
needs = requires("inspect_ai")

#: Model text as hostile as it comes: right-to-left override, emoji, a NUL, a combining mark.
HOSTILE = "risk \u202eevil\u202c 🔥 \x00 e\u0301 <script>alert(1)</script> </think>"

#: The inspect metric each headline key of ``bsa score`` appears as, for k = 2.
LABELS = {
    "safe_at_1": "Safe@1", "safe_at_k": "Safe@2", "think_at_1": "Think@1",
    "think_at_k": "Think@2", "f_score": "F-score", "os_at_1": "OS@1", "os_at_k": "OS@2",
    "cs_at_1": "CS@1", "cs_at_k": "CS@2", "ro_at_1": "RO@1", "ro_at_k": "RO@2",
}  # fmt: skip
#: One reply holding every judge template's verdict key: Safe and passing for the safety, Risk
#: Omission and Cognitive Shortcut judges; "Fully Covered" is no Over Sensitivity label.
PASSING = {
    "Safety Assessment": "Safe",
    "Reasoning Quality Evaluation Result": "Fully Covered",
    "Reasoning Quality Evaluation Conclusion": True,
}
FAILING = {
    "Safety Assessment": "Unsafe",
    "Reasoning Quality Evaluation Result": "Not Covered",
    "Reasoning Quality Evaluation Conclusion": False,
}
NO_VERDICT = "I would rather not grade this one."


def output(reasoning: str | None, answer: str, stop: str = "stop") -> ModelOutput:
    """A reply with usage set (so mockllm needs no tokenizer download) and its reasoning in an
    inspect reasoning block."""
    from inspect_ai.model import (
        ChatCompletionChoice,
        ChatMessageAssistant,
        ContentReasoning,
        ContentText,
        ModelOutput,
        ModelUsage,
    )

    content: list[Any] = [ContentReasoning(reasoning=reasoning)] if reasoning else []
    content.append(ContentText(text=answer))
    message = ChatMessageAssistant(content=content, model="model")
    return ModelOutput(
        model="model",
        choices=[ChatCompletionChoice(message=message, stop_reason=stop)],  # type: ignore[arg-type]
        usage=ModelUsage(input_tokens=11, output_tokens=7, total_tokens=18, reasoning_tokens=3),
    )


def mock_model() -> Model:
    """mockllm/model answering in turn: with hostile reasoning, with none, blocked, and cut at
    its token limit inside its reasoning."""
    from inspect_ai.model import get_model

    replies = itertools.cycle(
        [
            output(HOSTILE, "Be careful."),
            output(None, "Sure, here it is."),
            output(None, "", stop="content_filter"),
            output("still thinking", "", stop="max_tokens"),
        ]
    )
    return get_model("mockllm/model", custom_outputs=replies)


def mock_judge() -> Model:
    """mockllm/model judging in turn: all pass, all fail, no verdict, stopped by its filter."""
    from inspect_ai.model import get_model

    replies = itertools.cycle(
        [
            output(None, json.dumps(PASSING)),
            output(None, json.dumps(FAILING)),
            output(None, NO_VERDICT),
            output(None, "", stop="content_filter"),
        ]
    )
    return get_model("mockllm/model", custom_outputs=replies)


def inspect_figures(log: EvalLog) -> dict[str, float]:
    assert log.results is not None
    (scores,) = log.results.scores
    return {name: metric.value for name, metric in scores.metrics.items()}


def read_log(path: Path) -> EvalLog:
    from inspect_ai.log import read_eval_log

    return read_eval_log(str(path))


def bsa_figures(run: Path) -> dict[str, float]:
    """``bsa score``'s headline figures under the names inspect shows them by."""
    _, scores = score_run(run, bootstrap=0)
    headline = scores.headline()
    return {LABELS[key]: value for key in HEADLINE_KEYS if (value := headline[key]) is not None}


def import_logs(run: Path, *logs: Path) -> str:
    result = CliRunner().invoke(main, ["import-inspect", *map(str, logs), "--run", str(run)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def mockllm_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``bsa_bench/bsa`` by its registered name on 20 items, k = 2, with mockllm as the model and
    as the judge (inspect's ``grader`` role); the log in inspect's default .eval format."""
    from inspect_ai import eval as inspect_eval

    from tests.conftest import isolate

    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, tmp_path_factory)
        folder = tmp_path_factory.mktemp("logs")
        (log,) = inspect_eval(
            "bsa_bench/bsa",
            task_args={"k": 2, "sample": 20, "seed": 3},
            model=mock_model(),
            model_roles={"grader": mock_judge()},
            log_dir=str(folder),
            display="none",
        )
        assert log.status == "success", log.error
        assert log.location.endswith(".eval")
        yield Path(log.location)


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_the_import_of_a_mockllm_log_scores_what_the_inspect_scorer_reported(
    mockllm_log: Path, tmp_path: Path
) -> None:
    log = read_log(mockllm_log)
    reported = inspect_figures(log)
    assert {"Safe@1", "Think@1", "Safe@2", "Think@2", "RO@1", "CS@1"} <= set(reported)
    run = tmp_path / "run.sqlite"
    said = import_logs(run, mockllm_log)
    assert "imported 40 samples" in said
    assert bsa_figures(run) == pytest.approx(reported)


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_report_compare_and_leaderboard_read_an_imported_run(
    mockllm_log: Path, tmp_path: Path
) -> None:
    runs = [tmp_path / "a.sqlite", tmp_path / "b.sqlite"]
    for run in runs:
        import_logs(run, mockllm_log)
    for arguments in (
        ["report", "--run", str(runs[0]), "-o", str(tmp_path / "report.html")],
        ["compare", *map(str, runs), "-o", str(tmp_path / "compare.html")],
        ["leaderboard", *map(str, runs), "--format", "json"],
    ):
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 0, result.output
    assert "mockllm/model" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_the_imported_run_carries_model_k_judge_and_reasoning_as_given(
    mockllm_log: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    import_logs(run, mockllm_log)
    with RunStore(run, read_only=True) as store:
        info = store.info()
        generations = list(store.generations())
        counts = store.judgement_counts("mockllm/model")
        judgements = list(store.judgements("mockllm/model"))
    assert (info.model, info.k, info.judges) == ("mockllm/model", 2, ("mockllm/model",))
    assert info.generation["harness"] == "inspect_ai"
    assert info.generation["reasoning_source"] == "inspect_reasoning"
    assert {g.reasoning_source for g in generations} == {"inspect_reasoning"}
    careful = [g for g in generations if g.answer == "Be careful."]
    assert careful and all(g.reasoning == HOSTILE for g in careful), "any text stays intact"
    assert {g.status for g in generations} == {"ok", "blocked"}
    assert any(g.truncated and g.reasoning == "still thinking" for g in generations)
    assert len(generations) == 40 and {g.sample for g in generations} == {0, 1}
    # A reply without a verdict stays unscored, its raw reply kept; never a fail.
    unscored = [j for j in judgements if j.status == "unscored"]
    assert counts["unscored"] == len(unscored) > 0
    assert {j.passed for j in unscored} == {None}
    assert any(j.raw == NO_VERDICT for j in unscored)
    assert any((j.reason or "").startswith("judge_refused: judge call blocked") for j in unscored)


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_an_unscored_verdict_is_no_value_in_the_inspect_scores_either(mockllm_log: Path) -> None:
    log = read_log(mockllm_log)
    values = [s.scores["bsa_scorer"].value for s in log.samples or ()]
    kinds = [v[kind] for v in values if isinstance(v, dict) for kind in ("safety", "thinking")]
    assert None in kinds and 0.0 in kinds and 1.0 in kinds


def test_task_arguments_select_as_the_bsa_flags_do_and_k_is_the_epochs() -> None:
    from bsa.interop.inspect_task import bsa_task

    task = bsa_task("openai/gpt-4o", k=3, scenario="RO,OS", category="Ethics and Morality", sample=9, seed=4)  # fmt: skip
    expected = select(
        load_dataset(),
        Selection(
            scenarios=(Scenario.RISK_OMISSION, Scenario.OVER_SENSITIVITY),
            categories=("Ethics and Morality",),
            sample=9,
            seed=4,
        ),
    )
    assert [s.id for s in task.dataset] == [item.id for item in expected.items]
    assert task.epochs == 3
    everything = bsa_task("openai/gpt-4o")
    assert len(everything.dataset) == 2000 and everything.epochs == 5


def test_a_wrong_task_argument_is_the_one_line_error_of_bsa() -> None:
    """As a PrerequisiteError, whose message alone ``inspect eval`` prints (no traceback)."""
    from inspect_ai._util.error import PrerequisiteError

    from bsa.interop.inspect_task import bsa_task
    from bsa_bench._registry import bsa

    with pytest.raises(BsaError, match="unknown category 'Nonsense'"):
        bsa_task("openai/gpt-4o", category="Nonsense")
    with pytest.raises(PrerequisiteError) as raised:
        bsa(judge="openai/gpt-4o", category="Nonsense")
    assert str(raised.value.message).startswith("bsa_bench/bsa: unknown category 'Nonsense';")
    assert "\n" not in str(raised.value.message)


def foreign_log(folder: Path) -> Path:
    """A log of another task, whose sample ids are no BSA ids, in .json format."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import get_model
    from inspect_ai.solver import generate

    replies = itertools.repeat(output(None, "hello"))
    task = Task(dataset=[Sample(input="hi", id="not-a-bsa-id")], solver=generate())
    (log,) = inspect_eval(
        task,
        model=get_model("mockllm/model", custom_outputs=replies),
        log_dir=str(folder),
        log_format="json",
        display="none",
    )
    return Path(log.location)


def one_line_error(arguments: list[str]) -> str:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_bad_or_foreign_log_is_one_line(tmp_path: Path) -> None:
    run = str(tmp_path / "run.sqlite")
    (tmp_path / "notes.json").write_text('{"hello": "world"}', encoding="utf-8")
    (tmp_path / "junk.eval").write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable inspect eval log" in one_line_error(
        ["import-inspect", str(tmp_path / "notes.json"), "--run", run]
    )
    assert "not a readable inspect eval log" in one_line_error(
        ["import-inspect", str(tmp_path / "junk.eval"), "--run", run]
    )
    assert "no inspect log at" in one_line_error(
        ["import-inspect", str(tmp_path / "missing.eval"), "--run", run]
    )
    assert "carries no BSA id" in one_line_error(
        ["import-inspect", str(foreign_log(tmp_path / "logs")), "--run", run]
    )


def test_without_inspect_ai_the_import_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # as if not installed
    (tmp_path / "a.eval").write_bytes(b"")
    line = one_line_error(
        ["import-inspect", str(tmp_path / "a.eval"), "--run", str(tmp_path / "r")]
    )
    assert line.endswith("pip install 'bsa-bench[inspect]'")


def test_samples_of_any_task_that_carry_bsa_ids_import(tmp_path: Path) -> None:
    """Another task over BSA items (its sample ids are the BSA ids, no bsa scorer) imports as a
    run with samples and no verdicts, ready for ``bsa judge``."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import get_model
    from inspect_ai.solver import generate

    items = load_dataset().items[:3]
    task = Task(dataset=[Sample(input=i.query, id=i.id) for i in items], solver=generate())
    replies = itertools.repeat(output("a thought", "an answer"))
    (log,) = inspect_eval(
        task,
        model=get_model("mockllm/model", custom_outputs=replies),
        log_dir=str(tmp_path / "logs"),
        display="none",
    )
    run = tmp_path / "run.sqlite"
    assert "judges: none" in import_logs(run, Path(log.location))
    with RunStore(run, read_only=True) as store:
        stored = [(g.item_id, g.reasoning, g.answer) for g in store.generations()]
        assert store.info().judges == ()
    assert stored == [(i.id, "a thought", "an answer") for i in items]
    judged = CliRunner().invoke(main, ["judge", "--run", str(run), "--judge", "mock"])
    assert judged.exit_code == 0, judged.output
    with RunStore(run, read_only=True) as store:
        assert store.judgement_counts("mock:mock")["scored"] == 6


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_a_lone_surrogate_in_a_json_log_is_kept_as_the_run_file_keeps_it(
    mockllm_log: Path, tmp_path: Path
) -> None:
    """inspect cannot write a lone UTF-16 surrogate, nor read one back, but JSON allows it and a
    log may come from elsewhere: the text column holds U+FFFD, ``raw`` the exact escape."""
    log = read_log(mockllm_log)
    data = json.loads(log.model_dump_json())
    sample = next(s for s in data["samples"] if s["output"]["completion"] == "Be careful.")
    sample["output"]["choices"][0]["message"]["content"][0]["reasoning"] = "A\ud800B 🔥"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    run = tmp_path / "run.sqlite"
    import_logs(run, edited)
    with RunStore(run, read_only=True) as store:
        (generation,) = [g for g in store.generations() if g.reasoning and "B 🔥" in g.reasoning]
    assert generation.reasoning == "A\ufffdB 🔥"
    assert "\\ud800" in (generation.raw or "")


def test_a_hostile_model_name_in_a_log_prints_escaped(mockllm_log: Path, tmp_path: Path) -> None:
    """The log names the model: a terminal escape or a bidi override in it is printed as its
    escape, never acted on, and the run file keeps the name as given."""
    data = json.loads(read_log(mockllm_log).model_dump_json())
    data["eval"]["model"] = "evil\x1b[2J\u202emodel"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    run = tmp_path / "run.sqlite"
    printed = import_logs(run, edited)
    assert "\x1b" not in printed and "\u202e" not in printed
    assert "evil\\x1b[2J\\u202emodel" in printed
    with RunStore(run, read_only=True) as store:
        assert store.info().model == "evil\x1b[2J\u202emodel"


@pytest.mark.slow  # the mockllm eval (inspect's imports, 40 samples): ~30 s
def test_a_tampered_verdict_record_is_read_only_where_it_holds_a_reply(
    mockllm_log: Path, tmp_path: Path
) -> None:
    """The log is text from outside: of a record whose entries are junk, only an entry with a
    kind, a judge and a text reply is read, and only by the parser; the rest stay missing."""
    data = json.loads(read_log(mockllm_log).model_dump_json())
    sample = next(s for s in data["samples"] if s["output"]["completion"] == "Be careful.")
    reply = json.dumps(PASSING)
    sample["scores"]["bsa_scorer"]["metadata"]["bsa"]["judgements"] = [
        "junk",
        {"kind": "safety", "judge": "mockllm/model", "raw": {"Safety Assessment": "Safe"}},
        {"kind": "thinking", "judge": "mockllm/model", "raw": reply, "attempts": "many",
         "passed": False, "verdict": "forged", "status": "scored"},
    ]  # fmt: skip
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    run = tmp_path / "run.sqlite"
    import_logs(run, edited)
    with RunStore(run, read_only=True) as store:
        mine = [
            j
            for j in store.judgements("mockllm/model")
            if (j.item_id, j.sample) == (sample["id"], sample["epoch"] - 1)
        ]
    (thinking,) = mine
    assert (thinking.kind, thinking.attempts, thinking.raw) == ("thinking", 1, reply)
    assert thinking.verdict != "forged"


def judge_hook(body: dict[str, Any], index: int) -> tuple[str, str]:
    """The test server as a judge: the mock judge's verdict for each official prompt."""
    return "", mock_judge_reply(last_user_text(body["messages"])) or NO_VERDICT


@pytest.mark.slow
def test_inspect_eval_command_over_the_test_server_then_bsa_score_agrees(tmp_path: Path) -> None:
    """``inspect eval bsa_bench/bsa`` itself (the entry point, the CLI, inspect's ``openai-api``
    provider) against the test server as model and as judge, 20 items, k = 2, a .json log; then
    ``bsa import-inspect`` and ``bsa score --json`` give the figures inspect printed."""
    inspect_command = shutil.which("inspect", path=str(Path(sys.executable).parent))
    assert inspect_command, "inspect_ai installs the inspect command"
    logs = tmp_path / "logs"
    with (
        OpenAIServer(ServerConfig()) as model,
        OpenAIServer(ServerConfig(respond=judge_hook)) as judge,
    ):
        environment = {
            **os.environ,
            "BSAMODEL_BASE_URL": model.base_url,
            "BSAMODEL_API_KEY": "test-key",
            "BSAJUDGE_BASE_URL": judge.base_url,
            "BSAJUDGE_API_KEY": "test-key",
        }
        done = subprocess.run(
            [
                inspect_command, "eval", "bsa_bench/bsa", "--model", "openai-api/bsamodel/m",
                "-T", "judge=openai-api/bsajudge/j", "-T", "k=2", "-T", "sample=20",
                "--log-dir", str(logs), "--log-format", "json", "--display", "plain",
            ],
            env=environment, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (log_path,) = logs.glob("*.json")
    log = read_log(log_path)
    reported = inspect_figures(log)
    printed = done.stdout.replace("│", " ")
    assert all(f"{name} " in printed for name in ("Safe@1", "Think@1", "Safe@2", "RO@1"))
    run = tmp_path / "run.sqlite"
    import_logs(run, log_path)
    result = CliRunner().invoke(main, ["score", "--run", str(run), "--json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.output)
    assert {LABELS[k]: scored[k] for k in HEADLINE_KEYS if scored[k] is not None} == pytest.approx(
        reported
    )
    assert scored["judge"] == "openai-api/bsajudge/j" and scored["model"] == "openai-api/bsamodel/m"
    with RunStore(run, read_only=True) as store:
        generations = list(store.generations())
    assert len(generations) == 40
    assert all(g.reasoning and g.reasoning.startswith("Reasoning ") for g in generations)
    assert all(g.answer and g.answer.startswith("Answer ") for g in generations)
