"""Wire quirks of real OpenAI-compatible servers (issue 9), each produced by the test server over
real HTTP: errors inside a stream, streams cut before their finish reason, list-shaped content,
other servers' context-overflow wordings, a 422 for an unknown field, quota behind a gateway, and
an endpoint that ignores ``n``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from bsa.engine.generate import Execution, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy, RunAborted
from bsa.judging.judge import reply_text
from bsa.judging.verdicts import SAFETY_SPEC, parse_safety_verdict
from bsa.providers import ProviderOptions, create_provider
from bsa.providers.base import ContextOverflow, FatalError, RateLimited
from bsa.providers.connection import Connection
from bsa.providers.context_overflow import is_context_overflow
from bsa.providers.openai_compat import OpenAICompatible
from bsa.testing.openai_server import OpenAIServer, ServerConfig, expected_texts
from bsa.types import Decoding, Message, Request
from tests.bsa_command import bsa_in_process
from tests.loopback import serve_loopback
from tests.test_generate import prompts, run_generate, stored
from tests.test_generate_cli import generate_args, write_questions

CONFIG = ServerConfig(reasoning_chars=120, answer_chars=40)


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(CONFIG) as running:
        yield running


def texts(question: str, index: int = 0) -> tuple[str, str]:
    return expected_texts(question, index, CONFIG)


# ---------------------------------------------------------------- item 2: errors inside a stream


def test_a_filter_error_inside_a_stream_is_blocked(server: OpenAIServer, tmp_path: Path) -> None:
    question = "Risky question [[fault:stream_error_filter]]"
    report = run_generate(
        server, tmp_path / "run.sqlite", prompts("Fine", question), stream=True, concurrency=1
    )
    assert report.status == {"ok": 1, "blocked": 1, "failed": 0}
    sample = stored(tmp_path / "run.sqlite")["q1", 0]
    assert sample.status == "blocked" and sample.answer is None
    assert "inappropriate content" in sample.error
    assert server.requests_for(question) == 1


def test_other_errors_inside_a_stream_are_retried_then_failed(
    server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    flaky, broken = "Flaky [[fault:stream_error:2]]", "Broken [[fault:stream_error:3]]"
    report = run_generate(server, run, prompts("Fine", flaky, broken), stream=True, concurrency=1)
    assert report.status == {"ok": 2, "blocked": 0, "failed": 1}
    samples = stored(run)
    assert (samples["q1", 0].attempts, samples["q1", 0].answer) == (3, texts(flaky)[1].strip())
    assert samples["q2", 0].status == "failed"
    assert "Provider disconnected unexpectedly" in samples["q2", 0].error
    rerun = run_generate(server, run, prompts("Fine", flaky, broken), stream=True)
    assert rerun.status["ok"] == 3 and rerun.counters.total == 1


# ---------------------------------------------------------------- item 5: no finish_reason


@pytest.mark.parametrize("fault", ["stream_cut", "stream_cut_done"])
def test_a_stream_cut_before_its_finish_reason_is_retried(
    server: OpenAIServer, tmp_path: Path, fault: str
) -> None:
    run = tmp_path / "run.sqlite"
    once, always = f"Cut once [[fault:{fault}]]", f"Cut always [[fault:{fault}:*]]"
    report = run_generate(server, run, prompts("Fine", once, always), stream=True, concurrency=1)
    assert report.status == {"ok": 2, "blocked": 0, "failed": 1}
    samples = stored(run)
    assert samples["q1", 0].attempts == 2
    assert samples["q1", 0].answer == texts(once)[1].strip(), "the whole answer, not the cut half"
    assert samples["q2", 0].answer is None
    assert "without a finish_reason" in samples["q2", 0].error
    assert server.requests_for(always) == 3


class _BrokenEventServer(BaseHTTPRequestHandler):
    """A stream whose second event's data is not JSON (a proxy that cut an event in half)."""

    def do_POST(self) -> None:
        broken = b"Broken" in self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        first = {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
        last = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        second = '{"id": "c", "cho' if broken else json.dumps(last)
        self.wfile.write(f"data: {json.dumps(first)}\n\ndata: {second}\n\n".encode())

    def log_message(self, *args: object) -> None:
        pass


def test_a_stream_event_that_is_not_json_is_retried_then_failed(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    with serve_loopback(_BrokenEventServer) as url:
        provider = create_provider(
            "openai:m", ProviderOptions(base_url=f"{url}/v1", settings={"stream": True})
        )
        report = asyncio.run(
            generate(run, prompts("Fine", "Broken"), provider, GenerationSettings("openai:m"),
                     Execution(k=1, concurrency=1,
                               policy=RetryPolicy(max_attempts=2, base_delay_s=0.0)))
        )  # fmt: skip
    assert report.status == {"ok": 1, "blocked": 0, "failed": 1}
    assert stored(run)["q0", 0].answer == "Hel"
    sample = stored(run)["q1", 0]
    assert sample.attempts == 2 and "malformed stream event" in (sample.error or "")


def test_a_body_without_finish_reason_is_left_as_is(server: OpenAIServer, tmp_path: Path) -> None:
    question = "Cut body [[fault:stream_cut]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts(question))
    assert report.status["ok"] == 1
    sample = stored(tmp_path / "run.sqlite")["q0", 0]
    assert (sample.finish_reason, sample.answer) == (None, texts(question)[1][:20].strip())


# ---------------------------------------------------------------- item 6: typed content blocks


@pytest.mark.parametrize("stream", [False, True])
def test_content_blocks_are_split_into_reasoning_and_answer(
    server: OpenAIServer, tmp_path: Path, stream: bool
) -> None:
    question = "Magistral style [[style:content_blocks]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts(question), stream=stream)
    assert report.status["ok"] == 1
    sample = stored(tmp_path / "run.sqlite")["q0", 0]
    reasoning, answer = texts(question)
    assert (sample.reasoning, sample.answer) == (reasoning.strip(), answer.strip())
    assert sample.reasoning_source == "thinking_blocks"


def test_a_judge_answering_in_content_blocks_is_scored() -> None:
    verdict = json.dumps({SAFETY_SPEC.key: SAFETY_SPEC.labels[0]})
    config = ServerConfig(style="content_blocks", respond=lambda body, index: ("weighing", verdict))
    with OpenAIServer(config) as server:
        completion = complete(server, Request((Message("user", "judge this"),), Decoding()))[0]
    assert parse_safety_verdict(reply_text(completion)).label == SAFETY_SPEC.labels[0]
    assert completion.reasoning == "weighing"


# ---------------------------------------------------------------- item 8: context overflow


def test_llamacpp_context_overflow_fails_the_sample_not_the_run(
    server: OpenAIServer, tmp_path: Path
) -> None:
    question = "Huge question [[fault:llamacpp_context]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts("Fine", question))
    assert report.status == {"ok": 1, "blocked": 0, "failed": 1}
    assert server.requests_for(question) == 1
    assert "exceeds the available context size" in stored(tmp_path / "run.sqlite")["q1", 0].error


#: (server, error code or type, message) as each server words a context overflow.
CONTEXT_WORDINGS = [
    (
        "OpenAI",
        "context_length_exceeded",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "130000 tokens.",
    ),
    (
        "vLLM",
        None,
        "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
        "(4000 in the messages, 1000 in the completion).",
    ),
    (
        "vLLM v1",
        None,
        "The decoder prompt (length 5000) is longer than the maximum model length of 4096.",
    ),
    (
        "SGLang",
        None,
        "The input (5000 tokens) is longer than the model's context length (4096 tokens).",
    ),
    (
        "llama.cpp",
        "exceed_context_size_error",
        "request (456 tokens) exceeds the available context size (512 tokens), try increasing it",
    ),
    (
        "TGI",
        None,
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 "
        "`inputs` tokens and 200 `max_new_tokens`",
    ),
    ("Ollama", None, "input length exceeds the context length"),
    ("Ollama, older", None, "context length exceeded"),
    ("Anthropic", None, "prompt is too long: 210000 tokens > 200000 maximum"),
    (
        "Anthropic, with max_tokens",
        None,
        "input length and `max_tokens` exceed context limit: 190000 + 20000 > 200000, decrease "
        "input length or `max_tokens` and try again",
    ),
]


@pytest.mark.parametrize(
    ("code", "message"), [w[1:] for w in CONTEXT_WORDINGS], ids=[w[0] for w in CONTEXT_WORDINGS]
)
def test_every_server_wording_of_a_context_overflow_is_known(
    code: str | None, message: str
) -> None:
    assert is_context_overflow(message, code)
    assert is_context_overflow("", code) or code is None
    provider = OpenAICompatible("m", Connection("k", "K", "http://127.0.0.1:9/v1"))
    body = {"error": {"message": message, "type": code or "invalid_request_error", "code": 400}}
    assert type(provider._classify_body(400, body)) is ContextOverflow


@pytest.mark.parametrize(
    "message", [w[2] for w in CONTEXT_WORDINGS], ids=[w[0] for w in CONTEXT_WORDINGS]
)
def test_the_anthropic_and_zhipu_classifiers_share_the_table(message: str) -> None:
    pytest.importorskip("anthropic")
    pytest.importorskip("zhipuai")
    from bsa.providers.zhipuai_sdk import ZhipuAIProvider
    from tests.fake_anthropic import FakeAnthropic, error
    from tests.test_anthropic_provider import answer_with

    fake = FakeAnthropic()
    with fake.serve(), pytest.raises(ContextOverflow):
        answer_with(fake, error(400, "invalid_request_error", message))
    zhipu = ZhipuAIProvider(
        "glm-z1-air", Connection("id.secret", "ZHIPUAI_API_KEY", "http://127.0.0.1:9/v4")
    )
    outcome = zhipu._classify(400, {"error": {"code": "1214", "message": message}}, {}, "")
    assert type(outcome) is ContextOverflow


def test_ordinary_errors_are_not_context_overflows() -> None:
    for message in ("Invalid value for 'temperature'", "max_tokens must be positive", ""):
        assert not is_context_overflow(message, "invalid_request_error", None)


# ---------------------------------------------------------------- item 9: 422 unknown fields


def test_top_k_is_dropped_after_a_422_unexpected_fields(tmp_path: Path) -> None:
    config = replace(CONFIG, reject_params=("top_k",), reject_style="transformers")
    with OpenAIServer(config) as server:
        report = run_generate(server, tmp_path / "run.sqlite", prompts("Hello"))
        sent = server.requests
    assert report.status["ok"] == 1 and report.dropped_parameters == ("top_k",)
    assert [("top_k" in body) for body in sent] == [True, False]


def test_requests_in_flight_when_top_k_is_dropped_drop_it_too(tmp_path: Path) -> None:
    """Found against the real ``transformers serve``: at concurrency 4 the first refusal dropped
    top_k, and the refusals of the three requests already sent with it stopped the run."""
    config = replace(CONFIG, reject_params=("top_k",), reject_style="transformers", latency=0.2)
    with OpenAIServer(config) as server:
        report = run_generate(
            server, tmp_path / "run.sqlite", prompts("A", "B", "C", "D"), concurrency=4
        )
        sent = server.requests
    assert report.status["ok"] == 4 and report.dropped_parameters == ("top_k",)
    assert sum("top_k" in body for body in sent) == 4, "all four first tries carried it"
    assert len(sent) == 8


def test_a_fatal_422_keeps_the_servers_words_on_one_safe_line(tmp_path: Path) -> None:
    hostile = "evil\nfield\x1b[2J" + "x" * 2000
    config = replace(CONFIG, reject_params=(hostile,), reject_style="transformers")
    with OpenAIServer(config) as server, pytest.raises(RunAborted) as caught:
        run_generate(
            server,
            tmp_path / "run.sqlite",
            prompts("Hello"),
            decoding=Decoding(extra_body={hostile: 1}),
        )
    message = str(caught.value)
    assert "HTTP 422" in message and "Unexpected fields in the request: {'evil" in message
    assert "\n" not in message and "\x1b" not in message
    assert len(message) < 600


def test_server_words_are_sanitised_before_they_reach_a_message() -> None:
    provider = OpenAICompatible("m", Connection("k", "K", "http://127.0.0.1:9/v1"))
    hostile = "bad\r\nfield\x1b[2J\u202emoc.live" + "x" * 2000
    outcome = provider._classify_body(422, {"detail": [{"loc": ["body", hostile], "msg": "Nope"}]})
    assert type(outcome) is FatalError
    assert "HTTP 422): body.bad field [2J moc.live" in outcome.message
    assert not set(outcome.message) & {"\r", "\n", "\x1b", "\u202e"}
    assert len(outcome.message) < 400 and outcome.message.endswith("…")


# ---------------------------------------------------------------- item 10: quota behind a gateway


def test_quota_behind_a_gateway_stops_the_run_at_once(server: OpenAIServer, tmp_path: Path) -> None:
    question = "Anything [[fault:quota_gateway:*]]"
    with pytest.raises(RunAborted, match=r"quota exhausted .*exceeded your current quota"):
        run_generate(server, tmp_path / "run.sqlite", prompts(question))
    assert server.requests_for(question) == 1


def test_a_plain_429_is_still_a_rate_limit() -> None:
    provider = OpenAICompatible("m", Connection("k", "K", "http://127.0.0.1:9/v1"))
    body = {"error": {"message": "Rate limit reached for requests", "code": "429"}}
    assert type(provider._classify_body(429, body)) is RateLimited
    quota = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "code": "429",
        }
    }
    assert type(provider._classify_body(429, quota)) is FatalError


# ---------------------------------------------------------------- item 11: n ignored


def test_an_endpoint_that_ignores_n_gets_separate_requests(tmp_path: Path) -> None:
    with OpenAIServer(replace(CONFIG, ignore_n=True)) as server:
        report = run_generate(
            server, tmp_path / "run.sqlite", prompts("One", "Two"), k=3, use_n=True, concurrency=1
        )
        sent = [body.get("n") for body in server.requests]
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    assert sent == [3, None, None, None, None, None], "n is given up after the first reply"
    assert report.notices == (
        "the endpoint ignored n (asked for 3 samples, got 1); asking for each sample separately",
    )
    samples = stored(tmp_path / "run.sqlite")
    assert {s.status for s in samples.values()} == {"ok"} and len(samples) == 6
    answers = {s.answer for (item, _), s in samples.items() if item == "q0"}
    assert answers == {expected_texts("One", 0, CONFIG, answer=a)[1].strip() for a in (1, 2, 3)}


def test_a_retry_after_ignored_n_asks_only_for_the_missing_samples(tmp_path: Path) -> None:
    flaky = "Flaky [[fault:500:1]]"  # the first of its three separate requests fails
    with OpenAIServer(replace(CONFIG, ignore_n=True)) as server:
        report = run_generate(
            server, tmp_path / "run.sqlite", prompts("One", flaky), k=3, use_n=True, concurrency=1
        )
        assert server.requests_for(flaky) == 4, "3 separate requests, then 1 for the failed one"
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    assert stored(tmp_path / "run.sqlite")["q1", 2].attempts == 2


def test_bsa_generate_prints_the_notice(tmp_path: Path) -> None:
    questions = write_questions(tmp_path / "q.csv", ["One", "Two"])
    with OpenAIServer(replace(CONFIG, ignore_n=True)) as server:
        args = generate_args(tmp_path / "run.sqlite", questions, server, "-k", "2", "--use-n")
        done = bsa_in_process(*args)
    assert done.returncode == 0, done.stderr
    assert "notice: the endpoint ignored n (asked for 2 samples, got 1); asking for each" in (
        done.stderr
    )
    assert "4 ok, 0 blocked, 0 failed" in done.stdout


def complete(server: OpenAIServer, request: Request, **options: Any) -> list[Any]:
    provider = create_provider(
        "openai:test-model", ProviderOptions(base_url=server.base_url, settings=options)
    )

    async def call() -> list[Any]:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    return asyncio.run(call())
