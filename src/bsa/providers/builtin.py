"""The providers that ship with bsa, each declared once with the options only it understands.

A factory imports its provider's module (and so its SDK) only when the provider is named, so
``import bsa`` never needs an optional extra. Third-party providers are declared the same way in
their own package and found through the ``bsa.providers`` entry-point group
(:mod:`bsa.providers.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from bsa.errors import BsaError
from bsa.providers.base import Provider, ProviderSpec
from bsa.providers.connection import Connection
from bsa.providers.options import NoOptions, option

if TYPE_CHECKING:
    from bsa.batch.api import BatchApi

#: The variables remote built-ins read their keys from unless told otherwise (their constructors'
#: defaults too).
OPENAI_KEY_ENV = "OPENAI_API_KEY"
#: Where the OpenAI SDK looks for the endpoint when none is given; bsa reads it the same way.
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
ZHIPUAI_KEY_ENV = "ZHIPUAI_API_KEY"
ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY"
GEMINI_KEY_ENV = "GEMINI_API_KEY"


@dataclass(frozen=True)
class OpenAIOptions:
    """What only the OpenAI-compatible provider understands."""

    stream: bool = option(False, help="Stream responses.", flag="--stream")


@dataclass(frozen=True)
class OpenAIResponsesOptions:
    """What only the OpenAI Responses provider understands."""

    reasoning_summary: str = option(
        "auto",
        help="Reasoning summary the Responses API returns: auto or detailed.",
        flag="--reasoning-summary",
        judge_flag="--judge-reasoning-summary",
    )


@dataclass(frozen=True)
class AnthropicOptions:
    """What only the Anthropic provider understands."""

    thinking_budget: int = option(
        8192,
        help="Thinking budget in tokens of anthropic: and gemini: models (0: off).",
        flag="--thinking-budget",
        judge_flag="--judge-thinking-budget",
        minimum=0,
    )
    thinking: str = option(
        "enabled",
        help="Anthropic thinking: enabled (a fixed --thinking-budget) or adaptive (the model's "
        "own, for models that prefer it; the budget then only sizes max_tokens).",
        flag="--thinking",
        judge_flag="--judge-thinking",
    )


@dataclass(frozen=True)
class GeminiOptions:
    """What only the Gemini provider understands; the budget shares Anthropic's flag and
    default, and also takes -1 (the model decides) through ``-o``."""

    thinking_budget: int = option(
        8192,
        help="Gemini thinking budget in tokens (-1: the model decides; 0: off where allowed).",
        flag="--thinking-budget",
        judge_flag="--judge-thinking-budget",
        minimum=-1,
    )


@dataclass(frozen=True)
class LocalOptions:
    """What only the local (``hf:``) provider understands."""

    batch_size: int = option(
        8,
        help="Sequences generated together by a local hf: model.",
        flag="--batch-size",
        minimum=1,
    )


def _connected(connection: Connection | None) -> Connection:
    """The registry gives every spec with a ``key_env`` a connection."""
    if connection is None:  # pragma: no cover - a registry bug, not a user error
        raise AssertionError("a remote provider was built without a connection")
    return connection


def _openai(model: str, options: OpenAIOptions, connection: Connection | None) -> Provider:
    from bsa.providers.openai_compat import OpenAICompatible

    return OpenAICompatible(model, _connected(connection), stream=options.stream)


def _openai_responses(
    model: str, options: OpenAIResponsesOptions, connection: Connection | None
) -> Provider:
    from bsa.providers.openai_responses import OpenAIResponses

    connected = _connected(connection)
    return OpenAIResponses(model, connected, reasoning_summary=options.reasoning_summary)


def _zhipuai(model: str, options: NoOptions, connection: Connection | None) -> Provider:
    from bsa.providers.zhipuai_sdk import ZhipuAIProvider

    return ZhipuAIProvider(model, _connected(connection))


def _anthropic(model: str, options: AnthropicOptions, connection: Connection | None) -> Provider:
    from bsa.providers.anthropic_sdk import AnthropicProvider

    connected = _connected(connection)
    return AnthropicProvider(
        model, connected, thinking_budget=options.thinking_budget, thinking=options.thinking
    )


def _gemini(model: str, options: GeminiOptions, connection: Connection | None) -> Provider:
    from bsa.providers.gemini_sdk import GeminiProvider

    return GeminiProvider(model, _connected(connection), thinking_budget=options.thinking_budget)


def _hf(model: str, options: LocalOptions, connection: Connection | None) -> Provider:
    from bsa.providers.local_hf import LocalHF

    return LocalHF(model, batch_size=options.batch_size)


def _openai_batch(provider: Provider) -> BatchApi:
    from bsa.batch import openai_batch
    from bsa.providers.openai_compat import OpenAICompatible

    endpoint = _one_endpoint(provider, OpenAICompatible)
    return openai_batch.OpenAIBatch(endpoint, openai_batch.OPENAI_LIMITS)


def _anthropic_batch(provider: Provider) -> BatchApi:
    from bsa.batch import anthropic_batch
    from bsa.providers.anthropic_sdk import AnthropicProvider

    endpoint = _one_endpoint(provider, AnthropicProvider)
    return anthropic_batch.AnthropicBatch(endpoint, anthropic_batch.ANTHROPIC_LIMITS)


P = TypeVar("P", bound=Provider)


def _one_endpoint(provider: Provider, kind: type[P]) -> P:
    """A batch is submitted to one endpoint: several replicas behind one name cannot share one."""
    if not isinstance(provider, kind):
        raise BsaError(
            f"--batch: {provider.label} has several base URLs, but a batch goes to one endpoint; "
            "give --base-url once"
        )
    return provider


def _mock(model: str, options: NoOptions, connection: Connection | None) -> Provider:
    from bsa.providers.mock import MockProvider

    return MockProvider(model)


OPENAI = ProviderSpec(
    "openai",
    _openai,
    key_env=OPENAI_KEY_ENV,
    base_url_env=OPENAI_BASE_URL_ENV,
    options=OpenAIOptions,
    batch_api=_openai_batch,
)
OPENAI_RESPONSES = ProviderSpec(
    "openai-responses",
    _openai_responses,
    key_env=OPENAI_KEY_ENV,
    base_url_env=OPENAI_BASE_URL_ENV,
    options=OpenAIResponsesOptions,
)
ZHIPUAI = ProviderSpec("zhipuai", _zhipuai, key_env=ZHIPUAI_KEY_ENV)
ANTHROPIC = ProviderSpec(
    "anthropic",
    _anthropic,
    key_env=ANTHROPIC_KEY_ENV,
    options=AnthropicOptions,
    batch_api=_anthropic_batch,
)
GEMINI = ProviderSpec("gemini", _gemini, key_env=GEMINI_KEY_ENV, options=GeminiOptions)
HF = ProviderSpec("hf", _hf, options=LocalOptions)
MOCK = ProviderSpec("mock", _mock)

#: In the order error messages list them.
BUILTINS = {
    spec.name: spec for spec in (OPENAI, OPENAI_RESPONSES, ZHIPUAI, ANTHROPIC, GEMINI, HF, MOCK)
}
