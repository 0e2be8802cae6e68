"""The OpenAI Responses provider against a loopback Responses API (tests/fake_openai_responses.py).

The contract first (request shape, how output items become reasoning and answer, each error
class), then the real pipeline: generation with resume, the provider as the judge, and how scores
mark a run whose reasoning is a summary.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bsa.cli import main
from bsa.errors import BsaError
from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.mock import MockProvider
from bsa.providers.openai_responses import OpenAIResponses
from bsa.scoring.reasoning_kind import SUMMARY_NOTE
from bsa.types import Decoding, Message
from tests.fake_openai_responses import (
    ENCRYPTED,
    TEST_KEY,
    FakeResponses,
    error,
    failed,
    output_text,
    response,
    summary,
)
from tests.provider_contract import (
    QUESTION,
    Vendor,
    assert_raised_alone,
    bsa_prompts,
    fake_fixture,
    generate_with,
    judge_with,
)
from tests.scripted_fake import Reply

VENDOR = Vendor(OpenAIResponses, "o4-mini-test", TEST_KEY, "OPENAI_API_KEY", path="/v1")
make_provider, ask, answer_with = VENDOR.make_provider, VENDOR.ask, VENDOR.answer_with
run_generate = VENDOR.run_generate
fake = fake_fixture(FakeResponses)


# ---------------------------------------------------------------- the request


def test_request_asks_for_a_summary_and_sends_no_sampling_settings(fake: FakeResponses) -> None:
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20, max_tokens=4000, seed=3)
    ask(fake.base_url, Message("system", "Be safe."), Message("user", QUESTION), decoding=decoding)
    (received,) = fake.requests
    assert received.body == {
        "model": "o4-mini-test",
        "input": [{"role": "system", "content": "Be safe."}, {"role": "user", "content": QUESTION}],
        "reasoning": {"summary": "auto"},
        "store": False,
        "max_output_tokens": 4000,
    }
    assert received.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_effort_and_a_detailed_summary(fake: FakeResponses) -> None:
    ask(fake.base_url, decoding=Decoding(reasoning_effort="high"), reasoning_summary="detailed")
    assert fake.requests[0].body["reasoning"] == {"summary": "detailed", "effort": "high"}


def test_an_unknown_summary_mode_is_refused() -> None:
    with pytest.raises(BsaError, match="--reasoning-summary 'short': choose auto or detailed"):
        make_provider("http://127.0.0.1:9", reasoning_summary="short")


def test_several_samples_per_request_are_refused(fake: FakeResponses) -> None:
    VENDOR.assert_refuses_several_samples(fake)


# ---------------------------------------------------------------- the reply


def test_summary_parts_are_the_reasoning(fake: FakeResponses) -> None:
    reply = response(
        summary(" **Weighing** the risks. ", "Then the answer."),
        output_text("The ", "answer."),
    )
    completion = answer_with(fake, reply)
    assert completion.reasoning == "**Weighing** the risks.\n\nThen the answer."
    assert completion.reasoning_source == "reasoning_summary"
    assert completion.answer == "The answer."
    assert (completion.finish_reason, completion.truncated, completion.blocked) == (
        "stop",
        False,
        False,
    )
    assert completion.raw["output"][0]["type"] == "reasoning"


def test_encrypted_reasoning_is_recorded_as_unavailable(fake: FakeResponses) -> None:
    completion = answer_with(fake, response(summary(encrypted=ENCRYPTED), output_text("Answer.")))
    assert (completion.reasoning, completion.reasoning_source) == (None, "reasoning_encrypted")
    assert completion.raw["output"][0]["encrypted_content"] == ENCRYPTED, "kept raw"
    assert completion.answer == "Answer."


def test_a_reply_without_reasoning_items_has_none(fake: FakeResponses) -> None:
    completion = answer_with(fake, response(output_text("Just an answer.")))
    assert (completion.reasoning, completion.reasoning_source) == (None, "none")


def test_a_refusal_part_is_the_models_answer(fake: FakeResponses) -> None:
    completion = answer_with(fake, response(output_text(refusal="I can't help with that.")))
    assert (completion.answer, completion.blocked) == ("I can't help with that.", False)


def test_usage_counts_reasoning_tokens(fake: FakeResponses) -> None:
    reply = response(output_text("Hi."), input_tokens=10, output_tokens=300, reasoning_tokens=250)
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (10, 300, 250)


def test_usage_keeps_cached_input_tokens(fake: FakeResponses) -> None:
    reply = response(output_text("Hi."), input_tokens=3000, cached_tokens=2048)
    usage = answer_with(fake, reply).usage
    assert (usage.prompt_tokens, usage.cached_tokens) == (3000, 2048)


def test_max_output_tokens_is_flagged_truncated(fake: FakeResponses) -> None:
    reply = response(summary("Thinking on and on"), incomplete="max_output_tokens")
    completion = answer_with(fake, reply)
    assert (completion.finish_reason, completion.truncated) == ("length", True)
    assert (completion.answer, completion.reasoning) == ("", "Thinking on and on")


def test_content_filter_is_blocked_not_text(fake: FakeResponses) -> None:
    reply = response(summary("Some"), output_text("Partial"), incomplete="content_filter")
    completion = answer_with(fake, reply)
    assert completion.blocked
    assert (completion.answer, completion.reasoning) == ("", None)


def test_a_malformed_body_is_transient(fake: FakeResponses) -> None:
    with pytest.raises(TransientError, match="malformed"):
        answer_with(fake, Reply(200, b"{not json"))
    with pytest.raises(TransientError, match="malformed"):
        answer_with(fake, Reply(200, {"object": "response"}))


@pytest.mark.parametrize(
    ("code", "kind"),
    [("server_error", TransientError), ("rate_limit_exceeded", RateLimited),
     ("invalid_prompt", TransientError)],
)  # fmt: skip
def test_a_failed_response_is_retried(
    fake: FakeResponses, code: str, kind: type[ProviderError]
) -> None:
    """The request was accepted, so a failure after it never stops the run."""
    with pytest.raises(kind) as caught:
        answer_with(fake, failed(code, "The model failed to finish."))
    assert type(caught.value) is kind
    assert "failed to finish" in caught.value.message


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (error(500, "The server had an error", "server_error"), TransientError, "500"),
        (error(503, "Overloaded", "server_error"), Overloaded, "503"),
        (error(401, "Incorrect API key"), FatalError, "$OPENAI_API_KEY"),
        (error(403, "Not allowed for this org"), FatalError, "o4-mini-test"),
        (error(400, "Invalid prompt: flagged", code="content_filter"), ContentBlocked, "flagged"),
        (
            error(400, "Your input exceeds the context window", code="context_length_exceeded"),
            ContextOverflow,
            "context window",
        ),
        (error(429, "You exceeded your current quota", code="insufficient_quota"), FatalError,
         "quota"),
        (error(400, "Unsupported parameter: 'x'."), FatalError, "HTTP 400"),
    ],
)  # fmt: skip
def test_error_classes(
    fake: FakeResponses, reply: Reply, kind: type[ProviderError], words: str
) -> None:
    assert_raised_alone(lambda: answer_with(fake, reply), kind, words)


def test_rate_limit_carries_retry_after(fake: FakeResponses) -> None:
    with pytest.raises(RateLimited) as caught:
        answer_with(fake, error(429, "Slow down", code="rate_limit_exceeded", retry_after="7"))
    assert caught.value.retry_after == 7.0


def test_a_wrong_key_and_an_unknown_model_are_fatal(fake: FakeResponses) -> None:
    with pytest.raises(FatalError, match=r"HTTP 401.*\$OPENAI_API_KEY"):
        ask(fake.base_url, api_key="sk-wrong")
    fake.models = ("o3",)
    with pytest.raises(FatalError, match="'o4-mini-test'"):
        ask(fake.base_url)


def test_a_hang_times_out_as_transient(fake: FakeResponses) -> None:
    with pytest.raises(TransientError, match="timed out"):
        answer_with(fake, Reply(200, b"{}", delay=1.0), timeout=0.2)


# ---------------------------------------------------------------- the pipeline


def test_generation_stores_summaries_and_resumes_without_calls(
    fake: FakeResponses, tmp_path: Path
) -> None:
    run, prompts = tmp_path / "run.sqlite", bsa_prompts()
    fake.script(prompts[0].query, error(429, "Slow down", code="rate_limit_exceeded",
                                        retry_after="0"))  # fmt: skip
    for sample in VENDOR.generated_and_resumed(fake, run, prompts, calls=7):  # and one retry
        assert sample.reasoning_source == "reasoning_summary"
        assert json.loads(sample.raw or "{}")["output"][0]["type"] == "reasoning"


def test_the_provider_judges_a_run(fake: FakeResponses, tmp_path: Path) -> None:
    VENDOR.judged_run(fake, tmp_path / "run.sqlite", "o3-judge", "openai-responses:o3-judge")


# ---------------------------------------------------------------- marked as summary-graded


def bsa_cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def judged_run(fake: FakeResponses, tmp_path: Path) -> Path:
    run = tmp_path / "summaries.sqlite"
    run_generate(fake, run, bsa_prompts())
    judge_with(make_provider(fake.base_url, model="o3-judge"), run)
    return run


def test_scores_report_and_leaderboard_mark_a_summary_graded_run(
    fake: FakeResponses, tmp_path: Path
) -> None:
    run = judged_run(fake, tmp_path)
    scores = json.loads(bsa_cli("score", "--run", run, "--json"))
    assert scores["reasoning_kind"] == "summary"
    assert SUMMARY_NOTE in scores["warnings"]
    assert " ".join(SUMMARY_NOTE.split()[:6]) in bsa_cli("score", "--run", run)
    bsa_cli("report", "--run", run, "-o", tmp_path / "report.html")
    assert html.escape(SUMMARY_NOTE) in (tmp_path / "report.html").read_text(encoding="utf-8")
    (row,) = json.loads(bsa_cli("leaderboard", run, "--format", "json"))["rows"]
    assert row["reasoning_kind"] == "summary"
    assert "the thinking judge graded summaries, not traces" in bsa_cli("leaderboard", run)


def test_a_run_graded_on_traces_carries_no_such_mark(tmp_path: Path) -> None:
    run = tmp_path / "traces.sqlite"
    prompts = bsa_prompts(1)
    generate_with(MockProvider("mock"), run, prompts, k=1)
    judge_with(MockProvider("mock"), run)
    scores = json.loads(bsa_cli("score", "--run", run, "--json"))
    assert (scores["reasoning_kind"], SUMMARY_NOTE in scores["warnings"]) == ("trace", False)
    assert "summaries" not in bsa_cli("leaderboard", run)


def test_the_flags_reach_the_responses_api(
    fake: FakeResponses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key comes from $OPENAI_API_KEY and --base-url points it anywhere, as for openai:."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    questions = tmp_path / "q.csv"
    questions.write_text(f"id,question\nq1,{QUESTION}\n", encoding="utf-8")
    bsa_cli("generate", "--run", tmp_path / "run.sqlite", "--input", questions, "-k", "1",
            "--model", "openai-responses:o3", "--base-url", f"{fake.base_url}/v1",
            "--reasoning-summary", "detailed", "--reasoning-effort", "high")  # fmt: skip
    assert [r.body["reasoning"] for r in fake.requests] == [
        {"summary": "detailed", "effort": "high"}
    ]
    refused = CliRunner().invoke(main, ["generate", "--run", str(tmp_path / "other.sqlite"),
        "--input", str(questions), "--model", "openai-responses:o3", "--base-url",
        f"{fake.base_url}/v1", "--reasoning-summary", "brief"])  # fmt: skip
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert refused.output.strip().splitlines()[-1] == (
        "error: --reasoning-summary 'brief': choose auto or detailed"
    )
    assert len(fake.requests) == 1
