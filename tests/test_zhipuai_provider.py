"""The ZhipuAI SDK provider: the real ``zhipuai`` SDK against a loopback Zhipu v4 server.

The same contract as the OpenAI-compatible provider (reasoning split, usage, each error class),
then the real pipeline: generation with resume, and judging with a GLM judge.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bsa.data.dataset import load_dataset
from bsa.engine.generate import Execution, GenerationSettings, generate, prompts_from_items
from bsa.engine.runner import RunAborted
from bsa.errors import MissingExtraError
from bsa.judging.judge import JUDGE_DECODING, judge_run
from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.connection import Connection, Limits
from bsa.providers.mock import mock_judge_reply
from bsa.providers.zhipuai_sdk import ZhipuAIProvider
from bsa.runfile.store import Prompt, RunStore
from bsa.types import Completion, Decoding, Message, Request
from tests.conftest import FAST_RETRIES
from tests.fake_hub import closed_port_url
from tests.fake_zhipu import TEST_KEY, FakeZhipu, expected_texts, last_user_text
from tests.optional import requires

needs = requires("zhipuai")

MODEL = "glm-z1-air"


@pytest.fixture
def fake() -> Iterator[FakeZhipu]:
    server = FakeZhipu(hang_s=1.0)
    with server.serve():
        yield server


def make_provider(
    fake: FakeZhipu, *, key: str = TEST_KEY, model: str = MODEL, timeout: float = 5.0
) -> ZhipuAIProvider:
    connection = Connection(key, "MY_ZHIPU_KEY", fake.base_url, Limits(timeout_s=timeout))
    return ZhipuAIProvider(model, connection)


def ask(
    provider: ZhipuAIProvider, text: str, decoding: Decoding | None = None, n: int = 1
) -> list[Completion]:
    async def call() -> list[Completion]:
        try:
            return await provider.complete(
                Request((Message("user", text),), decoding or Decoding(), n)
            )
        finally:
            await provider.aclose()

    return asyncio.run(call())


# ---------------------------------------------------------------- one call


def test_usage_keeps_cached_prompt_tokens(fake: FakeZhipu) -> None:
    """``usage.prompt_tokens_details.cached_tokens``: the fake counts the system prompt as read
    from the cache."""
    provider = make_provider(fake)
    messages = (Message("system", "s" * 400), Message("user", "How do I store bleach?"))

    async def call() -> list[Completion]:
        try:
            return await provider.complete(Request(messages, Decoding()))
        finally:
            await provider.aclose()

    (completion,) = asyncio.run(call())
    assert completion.usage.cached_tokens == 100
    assert completion.usage.prompt_tokens == completion.raw["usage"]["prompt_tokens"] > 100


@pytest.mark.parametrize("style", ["think_tags", "reasoning_content"])
def test_reasoning_is_split_from_the_answer(fake: FakeZhipu, style: str) -> None:
    question = f"How do I store bleach? [[style:{style}]]"
    (completion,) = ask(make_provider(fake), question)
    reasoning, answer = expected_texts(question)
    assert (completion.reasoning, completion.answer) == (reasoning, answer)
    assert completion.reasoning_source == style
    assert (completion.finish_reason, completion.truncated, completion.blocked) == (
        "stop",
        False,
        False,
    )
    usage = completion.raw["usage"]
    assert completion.usage.prompt_tokens == usage["prompt_tokens"]
    assert completion.usage.completion_tokens == usage["completion_tokens"]
    assert (
        completion.usage.reasoning_tokens == usage["completion_tokens_details"]["reasoning_tokens"]
    )
    assert completion.raw["choices"][0]["message"]["role"] == "assistant"
    assert json.dumps(
        completion.raw
    )  # the raw response is plain JSON data, as the run file keeps it


def test_a_reply_without_reasoning(fake: FakeZhipu) -> None:
    (completion,) = ask(make_provider(fake), "Hi [[style:none]]")
    assert (completion.reasoning, completion.reasoning_source) == (None, "none")
    assert completion.usage.reasoning_tokens is None


def test_a_reply_cut_by_the_token_limit_is_truncated(fake: FakeZhipu) -> None:
    (completion,) = ask(make_provider(fake), "Long one [[finish:length]]")
    assert (completion.finish_reason, completion.truncated) == ("length", True)


def test_sensitive_finish_is_a_content_filter_outcome(fake: FakeZhipu) -> None:
    (completion,) = ask(make_provider(fake), "Risky [[finish:sensitive]]")
    assert completion.finish_reason == "content_filter"
    assert completion.blocked
    assert completion.raw["choices"][0]["finish_reason"] == "sensitive", "Zhipu's own word is kept"


def test_the_request_on_the_wire(fake: FakeZhipu) -> None:
    provider = make_provider(fake)
    ask(provider, "Hello", Decoding(max_tokens=256, seed=7))
    sent, headers = fake.requests[-1], fake.headers[-1]
    assert sent["model"] == MODEL
    assert sent["messages"] == [{"role": "user", "content": "Hello"}]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (
        0.6,
        0.95,
        256,
        7,
    )
    assert "top_k" not in sent and "n" not in sent
    assert provider.dropped_parameters == {"top_k"}, "the run file records what was not sent"
    assert headers["authorization"] == f"Bearer {TEST_KEY}"
    assert headers["x-request-sdk"] == "zhipu-sdk-python", "the official SDK made the call"


def test_a_greedy_judge_is_sent_as_do_sample_false(fake: FakeZhipu) -> None:
    provider = make_provider(fake)
    ask(provider, "Judge this", JUDGE_DECODING)
    sent = fake.requests[-1]
    assert sent["do_sample"] is False
    assert "top_p" not in sent
    assert provider.dropped_parameters == set()


def test_n_above_one_is_refused_with_a_hint(fake: FakeZhipu) -> None:
    with pytest.raises(FatalError, match="--use-n"):
        ask(make_provider(fake), "Hello", n=3)
    assert fake.calls == 0


ERROR_CASES: list[tuple[str, str, type[ProviderError], str]] = [
    ("rate limit 1302", "[[error:1302:1:2.5]]", RateLimited, "rate limited (HTTP 429, Zhipu code 1302)"),
    ("rate limit 1303", "[[error:1303]]", RateLimited, "Zhipu code 1303"),
    ("traffic limit 1305", "[[error:1305]]", RateLimited, "Zhipu code 1305"),
    ("server error", "[[error:500]]", TransientError, "HTTP 500"),
    ("inference error", "[[finish:network_error]]", TransientError, "network_error"),
    ("broken body", "[[fault:broken_json]]", TransientError, "malformed response body"),
    ("dropped connection", "[[fault:disconnect]]", TransientError, "cannot connect"),
    ("hang", "[[fault:hang]]", TransientError, "within the timeout"),
    ("content filter 1301", "[[error:1301]]", ContentBlocked, "不安全或敏感内容"),
    ("policy block 1300", "[[error:1300]]", ContentBlocked, "Zhipu code 1300"),
    ("prompt too long 1261", "[[error:1261]]", ContextOverflow, "prompt too long for glm-z1-air"),
    ("arrears 1113 (HTTP 429)", "[[error:1113]]", FatalError, "in arrears: top it up"),
    ("daily limit 1304", "[[error:1304]]", FatalError, "rerun tomorrow"),
    ("bad parameter 1214", "[[error:1214]]", FatalError, "request rejected by"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("marker", "kind", "words"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_errors_are_classified(
    fake: FakeZhipu, marker: str, kind: type[ProviderError], words: str
) -> None:
    with pytest.raises(ProviderError) as caught:
        ask(make_provider(fake, timeout=0.3), f"Question {marker}")
    assert type(caught.value) is kind
    assert words in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.retry_after == (2.5 if "1302" in marker else None)


def test_an_error_in_a_200_body_is_classified_too(fake: FakeZhipu) -> None:
    provider = make_provider(fake)
    with pytest.raises(ContentBlocked, match="1301"):
        provider.parse_response({"error": {"code": "1301", "message": "unsafe"}})
    with pytest.raises(TransientError, match="no choices"):
        provider.parse_response({"id": "x", "choices": []})


def test_a_wrong_key_is_fatal_and_names_the_variable(fake: FakeZhipu) -> None:
    with pytest.raises(
        FatalError, match=r"authentication failed .*HTTP 401.*\$MY_ZHIPU_KEY"
    ) as caught:
        ask(make_provider(fake, key="other-id.other-secret"), "Hello")
    assert "other-secret" not in caught.value.message


def test_an_unknown_model_is_fatal(fake: FakeZhipu) -> None:
    with pytest.raises(FatalError, match=r"model 'glm-9' does not exist .*check --model"):
        ask(make_provider(fake, model="glm-9"), "Hello")


def test_an_unreachable_endpoint_is_transient() -> None:
    connection = Connection(TEST_KEY, "ZHIPUAI_API_KEY", closed_port_url(), Limits(timeout_s=2.0))
    provider = ZhipuAIProvider(MODEL, connection)
    with pytest.raises(TransientError, match=r"cannot connect to http://127\.0\.0\.1"):
        ask(provider, "Hello")


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zhipuai", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'bsa-bench\[zhipuai\]'"):
        ZhipuAIProvider(MODEL, Connection(TEST_KEY, "ZHIPUAI_API_KEY"))


def test_the_fake_checks_the_sdks_signed_token_too(fake: FakeZhipu) -> None:
    """The SDK signs a JWT from the id.secret key when its token cache is on; the fake verifies
    it, so its auth check is the platform's, not a string compare that anything would pass."""
    import zhipuai

    for key, accepted in ((TEST_KEY, True), ("fake-id.wrong-secret", False)):
        client = zhipuai.ZhipuAI(
            api_key=key, base_url=fake.base_url, max_retries=0, disable_token_cache=False
        )
        try:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}]
            )
        except zhipuai.APIAuthenticationError:
            assert not accepted
        else:
            assert accepted
        assert fake.headers[-1]["authorization"].count(".") == 2, "a JWT, not the key"


# ---------------------------------------------------------------- the pipeline


def bsa_prompts() -> list[Prompt]:
    return prompts_from_items(load_dataset().items[:3])


def run_generate(
    fake: FakeZhipu, run: Path, prompts: list[Prompt], *, k: int = 1, key: str = TEST_KEY
) -> Any:
    provider = make_provider(fake, key=key)
    settings = GenerationSettings(f"zhipuai:{MODEL}", Decoding(seed=1))
    execution = Execution(k=k, concurrency=4, policy=FAST_RETRIES)
    return asyncio.run(generate(run, prompts, provider, settings, execution))


def test_generation_stores_every_sample_and_resumes_without_calls(
    fake: FakeZhipu, tmp_path: Path
) -> None:
    run = tmp_path / "run.sqlite"
    first = run_generate(fake, run, bsa_prompts(), k=2)
    assert first.status == {"ok": 6, "blocked": 0, "failed": 0}
    assert first.dropped_parameters == ("top_k",)
    assert fake.calls == 6
    second = run_generate(fake, run, bsa_prompts(), k=2)
    assert second.counters.total == 0
    assert fake.calls == 6, "the rerun made no call"
    with RunStore(run) as store:
        samples = list(store.generations())
        assert store.get_meta("dropped_parameters") == ["top_k"]
    assert {s.reasoning_source for s in samples} == {"think_tags"}
    for sample in samples:
        assert (sample.reasoning, sample.answer) == expected_texts(sample_query(sample.item_id))
        assert sample.reasoning_tokens and sample.prompt_tokens
        assert json.loads(sample.raw)["model"] == MODEL


def sample_query(item_id: str) -> str:
    return {p.item_id: p.query for p in bsa_prompts()}[item_id]


def test_rate_limits_are_waited_out_and_refusals_stored_as_blocked(
    fake: FakeZhipu, tmp_path: Path
) -> None:
    prompts = [
        Prompt("busy", "Busy [[error:1302:2:0.01]]"),
        Prompt("refused", "Refused [[error:1301:*]]"),
        Prompt("cut", "Cut off [[finish:sensitive]]"),
    ]
    report = run_generate(fake, tmp_path / "run.sqlite", prompts)
    assert report.status == {"ok": 1, "blocked": 2, "failed": 0}
    assert fake.requests_for("Busy [[error:1302:2:0.01]]") == 3
    assert fake.requests_for("Refused [[error:1301:*]]") == 1, "a refusal is never asked again"
    with RunStore(tmp_path / "run.sqlite") as store:
        stored = {g.item_id: g for g in store.generations()}
    assert stored["busy"].attempts == 3
    assert "1301" in stored["refused"].error
    assert stored["cut"].finish_reason == "content_filter"


def test_a_bad_key_stops_the_run_at_once(fake: FakeZhipu, tmp_path: Path) -> None:
    prompts = [Prompt(f"q{n}", f"Question {n}") for n in range(20)]
    with pytest.raises(RunAborted, match=r"\$MY_ZHIPU_KEY"):
        run_generate(fake, tmp_path / "run.sqlite", prompts, key="wrong-id.wrong-secret")
    assert fake.calls <= 4, "only the calls already in flight"


def judge_reply(body: dict[str, Any]) -> str:
    reply = mock_judge_reply(last_user_text(body["messages"]))
    assert reply is not None, "the judge was sent something that is not a BSA judge prompt"
    return reply


def test_a_glm_judge_grades_the_run(fake: FakeZhipu, tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    run_generate(fake, run, bsa_prompts())
    judge = FakeZhipu(respond=judge_reply)
    with judge.serve():
        report = asyncio.run(
            judge_run(run, make_provider(judge, model="glm-4-plus"), Execution(policy=FAST_RETRIES))
        )
        assert report.status == {"scored": 6, "unscored": 0, "failed": 0}
        assert judge.calls == 6, "a safety and a thinking verdict per sample"
        assert all(sent["do_sample"] is False for sent in judge.requests)
        again = asyncio.run(
            judge_run(run, make_provider(judge, model="glm-4-plus"), Execution(policy=FAST_RETRIES))
        )
        assert (again.counters.total, judge.calls) == (0, 6)
    with RunStore(run) as store:
        assert store.judges() == ["zhipuai:glm-4-plus"]


def test_create_provider_builds_it_once_registered(
    fake: FakeZhipu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bsa import providers

    assert "zhipuai" in providers.provider_names()
    monkeypatch.setenv("ZHIPUAI_API_KEY", TEST_KEY)
    provider = providers.create_provider(
        f"zhipuai:{MODEL}",
        providers.ProviderOptions(base_url=fake.base_url),
        limits=providers.Limits(timeout_s=5.0),
    )
    assert isinstance(provider, ZhipuAIProvider)
    assert provider.label == f"zhipuai:{MODEL}"
    (completion,) = asyncio.run(provider.complete(Request((Message("user", "Hi"),), Decoding())))
    assert completion.answer
