"""How the OpenAI-compatible provider reads vendors' error bodies: a table of real-looking replies."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    NIgnored,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.base import retry_after_seconds as _retry_after
from bsa.providers.connection import Connection
from bsa.providers.openai_compat import OpenAICompatible


@pytest.fixture(scope="module")
def provider() -> OpenAICompatible:
    return OpenAICompatible("m", Connection("k", "MY_KEY", "http://127.0.0.1:9/v1"))


def error(code: str | None, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": "invalid_request_error", **extra}}


CASES: list[tuple[str, int, object, type[ProviderError], str]] = [
    ("OpenAI content filter", 400, error("content_filter", "blocked"), ContentBlocked, "blocked"),
    (
        "Azure ResponsibleAI",
        400,
        error(
            "content_filter",
            "The response was filtered",
            innererror={"code": "ResponsibleAIPolicyViolation"},
        ),
        ContentBlocked,
        "filtered",
    ),
    (
        "DashScope",
        400,
        error("data_inspection_failed", "Input data may contain inappropriate content."),
        ContentBlocked,
        "inappropriate",
    ),
    (
        "DeepSeek",
        400,
        error("invalid_request_error", "Content Exists Risk"),
        ContentBlocked,
        "Content Exists Risk",
    ),
    (
        "Zhipu 1301",
        400,
        {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}},
        ContentBlocked,
        "1301",
    ),
    (
        "context",
        400,
        error("context_length_exceeded", "This model's maximum context length is 8192 tokens"),
        ContextOverflow,
        "maximum context",
    ),
    (
        "rate limit",
        429,
        error("rate_limit_exceeded", "Rate limit reached"),
        RateLimited,
        "rate limited (HTTP 429)",
    ),
    (
        "quota",
        429,
        error("insufficient_quota", "You exceeded your current quota"),
        FatalError,
        "quota exhausted",
    ),
    ("overloaded", 529, error(None, "Overloaded"), Overloaded, "HTTP 529"),
    ("server error", 500, "Internal Server Error", TransientError, "HTTP 500"),
    (
        "bad key",
        401,
        error("invalid_api_key", "Incorrect API key provided: sk-abc***xyz"),
        FatalError,
        "$MY_KEY",
    ),
    (
        "forbidden",
        403,
        error(None, "Project does not have access to model m"),
        FatalError,
        "permission denied",
    ),
    (
        "not found",
        404,
        error("model_not_found", "The model `m` does not exist"),
        FatalError,
        "check --model and --base-url",
    ),
    ("other 400", 400, error(None, "Invalid value for 'temperature'"), FatalError, "HTTP 400"),
]


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_bodies_are_classified(
    provider: OpenAICompatible, status: int, body: object, kind: type[ProviderError], words: str
) -> None:
    outcome = provider._classify_body(status, body, message=str(body))
    assert type(outcome) is kind
    assert words in outcome.message or (words == "1301" and "不安全" in outcome.message)
    assert "\n" not in outcome.message


def test_the_key_is_not_in_a_401_message(provider: OpenAICompatible) -> None:
    outcome = provider._classify_body(
        401, error("invalid_api_key", "Incorrect API key provided: sk-live-123")
    )
    assert "sk-live-123" not in outcome.message


def test_retry_after_forms() -> None:
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert _retry_after({}) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (_retry_after({"retry-after": date}) or 0) <= 31


def test_a_200_with_an_error_object_is_classified(provider: OpenAICompatible) -> None:
    with pytest.raises(ContentBlocked):
        provider.parse_response(error("1301", "unsafe content"), 1)
    with pytest.raises(TransientError, match="no choices"):
        provider.parse_response({"id": "x", "choices": []}, 1)
    choice = {"message": {"content": "a"}, "finish_reason": "stop"}
    with pytest.raises(TransientError, match="asked for 3 samples, got 2"):
        provider.parse_response({"choices": [choice, choice]}, 3)
    with pytest.raises(NIgnored, match="ignored n") as caught:  # one choice: n was ignored
        provider.parse_response({"choices": [choice]}, 3)
    assert [c.answer for c in caught.value.completions] == ["a"]
