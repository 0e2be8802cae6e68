"""Providers by name: ``provider:model`` on the command line becomes a :class:`Provider` here.

Each provider lives in its own module, imported only when named, so ``import bsa`` never needs an
optional SDK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunsplit

from bsa.errors import BsaError
from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    Provider,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.redaction import MASK, redact, register_secret, register_url_secrets

PROVIDERS = ("openai", "zhipuai", "anthropic", "hf", "mock")
#: The environment variable each remote provider reads its key from unless told otherwise.
KEY_ENVS = {
    "openai": "OPENAI_API_KEY",
    "zhipuai": "ZHIPUAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
#: vLLM's documented placeholder key, for local servers that check none.
LOCAL_PLACEHOLDER_KEY = "EMPTY"


@dataclass(frozen=True)
class ProviderOptions:
    """Connection settings for a provider; the key itself is never part of them."""

    base_url: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    timeout_s: float = 600.0
    max_connections: int = 64
    use_n: bool = False
    stream: bool = False
    #: Anthropic extended thinking budget in tokens (0 turns thinking off).
    thinking_budget: int = 8192
    #: Sequences generated together by the local (hf) provider.
    batch_size: int = 8
    #: How the command line names these options (``judge-`` for ``--judge-api-key-env``), so an
    #: error names the flag that fixes it.
    flag_prefix: str = ""


def split_model(spec: str) -> tuple[str, str]:
    """``provider:model`` -> (provider, model); the model part may itself hold colons. A bare
    ``mock`` is the mock provider's only model."""
    if spec == "mock":
        return "mock", "mock"
    provider, colon, model = spec.partition(":")
    if not colon or not provider or not model:
        raise BsaError(
            f"model {spec!r} must be written provider:model, e.g. openai:gpt-4o "
            f"(providers: {', '.join(PROVIDERS)})"
        )
    if provider not in PROVIDERS:
        raise BsaError(f"unknown provider {provider!r} in {spec!r} (known: {', '.join(PROVIDERS)})")
    return provider, model


def canonical_model(spec: str) -> str:
    """``provider:model`` as providers label themselves (``mock`` is ``mock:mock``)."""
    provider, model = split_model(spec)
    return f"{provider}:{model}"


def create_provider(spec: str, options: ProviderOptions, *, api_key: str | None = None) -> Provider:
    """The provider for ``spec``. ``api_key`` (from an upstream config file) outranks the
    environment; it is passed to the SDK and kept nowhere else."""
    provider, model = split_model(spec)
    if provider == "openai":
        from bsa.providers.openai_compat import OpenAICompatible

        remote = _remote(options, KEY_ENVS[provider], api_key)
        return OpenAICompatible(model, **remote, use_n=options.use_n, stream=options.stream)
    if provider == "zhipuai":
        from bsa.providers.zhipuai_sdk import ZhipuAIProvider

        return ZhipuAIProvider(model, **_remote(options, KEY_ENVS[provider], api_key))
    if provider == "anthropic":
        from bsa.providers.anthropic_sdk import AnthropicProvider

        remote = _remote(options, KEY_ENVS[provider], api_key)
        return AnthropicProvider(model, **remote, thinking_budget=options.thinking_budget)
    if provider == "hf":
        from bsa.providers.local_hf import LocalHF

        return LocalHF(model, batch_size=options.batch_size)
    if provider == "mock":
        from bsa.providers.mock import MockProvider

        return MockProvider(model)
    raise AssertionError(provider)  # split_model admits only known providers


def _remote(options: ProviderOptions, default_env: str, api_key: str | None) -> dict[str, Any]:
    """The connection arguments every remote provider takes: key, its variable's name (for error
    messages), endpoint, timeout and pool size."""
    env = options.api_key_env or default_env
    check_base_url(options.base_url, options.flag_prefix)
    key = api_key or resolve_api_key(
        env, options.api_key_file, options.base_url, options.flag_prefix
    )
    register_secret(key)
    return {
        "api_key": key,
        "api_key_env": env,
        "base_url": options.base_url,
        "timeout": options.timeout_s,
        "max_connections": options.max_connections,
    }


def check_credentials(spec: str, options: ProviderOptions) -> None:
    """Fail now where :func:`create_provider` would fail later, with the flag that fixes it: an
    unknown provider, a base URL with credentials, a missing or unreadable key. ``bsa run``
    checks its judges so before generating for hours; nothing is connected or loaded."""
    provider, _ = split_model(spec)
    if provider in KEY_ENVS:
        _remote(options, KEY_ENVS[provider], None)


def check_base_url(base_url: str | None, flag_prefix: str = "") -> None:
    """Refuse a URL with credentials in it (``https://user:KEY@host``): the HTTP client cannot
    send them beside the key (it crashed), and a URL is printed in messages. The userinfo and any
    secret-named query value (``?api_key=``) are registered first, so they are masked wherever
    the URL is written."""
    register_url_secrets(base_url)
    parts = urlsplit(base_url or "")
    if "@" in parts.netloc:
        shown = urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc.rpartition('@')[2]}"))
        raise BsaError(
            f"base URL {redact(shown)} has credentials in it (user:password@); give the key "
            f"through --{flag_prefix}api-key-env VAR or --{flag_prefix}api-key-file FILE instead"
        )


def resolve_api_key(
    env: str, key_file: Path | None, base_url: str | None, flag_prefix: str = ""
) -> str:
    """The key from ``key_file`` or the environment variable ``env``.

    Keys never come from the command line, where shells and process lists would keep them. A
    server on this machine (vLLM, SGLang, Ollama) usually checks no key, so it gets a placeholder.
    """
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8-sig").strip()
        except OSError as error:
            raise BsaError(f"cannot read API key file {key_file}: {error.strerror}") from error
        except UnicodeDecodeError as error:  # the bytes are the key: never quote them
            raise BsaError(
                f"API key file {key_file} is not UTF-8 text (byte {error.start}); save the key "
                "as plain text"
            ) from None
        if not key:
            raise BsaError(f"API key file {key_file} is empty")
        return key
    key = os.environ.get(env, "").strip()
    if key:
        return key
    if base_url and urlparse(base_url).hostname in LOCAL_HOSTS:
        return LOCAL_PLACEHOLDER_KEY
    raise BsaError(
        f"no API key: set the environment variable {env} (or name another with "
        f"--{flag_prefix}api-key-env, or give --{flag_prefix}api-key-file FILE)"
    )


__all__ = [
    "ContentBlocked",
    "ContextOverflow",
    "FatalError",
    "Provider",
    "ProviderError",
    "ProviderOptions",
    "RateLimited",
    "TransientError",
    "canonical_model",
    "create_provider",
    "split_model",
]
