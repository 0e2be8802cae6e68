"""Generation end to end over real HTTP: the OpenAI SDK against the project's test server.

Faults are injected by markers in the prompt (``[[fault:KIND:COUNT]]``), so each test states which
prompt misbehaves and how; the server's per-prompt counters prove what was (not) paid twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy, RunAborted
from bsa.output.run_export import export_run
from bsa.providers import Limits, ProviderOptions, create_provider
from bsa.runfile.store import Prompt, RunStore
from bsa.testing.openai_server import OpenAIServer, ServerConfig, expected_texts
from bsa.types import Decoding
from tests.conftest import FAST_RETRIES


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(ServerConfig(reasoning_chars=120, answer_chars=40)) as running:
        yield running


def prompts(*questions: str) -> list[Prompt]:
    return [Prompt(f"q{n}", question) for n, question in enumerate(questions)]


def run_generate(
    server: OpenAIServer,
    run: Path,
    items: list[Prompt],
    *,
    k: int = 1,
    policy: RetryPolicy = FAST_RETRIES,
    decoding: Decoding | None = None,
    use_n: bool = False,
    stream: bool = False,
    concurrency: int = 4,
) -> GenerationReport:
    options = ProviderOptions(base_url=server.base_url, settings={"stream": stream})
    limits = Limits(timeout_s=policy.timeout_s)
    provider = create_provider("openai:test-model", options, limits=limits)
    settings = GenerationSettings("openai:test-model", decoding or Decoding())
    execution = Execution(k=k, concurrency=concurrency, policy=policy, use_n=use_n)
    return asyncio.run(generate(run, items, provider, settings, execution))


def stored(run: Path) -> dict[tuple[str, int], Any]:
    with RunStore(run) as store:
        return {(g.item_id, g.sample): g for g in store.generations()}


@pytest.mark.parametrize(
    ("style", "source"),
    [
        ("reasoning_content", "reasoning_content"),
        ("reasoning", "reasoning"),
        ("reasoning_details", "reasoning_details"),
        ("think_tags", "think_tags"),
        ("close_only", "think_close_only"),
        ("none", "none"),
    ],
)
def test_each_reasoning_style_is_split_and_stored(
    server: OpenAIServer, tmp_path: Path, style: str, source: str
) -> None:
    question = f"Tell me about {style}. [[style:{style}]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts(question))
    assert report.status == {"ok": 1, "blocked": 0, "failed": 0}
    (sample,) = stored(tmp_path / "run.sqlite").values()
    reasoning, answer = expected_texts(
        question, 0, ServerConfig(reasoning_chars=120, answer_chars=40)
    )
    assert sample.reasoning_source == source
    assert sample.answer == answer.strip()  # surrounding whitespace is not part of an answer
    assert sample.reasoning == (None if style == "none" else reasoning.strip())
    assert sample.truncated is False
    assert sample.completion_tokens and sample.prompt_tokens
    assert json.loads(sample.raw)["choices"][0]["message"]


def test_unterminated_think_is_flagged_truncated(server: OpenAIServer, tmp_path: Path) -> None:
    run_generate(server, tmp_path / "run.sqlite", prompts("Think forever [[style:unterminated]]"))
    (sample,) = stored(tmp_path / "run.sqlite").values()
    assert (sample.status, sample.answer, sample.truncated) == ("ok", "", True)
    assert sample.reasoning_source == "think_unterminated"
    assert sample.reasoning


@pytest.mark.parametrize(
    "fault", ["429:2:retry_after=0.01", "500:2", "503", "408", "broken_json", "disconnect"]
)
def test_retryable_faults_are_retried_then_stored_once(
    server: OpenAIServer, tmp_path: Path, fault: str
) -> None:
    question = f"Flaky question [[fault:{fault}]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts(question, "Steady question"))
    assert report.status["ok"] == 2
    failures = int(fault.split(":")[1]) if fault.count(":") else 1
    sample = stored(tmp_path / "run.sqlite")["q0", 0]
    assert sample.attempts == failures + 1
    assert server.requests_for(question) == failures + 1


def test_a_hang_is_cut_by_the_timeout_and_retried(server: OpenAIServer, tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=3, timeout_s=0.5, base_delay_s=0.0)
    question = "Slow one [[fault:hang]]"
    report = run_generate(
        server, tmp_path / "run.sqlite", prompts("Quick one", question), policy=policy
    )
    assert report.status["ok"] == 2
    assert stored(tmp_path / "run.sqlite")["q1", 0].attempts == 2


@pytest.mark.parametrize(
    "fault",
    [
        "content_filter",
        "content_filter_finish",
        "azure_filter",
        "dashscope_filter",
        "deepseek_filter",
        "zhipu_filter",
    ],
)
def test_content_filters_are_blocked_not_retried(
    server: OpenAIServer, tmp_path: Path, fault: str
) -> None:
    question = f"Risky question [[fault:{fault}]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts("Fine question", question))
    assert report.status == {"ok": 1, "blocked": 1, "failed": 0}
    assert report.missing == 0
    sample = stored(tmp_path / "run.sqlite")["q1", 0]
    assert sample.status == "blocked"
    assert sample.answer in (None, "")
    assert server.requests_for(question) == 1
    if fault != "content_filter_finish":
        assert sample.error  # the provider's own words are kept


def test_context_overflow_fails_without_retry(server: OpenAIServer, tmp_path: Path) -> None:
    question = "Huge question [[fault:context_length]]"
    report = run_generate(server, tmp_path / "run.sqlite", prompts("Fine", question))
    assert report.status == {"ok": 1, "blocked": 0, "failed": 1}
    assert server.requests_for(question) == 1
    assert "context" in stored(tmp_path / "run.sqlite")["q1", 0].error.lower()


def test_failed_samples_are_retried_on_rerun_and_nothing_else(
    server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    question = "Down for a while [[fault:500:3]]"  # sample 0 uses up all 3 attempts
    first = run_generate(server, run, prompts("Fine", question), k=2, concurrency=1)
    assert first.status == {"ok": 3, "blocked": 0, "failed": 1}
    assert first.missing == 1
    second = run_generate(server, run, prompts("Fine", question), k=2)
    assert second.status == {"ok": 4, "blocked": 0, "failed": 0}
    assert second.counters.total == 1, "only the failed sample is asked again"
    third = run_generate(server, run, prompts("Fine", question), k=2)
    assert third.counters.total == 0
    assert server.requests_for("Fine") == 2


def test_raising_k_asks_only_for_the_new_samples(server: OpenAIServer, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    items = prompts(*(f"Question {n}" for n in range(10)))
    run_generate(server, run, items, k=2)
    report = run_generate(server, run, items, k=3)
    assert report.counters.total == 10
    assert server.stats.total == 30
    assert len(stored(run)) == 30


def test_n_asks_for_all_samples_in_one_request(server: OpenAIServer, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    report = run_generate(server, run, prompts("One", "Two"), k=3, use_n=True)
    assert report.status["ok"] == 6
    assert server.stats.total == 2
    samples = stored(run)
    assert samples["q0", 0].answer != samples["q0", 1].answer, "each choice is its own sample"


def test_streaming_gives_the_same_samples(server: OpenAIServer, tmp_path: Path) -> None:
    question = "Stream me [[style:reasoning_content]]"
    seeded = Decoding(seed=3)  # the server repeats a seeded request, so both runs get one text
    run_generate(server, tmp_path / "plain.sqlite", prompts(question), decoding=seeded)
    run_generate(
        server, tmp_path / "stream.sqlite", prompts(question), decoding=seeded, stream=True
    )
    plain = stored(tmp_path / "plain.sqlite")["q0", 0]
    streamed = stored(tmp_path / "stream.sqlite")["q0", 0]
    assert (streamed.reasoning, streamed.answer) == (plain.reasoning, plain.answer)
    assert streamed.completion_tokens == plain.completion_tokens


def test_decoding_is_sent_and_top_k_dropped_where_refused(tmp_path: Path) -> None:
    with OpenAIServer(ServerConfig(reject_params=("top_k",))) as server:
        report = run_generate(
            server, tmp_path / "run.sqlite", prompts("Hello"), decoding=Decoding(seed=7)
        )
        assert report.status["ok"] == 1
        assert report.dropped_parameters == ("top_k",)
        sent = server.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["seed"]) == (0.6, 0.95, 7)
    assert "top_k" not in sent
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.get_meta("dropped_parameters") == ["top_k"]


def test_top_k_is_sent_where_accepted(server: OpenAIServer, tmp_path: Path) -> None:
    run_generate(server, tmp_path / "run.sqlite", prompts("Hello"))
    assert server.requests[-1]["top_k"] == 20


def test_bad_key_stops_the_run_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with OpenAIServer(ServerConfig(api_key="sk-right")) as server:
        with pytest.raises(RunAborted, match=r"authentication failed .*HTTP 401.*OPENAI_API_KEY"):
            run_generate(
                server,
                tmp_path / "run.sqlite",
                prompts(*(f"Q{n}" for n in range(50))),
                concurrency=1,
            )
        assert server.stats.total == 1


def test_unknown_model_stops_the_run(tmp_path: Path) -> None:
    with (
        OpenAIServer(ServerConfig(models=("other-model",))) as server,
        pytest.raises(RunAborted, match=r"model 'test-model' or endpoint not found .*HTTP 404"),
    ):
        run_generate(server, tmp_path / "run.sqlite", prompts("Q"))


def test_unreachable_endpoint_stops_with_one_line(tmp_path: Path) -> None:
    provider = create_provider("openai:m", ProviderOptions(base_url="http://127.0.0.1:9/v1"))
    settings = GenerationSettings("openai:m")
    coro = generate(
        tmp_path / "run.sqlite",
        prompts("Q"),
        provider,
        settings,
        Execution(k=1, policy=FAST_RETRIES),
    )
    with pytest.raises(RunAborted, match=r"cannot connect to http://127\.0\.0\.1:9/v1") as caught:
        asyncio.run(coro)
    assert "\n" not in str(caught.value)


def test_other_settings_on_the_same_run_file_are_refused(
    server: OpenAIServer, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    run_generate(server, run, prompts("Q"))
    with pytest.raises(Exception, match=r"other settings \(decoding\.temperature differ\)"):
        run_generate(server, run, prompts("Q"), decoding=Decoding(temperature=1.0))


def test_exports(server: OpenAIServer, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    run_generate(server, run, prompts("Fine", "Bad [[fault:content_filter:*]]"), k=2)
    assert export_run(run, tmp_path / "s.jsonl", "jsonl") == 4
    rows = [
        json.loads(line) for line in (tmp_path / "s.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert list(rows[0]) == [
        "id", "sample", "status", "answer", "reasoning", "reasoning_source", "finish_reason",
        "truncated", "prompt_tokens", "completion_tokens", "reasoning_tokens", "latency_s",
        "attempts", "error", "seed", "replica", "cached_tokens", "cache_write_tokens", "created_at",
    ]  # fmt: skip
    assert [r["status"] for r in rows] == ["ok", "ok", "blocked", "blocked"]
    assert export_run(run, tmp_path / "up.csv", "upstream-csv") == 4
    header = (tmp_path / "up.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,question,answer,reasoning_content,status,tokens,error"
    assert export_run(run, tmp_path / "s.csv", "csv") == 4


@pytest.mark.parametrize("mode", ["system", "prefix"])
def test_safety_rules_go_where_asked(server: OpenAIServer, tmp_path: Path, mode: str) -> None:
    from bsa.data.assets import load_safety_rules

    rules = load_safety_rules()
    settings = GenerationSettings(
        "openai:test-model", safety_rules=mode, safety_rules_sha256=rules.file.sha256
    )
    provider = create_provider("openai:test-model", ProviderOptions(base_url=server.base_url))
    coro = generate(
        tmp_path / "run.sqlite", prompts("Is this safe?"), provider, settings, Execution(k=1, policy=FAST_RETRIES),
        rules_text=rules.text,
    )  # fmt: skip
    assert asyncio.run(coro).status["ok"] == 1
    messages = server.requests[-1]["messages"]
    if mode == "system":
        assert messages == [
            {"role": "system", "content": rules.text},
            {"role": "user", "content": "Is this safe?"},
        ]
    else:
        assert messages == [{"role": "user", "content": f"{rules.text}\n\nIs this safe?"}]
    assert rules.text.startswith("# Risk category: Offensive and Prejudice")
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.get_meta("generation")["safety_rules_sha256"] == rules.file.sha256


@pytest.mark.parametrize("stream", [False, True])
def test_cached_prompt_tokens_are_stored(
    server: OpenAIServer, tmp_path: Path, stream: bool
) -> None:
    """``usage.prompt_tokens_details.cached_tokens`` reaches the run file, streamed or not (the
    test server counts every message before the last as cached: here the system prompt)."""
    options = ProviderOptions(base_url=server.base_url, settings={"stream": stream})
    provider = create_provider("openai:test-model", options, limits=Limits(timeout_s=5))
    system = "Be careful. " * 40  # 480 characters: 120 tokens at the server's 4 a token
    settings = GenerationSettings("openai:test-model", Decoding(), system_prompt=system)
    execution = Execution(k=2, concurrency=2, policy=FAST_RETRIES)
    run = tmp_path / "run.sqlite"
    asyncio.run(generate(run, prompts("How do I store bleach?"), provider, settings, execution))
    samples = stored(run).values()
    assert [(s.cached_tokens, s.cache_write_tokens) for s in samples] == [(120, None)] * 2
    assert all(s.prompt_tokens is not None and s.prompt_tokens > 120 for s in samples)
