"""The one HTTP status ladder every HTTP provider shares (bsa.providers.http_errors)."""

from __future__ import annotations

import pytest

from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.connection import Connection
from bsa.providers.http_errors import Endpoint, HttpFailure, classify_http
from bsa.providers.openai_compat import OpenAICompatible

ENDPOINT = Endpoint("http://127.0.0.1:9/v1", "m-1", "MY_KEY")


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (400, FatalError, "request rejected by http://127.0.0.1:9/v1 (HTTP 400): boom"),
        (401, FatalError, "authentication failed at http://127.0.0.1:9/v1 (HTTP 401)"),
        (403, FatalError, "permission denied at http://127.0.0.1:9/v1 (HTTP 403) for model 'm-1'"),
        (404, FatalError, "model 'm-1' or endpoint not found at http://127.0.0.1:9/v1 (HTTP 404)"),
        (408, TransientError, "HTTP 408: boom"),
        (409, TransientError, "HTTP 409: boom"),
        (413, FatalError, "request rejected by"),
        (422, FatalError, "request rejected by"),
        (429, RateLimited, "rate limited (HTTP 429): boom"),
        (500, TransientError, "HTTP 500: boom"),
        (503, Overloaded, "HTTP 503: boom"),  # a transient error that auto concurrency backs off on
        (529, Overloaded, "HTTP 529: boom"),  # Anthropic's overloaded_error
    ],
)
def test_the_status_ladder(status: int, kind: type[ProviderError], words: str) -> None:
    outcome = classify_http(HttpFailure(status, "boom", retry_after=3.0), ENDPOINT)
    assert type(outcome) is kind
    assert words in outcome.message
    assert outcome.retry_after == (3.0 if outcome.retryable else None)


def test_the_vendor_reading_decides_before_the_status() -> None:
    def outcome(**reading: str) -> ProviderError:
        return classify_http(HttpFailure(429, "boom", **reading), ENDPOINT)

    assert type(outcome(blocked="filtered")) is ContentBlocked
    assert type(outcome(overflow="too long")) is ContextOverflow
    assert outcome(fatal="quota gone").message == "quota gone"
    rate = classify_http(HttpFailure(400, "slow", rate_limited=True, where="code 7"), ENDPOINT)
    assert (type(rate), rate.message) == (RateLimited, "rate limited (code 7): slow")
    assert type(classify_http(HttpFailure(400, "x", transient=True), ENDPOINT)) is TransientError


def test_a_vendor_words_its_404() -> None:
    wording = "no {model} at {base_url} ({where}; {text})"
    outcome = classify_http(HttpFailure(404, "gone"), ENDPOINT, not_found=wording)
    assert outcome.message == "no m-1 at http://127.0.0.1:9/v1 (HTTP 404; gone)"


def test_the_providers_word_a_refusal_alike() -> None:
    """Zhipu's 403 without a business code and Anthropic's other 4xx read as the OpenAI
    provider's do, now that one ladder words them."""
    pytest.importorskip("anthropic")
    pytest.importorskip("zhipuai")
    from bsa.providers.zhipuai_sdk import ZhipuAIProvider
    from tests.fake_anthropic import FakeAnthropic, error
    from tests.test_anthropic_provider import answer_with

    base_url = "http://127.0.0.1:9/v4"
    openai = OpenAICompatible("glm", Connection("k", "K", base_url))
    zhipu = ZhipuAIProvider("glm", Connection("id.secret", "ZHIPUAI_API_KEY", base_url))
    expected = f"permission denied at {base_url} (HTTP 403) for model 'glm': Forbidden"
    assert openai._classify_body(403, {"error": {"message": "Forbidden"}}).message == expected
    assert zhipu._classify(403, None, {}, "Forbidden").message == expected
    fake = FakeAnthropic()
    with fake.serve(), pytest.raises(FatalError, match=r"request rejected by .* \(HTTP 400\)"):
        answer_with(fake, error(400, "invalid_request_error", "thinking: unsupported"))
