"""The local OpenAI-compatible server that stands in for every provider in tests and benchmarks.

The client is the official ``openai`` SDK (``max_retries=0`` so a fault is seen exactly once) and,
for raw status/header/body checks, ``httpx2``: the SDK's own HTTP library, which is what ``httpx``
is called in this environment (``import httpx`` does not exist here).

How the installed SDK (openai 3.x) exposes the reasoning fields: ``ChatCompletionMessage`` and
``ChoiceDelta`` are pydantic models with ``extra="allow"``, and none of ``reasoning_content``,
``reasoning`` or ``reasoning_details`` is a declared field. Each therefore arrives unchanged (plain
str, or a list of plain dicts for ``reasoning_details``) in ``message.model_extra`` and is also
readable as an attribute (``message.reasoning_content``); an attribute that the response did not
carry raises AttributeError, so client code should read ``(message.model_extra or {}).get(name)``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest

from bsa.data.assets import load_judge_templates
from bsa.providers.mock import mock_judge_reply
from bsa.testing.openai_server import (
    FAULT_KINDS,
    STYLES,
    OpenAIServer,
    ServerConfig,
    current_draw,
    expected_texts,
    mock_judge_hook,
    parse_markers,
    prompt_key,
)

SMALL = ServerConfig(reasoning_chars=120, answer_chars=40)
REASONING, ANSWER = expected_texts("What is 2+2?", 0, SMALL)

#: One connection pool for every request: a new client per call would build a TLS context each
#: time (tens of milliseconds), which made this file several times slower.
HTTP = httpx2.Client(timeout=5)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def start() -> Iterator[Callable[..., OpenAIServer]]:
    """Start servers with the given config changes; every one is stopped after the test."""
    servers: list[OpenAIServer] = []

    def _start(**changes: Any) -> OpenAIServer:
        fields = {"reasoning_chars": 120, "answer_chars": 40, **changes}
        server = OpenAIServer(ServerConfig(**fields)).start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start: Callable[..., OpenAIServer]) -> OpenAIServer:
    return start()


def client(server: OpenAIServer, **kwargs: Any) -> openai.OpenAI:
    kwargs = {"api_key": "sk-test", "timeout": 5, **kwargs}
    return openai.OpenAI(base_url=server.base_url, max_retries=0, http_client=HTTP, **kwargs)


def ask(server: OpenAIServer, prompt: str, **kwargs: Any) -> Any:
    return client(server).chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": prompt}], **kwargs
    )


def post(server: OpenAIServer, prompt: str, **fields: Any) -> httpx2.Response:
    body = {"model": "test-model", "messages": [{"role": "user", "content": prompt}], **fields}
    return HTTP.post(f"{server.base_url}/chat/completions", json=body)


# ---------------------------------------------------------------- text and styles


def test_text_is_deterministic_and_markers_do_not_change_it(server: OpenAIServer) -> None:
    first = ask(server, "What is 2+2?").choices[0].message
    again = ask(server, "What is 2+2? [[style:reasoning_content]]").choices[0].message
    assert first.content == again.content == ANSWER
    assert first.model_extra["reasoning_content"] == REASONING
    assert len(REASONING) == 120 and len(ANSWER) == 40
    assert expected_texts("What is 3+3?", 0, SMALL) != (REASONING, ANSWER)
    assert parse_markers("Hi [[fault:429:2]] [[style:none]]").text == "Hi"


@pytest.mark.parametrize("style", STYLES)
def test_every_style_round_trips_through_the_sdk(server: OpenAIServer, style: str) -> None:
    response = ask(server, f"What is 2+2? [[style:{style}]]")
    choice = response.choices[0]
    message = choice.message
    extra = message.model_extra or {}
    expected_content = {
        "reasoning_content": ANSWER,
        "reasoning": ANSWER,
        "reasoning_details": ANSWER,
        "think_tags": f"<think>\n{REASONING}\n</think>\n\n{ANSWER}",
        "close_only": f"{REASONING}\n</think>\n\n{ANSWER}",
        "unterminated": f"<think>\n{REASONING}",
        "none": ANSWER,
        "content_blocks": [
            {"type": "thinking", "thinking": [{"type": "text", "text": REASONING}]},
            {"type": "text", "text": ANSWER},
        ],
    }[style]
    assert message.content == expected_content
    assert choice.finish_reason == ("length" if style == "unterminated" else "stop")
    if style in ("reasoning_content", "reasoning"):
        assert extra == {style: REASONING}
        assert getattr(message, style) == REASONING  # extras are attributes too
    elif style == "reasoning_details":
        assert extra == {
            "reasoning_details": [
                {"type": "reasoning.text", "text": REASONING, "format": "unknown", "index": 0}
            ]
        }
    else:
        assert extra == {}
        with pytest.raises(AttributeError):
            _ = message.reasoning_content
    usage = response.usage
    reasoning_tokens = 0 if style == "none" else 30
    answer_tokens = 0 if style == "unterminated" else 10
    assert usage.completion_tokens_details.reasoning_tokens == reasoning_tokens
    assert usage.completion_tokens == reasoning_tokens + answer_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_server_wide_style_and_max_tokens_cut(start: Callable[..., OpenAIServer]) -> None:
    server = start(style="think_tags")
    cut_in_answer = ask(server, "What is 2+2?", max_tokens=35).choices[0]
    assert cut_in_answer.finish_reason == "length"
    assert cut_in_answer.message.content == f"<think>\n{REASONING}\n</think>\n\n{ANSWER[:20]}"
    cut_in_reasoning = ask(server, "What is 2+2?", max_completion_tokens=5).choices[0]
    second_reasoning = expected_texts("What is 2+2?", 0, SMALL, answer=2)[0]
    assert cut_in_reasoning.message.content == f"<think>\n{second_reasoning[:20]}"
    assert ask(server, "What is 2+2?", max_tokens=1000).choices[0].finish_reason == "stop"


def test_n_gives_different_choices(server: OpenAIServer) -> None:
    response = ask(server, "What is 2+2?", n=3)
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert [c.message.content for c in response.choices] == [
        expected_texts("What is 2+2?", i, SMALL)[1] for i in range(3)
    ]
    assert len({c.message.content for c in response.choices}) == 3
    assert response.usage.completion_tokens == 3 * 40


# ---------------------------------------------------------------- draws: samples that vary


def test_each_answer_to_a_prompt_is_a_new_draw(server: OpenAIServer) -> None:
    answers = [ask(server, "What is 2+2?").choices[0].message.content for _ in range(3)]
    assert answers == [expected_texts("What is 2+2?", 0, SMALL, answer=a)[1] for a in (1, 2, 3)]
    assert answers[0] == ANSWER and len(set(answers)) == 3


def test_a_seeded_request_repeats_and_leaves_the_counter_alone(server: OpenAIServer) -> None:
    def answer(**seed: int) -> str:
        return str(ask(server, "What is 2+2?", **seed).choices[0].message.content)

    assert answer(seed=7) == answer(seed=7) == expected_texts("What is 2+2?", 0, SMALL, seed=7)[1]
    assert len({answer(seed=7), answer(seed=8), ANSWER}) == 3
    assert answer() == ANSWER, "the first unseeded answer, after three seeded ones"


def test_a_respond_hook_reads_the_draw(start: Callable[..., OpenAIServer]) -> None:
    server = start(respond=lambda body, index: ("", f"{current_draw()!r} #{index}"))
    replies = [ask(server, "hi", **seed).choices for seed in ({}, {}, {"seed": 5, "n": 2})]
    assert [c.message.content for choices in replies for c in choices] == [
        "'' #0", "'answer 2' #0", "'seed 5' #0", "'seed 5' #1",
    ]  # fmt: skip


def test_judge_mode_draws_each_verdict(start: Callable[..., OpenAIServer]) -> None:
    server = start(respond=mock_judge_hook)
    prompt = load_judge_templates().safety.render(query="Q?", risk_summary="R.", answer="A.")

    def reply(**seed: int) -> str:
        return str(ask(server, prompt, **seed).choices[0].message.content)

    assert reply() == mock_judge_reply(prompt), "the first: the in-process mock judge's verdict"
    assert reply() == mock_judge_reply(prompt, "mock answer 2")
    seeded = {seed: reply(seed=seed) for seed in range(20)}
    assert reply(seed=3) == seeded[3]
    assert {json.loads(text)["Safety Assessment"] for text in seeded.values()} == {"Safe", "Unsafe"}


def test_n_is_rejected_when_unsupported(start: Callable[..., OpenAIServer]) -> None:
    server = start(support_n=False)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(server, "What is 2+2?", n=2)
    assert caught.value.body["param"] == "n"
    assert ask(server, "What is 2+2?", n=1).choices[0].message.content == ANSWER


@pytest.mark.parametrize(
    "style", ["reasoning_content", "reasoning", "reasoning_details", "think_tags"]
)
def test_streaming_matches_the_plain_completion(server: OpenAIServer, style: str) -> None:
    prompt = f"What is 2+2? [[style:{style}]]"
    plain = ask(server, prompt, n=2, seed=5)  # the same seed: the same texts twice
    streamed = ask(server, prompt, n=2, seed=5, stream=True, stream_options={"include_usage": True})
    chunks = list(streamed)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage == plain.usage
    for index in range(2):
        deltas = [c.choices[0] for c in chunks[:-1] if c.choices[0].index == index]
        content = "".join(d.delta.content or "" for d in deltas)
        extras = [d.delta.model_extra or {} for d in deltas]
        if style == "reasoning_details":
            reasoning = "".join(x["text"] for e in extras for x in e.get(style, []))
        else:
            reasoning = "".join(e.get(style, "") for e in extras)
        message = plain.choices[index].message
        assert content == message.content
        assert reasoning == (
            "" if style == "think_tags" else expected_texts(prompt, index, SMALL, seed=5)[0]
        )
        assert deltas[-1].finish_reason == "stop"
        assert len(deltas) > 3  # really split into pieces


def test_stream_without_usage_ends_with_done(server: OpenAIServer) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = HTTP.post(f"{server.base_url}/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line for line in response.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    last = json.loads(events[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop" and "usage" not in last


def test_client_leaving_mid_stream_is_counted_as_cancelled(
    start: Callable[..., OpenAIServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = start(stream_delay=0.02, stream_chunk_chars=8)
    stream = ask(server, "What is 2+2?", stream=True)
    next(iter(stream))
    stream.close()
    wait_for(lambda: server.stats.in_flight == 0)
    assert server.stats.outcomes == {"cancelled": 1}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_respond_hook_replaces_the_text(start: Callable[..., OpenAIServer]) -> None:
    def judge(body: dict[str, Any], index: int) -> tuple[str, str]:
        return "weighing", json.dumps({"verdict": "safe", "n": index, "model": body["model"]})

    server = start(respond=judge)
    message = ask(server, "judge this").choices[0].message
    assert json.loads(message.content) == {"verdict": "safe", "n": 0, "model": "test-model"}
    assert message.model_extra == {"reasoning_content": "weighing"}


# ---------------------------------------------------------------- faults

#: kind -> (status, error code or None, a check of the whole body)
ERROR_FAULTS: dict[str, tuple[int, Any, Callable[[dict[str, Any]], bool]]] = {
    "429": (429, "rate_limit_exceeded", lambda b: True),
    "500": (500, None, lambda b: b["error"]["type"] == "server_error"),
    "503": (503, None, lambda b: b["error"]["type"] == "server_error"),
    "408": (408, None, lambda b: b["error"]["type"] == "timeout"),
    "content_filter": (
        400,
        "content_filter",
        lambda b: b["error"]["type"] == "invalid_request_error",
    ),
    "azure_filter": (
        400,
        "content_filter",
        lambda b: b["error"]["innererror"]["code"] == "ResponsibleAIPolicyViolation",
    ),
    "dashscope_filter": (400, "data_inspection_failed", lambda b: "request_id" in b),
    "deepseek_filter": (
        400,
        "invalid_request_error",
        lambda b: b["error"]["message"] == "Content Exists Risk",
    ),
    "zhipu_filter": (400, "1301", lambda b: set(b["error"]) == {"code", "message"}),
    "context_length": (400, "context_length_exceeded", lambda b: b["error"]["param"] == "messages"),
    "llamacpp_context": (
        400,
        400,
        lambda b: (
            b["error"]["type"] == "exceed_context_size_error"
            and "exceeds the available context size" in b["error"]["message"]
        ),
    ),
    "quota_gateway": (429, "429", lambda b: "exceeded your current quota" in b["error"]["message"]),
    "stream_error": (502, 502, lambda b: set(b["error"]) == {"code", "message"}),
    "stream_error_filter": (400, "data_inspection_failed", lambda b: "request_id" in b),
}


@pytest.mark.parametrize("kind", sorted(ERROR_FAULTS))
def test_error_fault_once_then_success(server: OpenAIServer, kind: str) -> None:
    status, code, check = ERROR_FAULTS[kind]
    prompt = f"What is 2+2? [[fault:{kind}]]"
    failed = post(server, prompt)
    assert failed.status_code == status
    body = failed.json()
    assert body["error"]["code"] == code and body["error"]["message"] and check(body)
    assert ("retry-after" in failed.headers) == (kind == "429")
    succeeded = post(server, prompt)
    assert succeeded.status_code == 200
    assert succeeded.json()["choices"][0]["message"]["content"] == ANSWER
    assert server.stats.outcomes == {f"fault:{kind}": 1, "completed": 1}


def test_every_fault_kind_is_covered_by_a_test() -> None:
    others = {
        "hang",
        "broken_json",
        "content_filter_finish",
        "disconnect",
        "stream_cut",
        "stream_cut_done",
        "surrogate",
    }
    others |= {f"echo_key_{status}" for status in (200, 400, 429, 500)}  # test_secrets.py
    assert set(FAULT_KINDS) == set(ERROR_FAULTS) | others


def test_surrogate_fault_sends_lone_surrogates_as_json_escapes(
    start: Callable[..., OpenAIServer],
) -> None:
    server = start()
    reply = post(server, "Odd text [[fault:surrogate]]")
    assert reply.status_code == 200
    assert b"\\ud800" in reply.content and b"\\udfff" in reply.content
    message = reply.json()["choices"][0]["message"]
    assert message["content"].startswith("\udfff")
    assert message["reasoning_content"].endswith("\ud800")


def test_rate_limit_retry_after_and_sdk_error(start: Callable[..., OpenAIServer]) -> None:
    server = start(retry_after=2)
    assert post(server, "a [[fault:429]]").headers["retry-after"] == "2"
    assert post(server, "b [[fault:429:1:retry_after=0.1]]").headers["retry-after"] == "0.1"
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server, "c [[fault:429]]")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "2"


def test_fault_markers_are_served_in_order(server: OpenAIServer) -> None:
    prompt = "q [[fault:429:1]][[fault:500:2]]"
    assert [post(server, prompt).status_code for _ in range(5)] == [429, 500, 500, 200, 200]
    assert [post(server, "r [[fault:503:*]]").status_code for _ in range(3)] == [503] * 3
    assert post(server, "s [[fault:nope]]").json()["error"]["code"] == "invalid_marker"


def test_content_filter_finish(server: OpenAIServer) -> None:
    prompt = "What is 2+2? [[fault:content_filter_finish]]"
    filtered = ask(server, prompt).choices[0]
    assert filtered.finish_reason == "content_filter"
    assert filtered.message.content == "" and filtered.message.model_extra == {}
    assert ask(server, prompt).choices[0].message.content == ANSWER


def stream_events(server: OpenAIServer, prompt: str) -> list[str]:
    """The raw ``data:`` payloads of a streamed request, in order."""
    response = post(server, prompt, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    return [event.removeprefix("data: ") for event in response.text.split("\n\n") if event]


@pytest.mark.parametrize(
    ("kind", "done", "error_code"),
    [
        ("stream_cut", False, None),
        ("stream_cut_done", True, None),
        ("stream_error", False, 502),
        ("stream_error_filter", False, "data_inspection_failed"),
    ],
)
def test_stream_faults_break_off_half_way(
    server: OpenAIServer, kind: str, done: bool, error_code: object
) -> None:
    prompt = f"What is 2+2? [[fault:{kind}]]"
    events = stream_events(server, prompt)
    assert (events[-1] == "[DONE]") is done
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    deltas = [c["choices"][0] for c in chunks if c.get("choices") and "error" not in c]
    assert "".join(d["delta"].get("content") or "" for d in deltas) == ANSWER[:20]
    assert all(d["finish_reason"] is None for d in deltas)
    assert not [c for c in chunks if c.get("usage")]
    errors = [c["error"] for c in chunks if "error" in c]
    assert [e["code"] for e in errors] == ([error_code] if error_code else [])
    assert server.stats.outcomes == {f"fault:{kind}": 1}
    assert stream_events(server, prompt)[-1] == "[DONE]"  # only the first request breaks


def test_a_cut_fault_without_streaming_has_no_finish_reason(server: OpenAIServer) -> None:
    choice = post(server, "What is 2+2? [[fault:stream_cut]]").json()["choices"][0]
    assert choice["finish_reason"] is None
    assert choice["message"]["content"] == ANSWER[:20]


def test_ignore_n_answers_with_one_choice(start: Callable[..., OpenAIServer]) -> None:
    server = start(ignore_n=True)
    response = ask(server, "What is 2+2?", n=3)
    assert [c.message.content for c in response.choices] == [ANSWER]


def test_unknown_fields_refused_like_transformers_serve(
    start: Callable[..., OpenAIServer],
) -> None:
    server = start(reject_params=("top_k",), reject_style="transformers")
    refused = post(server, "What is 2+2?", top_k=20)
    assert refused.status_code == 422
    assert refused.json() == {"detail": "Unexpected fields in the request: {'top_k'}"}
    assert post(server, "What is 2+2?").status_code == 200


def test_broken_json_escapes_the_sdk_as_a_json_error(server: OpenAIServer) -> None:
    prompt = "What is 2+2? [[fault:broken_json]]"
    # Surprise worth knowing: the SDK does not wrap this in an openai error.
    with pytest.raises(json.JSONDecodeError):
        ask(server, prompt)
    assert ask(server, prompt).choices[0].message.content == ANSWER


def test_disconnect_drops_the_connection(server: OpenAIServer) -> None:
    prompt = "What is 2+2? [[fault:disconnect]]"
    with pytest.raises(httpx2.RemoteProtocolError):
        post(server, prompt)
    assert post(server, prompt).status_code == 200


def test_hang_is_cut_by_the_client_timeout(server: OpenAIServer) -> None:
    prompt = "What is 2+2? [[fault:hang]]"
    with pytest.raises(openai.APITimeoutError):  # the client's timeout, not the server, ended it
        client(server, timeout=0.3).chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}]
        )
    assert ask(server, prompt).choices[0].message.content == ANSWER
    wait_for(lambda: server.stats.in_flight == 0)
    assert server.stats.outcomes == {"fault:hang": 1, "completed": 1}


def test_a_hanging_request_does_not_block_stopping(start: Callable[..., OpenAIServer]) -> None:
    server = start()
    caught: list[BaseException] = []

    def hang() -> None:
        try:
            post(server, "x [[fault:hang]]")
        except httpx2.HTTPError as exc:
            caught.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    wait_for(lambda: server.stats.in_flight == 1)
    server.stop()
    thread.join(30)
    assert not thread.is_alive() and caught, "stopping the server ended the hanging request"


def test_random_fault_plan_is_seeded(start: Callable[..., OpenAIServer]) -> None:
    rates = {"500": 0.3, "429": 0.2}

    def statuses(server: OpenAIServer) -> list[int]:
        return [post(server, f"p{i % 5}").status_code for i in range(40)]

    first, second = statuses(start(fault_rates=rates)), statuses(start(fault_rates=rates))
    other = statuses(start(fault_rates=rates, seed=1))
    assert first == second != other
    assert {429, 500, 200} == set(first)


# ---------------------------------------------------------------- auth, models, routing


def test_api_key_is_enforced(start: Callable[..., OpenAIServer]) -> None:
    server = start(api_key="sk-right")
    with pytest.raises(openai.AuthenticationError) as caught:
        client(server, api_key="sk-wrong").models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        ask(server, "hi")
    good = client(server, api_key="sk-right")
    assert good.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_unknown_model_is_404_and_models_are_listed(start: Callable[..., OpenAIServer]) -> None:
    server = start(models=("alpha", "beta"))
    sdk = client(server)
    assert [m.id for m in sdk.models.list()] == ["alpha", "beta"]
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gamma", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"
    assert sdk.chat.completions.create(model="beta", messages=[{"role": "user", "content": "hi"}])


def test_malformed_requests_are_400(server: OpenAIServer) -> None:
    url = f"{server.base_url}/chat/completions"
    assert HTTP.post(url, content=b"{not json").status_code == 400
    assert HTTP.post(url, json={"model": "m", "messages": []}).status_code == 400
    assert post(server, "hi", n=0).status_code == 400
    assert post(server, "hi [[style:bogus]]").status_code == 400
    assert server.stats.outcomes == {"error:400": 4}


# ---------------------------------------------------------------- accounting and latency


def test_counters_log_and_stats_endpoint(start: Callable[..., OpenAIServer]) -> None:
    # The six requests leave together (a barrier) and each is held for a second, so all six are
    # in flight at once even when a busy machine starts the threads late.
    server = start(latency=1.0, log_size=3)
    together = threading.Barrier(6)

    def ask_with_the_others(prompt: str) -> None:
        together.wait(timeout=30)
        ask(server, prompt)

    threads = [threading.Thread(target=ask_with_the_others, args=(f"q{i % 2}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    post(server, "bad [[fault:500]]")
    stats = server.stats
    assert (stats.total, stats.completed, stats.failed, stats.in_flight) == (7, 6, 1, 0)
    assert stats.max_in_flight == 6
    assert (
        server.requests_for("q0") == server.requests_for([{"role": "user", "content": "q1"}]) == 3
    )
    assert stats.by_prompt[prompt_key("bad [[fault:500]]")] == 1
    assert len(server.requests) == 3  # bounded log
    remote = HTTP.get(f"{server.url}/_stats").json()
    assert remote["total"] == 7 and remote["outcomes"] == {"completed": 6, "fault:500": 1}
    assert remote["cpu_seconds"] > 0
    HTTP.post(f"{server.url}/_reset")
    assert server.stats.total == 0 and server.requests == []


def test_request_bodies_keep_extra_fields(server: OpenAIServer) -> None:
    ask(server, "hi", temperature=0.6, top_p=0.95, seed=7, extra_body={"top_k": 20})
    (body,) = server.requests
    assert (body["temperature"], body["top_p"], body["seed"], body["top_k"]) == (0.6, 0.95, 7, 20)
    server.reset()
    assert post(server, "x [[fault:500]]").status_code == 500  # the fault schedule restarts


def test_latency_is_applied(start: Callable[..., OpenAIServer]) -> None:
    server = start(latency=0.2, jitter=0.05, jitter_distribution="gaussian", seed=3)
    started = time.monotonic()
    ask(server, "hi")
    assert time.monotonic() - started > 0.05


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        ServerConfig(style="bogus")
    with pytest.raises(ValueError):
        ServerConfig(fault_rates={"500": 0.7, "429": 0.7})
    with pytest.raises(ValueError):
        ServerConfig(fault_rates={"teapot": 0.1})
    with pytest.raises(ValueError):
        ServerConfig(reject_style="teapot")


# ---------------------------------------------------------------- its own process


def test_runs_as_its_own_process() -> None:
    command = [
        sys.executable,
        "-m",
        "bsa.testing.openai_server",
        "--port",
        "0",
        "--max-seconds",
        "60",
    ]
    command += ["--style", "think_tags", "--reasoning-chars", "50", "--answer-chars", "20"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        sdk = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, http_client=HTTP)
        reply = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        reasoning, answer = expected_texts(
            "hi", 0, ServerConfig(reasoning_chars=50, answer_chars=20)
        )
        assert reply.choices[0].message.content == f"<think>\n{reasoning}\n</think>\n\n{answer}"
        stats = HTTP.get(base_url.removesuffix("/v1") + "/_stats").json()
        assert stats["completed"] == 1
        process.terminate()
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert json.loads(stderr.strip().splitlines()[-1])["completed"] == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_max_requests_stops_the_process() -> None:
    command = [
        sys.executable,
        "-m",
        "bsa.testing.openai_server",
        "--port",
        "0",
        "--max-requests",
        "2",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        sdk = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, http_client=HTTP)
        for _ in range(2):
            sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_delay_marker_slows_one_prompt() -> None:
    from bsa.testing.openai_server import MarkerError, parse_markers

    assert parse_markers("Slow [[delay:0.5]]").delay == 0.5
    assert parse_markers("Slow [[delay:0.5]]").text == "Slow"
    with pytest.raises(MarkerError, match="bad delay"):
        parse_markers("Slow [[delay:soon]]")
