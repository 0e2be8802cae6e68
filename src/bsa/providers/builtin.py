"""The providers that ship with bsa, each declared once.

A factory imports its provider's module (and so its SDK) only when the provider is named, so
``import bsa`` never needs an optional extra. Third-party providers are declared the same way in
their own package and found through the ``bsa.providers`` entry-point group
(:mod:`bsa.providers.registry`).
"""

from __future__ import annotations

from bsa.providers.base import Provider, ProviderSpec
from bsa.providers.connection import Connection, ProviderOptions

#: The variables remote built-ins read their keys from unless told otherwise (their constructors'
#: defaults too).
OPENAI_KEY_ENV = "OPENAI_API_KEY"
ZHIPUAI_KEY_ENV = "ZHIPUAI_API_KEY"
ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY"


def _connected(connection: Connection | None) -> Connection:
    """The registry gives every spec with a ``key_env`` a connection."""
    if connection is None:  # pragma: no cover - a registry bug, not a user error
        raise AssertionError("a remote provider was built without a connection")
    return connection


def _openai(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    from bsa.providers.openai_compat import OpenAICompatible

    remote = _connected(connection).as_kwargs()
    return OpenAICompatible(model, **remote, use_n=options.use_n, stream=options.stream)


def _zhipuai(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    from bsa.providers.zhipuai_sdk import ZhipuAIProvider

    return ZhipuAIProvider(model, **_connected(connection).as_kwargs())


def _anthropic(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    from bsa.providers.anthropic_sdk import AnthropicProvider

    remote = _connected(connection).as_kwargs()
    return AnthropicProvider(model, **remote, thinking_budget=options.thinking_budget)


def _hf(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    from bsa.providers.local_hf import LocalHF

    return LocalHF(model, batch_size=options.batch_size)


def _mock(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    from bsa.providers.mock import MockProvider

    return MockProvider(model)


OPENAI = ProviderSpec("openai", _openai, key_env=OPENAI_KEY_ENV)
ZHIPUAI = ProviderSpec("zhipuai", _zhipuai, key_env=ZHIPUAI_KEY_ENV)
ANTHROPIC = ProviderSpec("anthropic", _anthropic, key_env=ANTHROPIC_KEY_ENV)
HF = ProviderSpec("hf", _hf)
MOCK = ProviderSpec("mock", _mock)

#: In the order error messages list them.
BUILTINS = {spec.name: spec for spec in (OPENAI, ZHIPUAI, ANTHROPIC, HF, MOCK)}
