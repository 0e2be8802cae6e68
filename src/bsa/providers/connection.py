"""What a provider is built from: the user's connection settings and, for a remote provider, the
resolved key.

Keys never come from the command line, where shells and process lists would keep them: they come
from an environment variable, a key file, or an upstream config file, and are registered with
:mod:`bsa.redaction` the moment they are read, so no message can print them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunsplit

from bsa.errors import BsaError
from bsa.redaction import MASK, redact, register_secret, register_url_secrets

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
#: vLLM's documented placeholder key, for local servers that check none.
LOCAL_PLACEHOLDER_KEY = "EMPTY"


@dataclass(frozen=True)
class ProviderOptions:
    """What the user tells a provider: where it is, where its key is, and the provider's own
    options by key (typed values of the fields its spec's ``options`` record declares). The key
    itself is never part of them; the timeout and pool size come from the stage's Execution."""

    base_url: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    #: Every endpoint of the model when it has several (``--base-url`` repeated: replicas, see
    #: :mod:`bsa.providers.replicas`); ``base_url`` is then the first. Empty with one.
    replica_urls: tuple[str, ...] = ()
    #: The provider's own options (``{"thinking_budget": 0}``); a key it does not declare is an
    #: error when the provider is built.
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: How the command line names these options (``judge-`` for ``--judge-api-key-env``), so an
    #: error names the flag that fixes it.
    flag_prefix: str = ""


def endpoints(urls: Sequence[str]) -> dict[str, Any]:
    """The ``base_url`` and ``replica_urls`` of :class:`ProviderOptions` for the URLs given (none,
    one, or several replicas of the model)."""
    return {
        "base_url": urls[0] if urls else None,
        "replica_urls": tuple(urls) if len(urls) > 1 else (),
    }


@dataclass(frozen=True)
class Limits:
    """The HTTP client's timeout and pool size: derived from the stage's Execution (its retry
    policy's timeout, its concurrency), never set on their own."""

    timeout_s: float = 600.0
    max_connections: int = 64


@dataclass(frozen=True)
class Connection:
    """The arguments every remote provider's constructor takes, resolved and checked: the key,
    its variable's name (for error messages), endpoint, timeout and pool size."""

    api_key: str = field(repr=False)
    api_key_env: str
    base_url: str | None = None
    limits: Limits = field(default_factory=Limits)

    @property
    def timeout(self) -> float:
        return self.limits.timeout_s

    @property
    def max_connections(self) -> int:
        return self.limits.max_connections


#: The limits of a provider built outside a stage (a test, a one-off call).
DEFAULT_LIMITS = Limits()


def connect(
    options: ProviderOptions,
    default_env: str,
    api_key: str | None,
    limits: Limits = DEFAULT_LIMITS,
) -> Connection:
    """The checked connection of a remote provider whose key is read from ``default_env`` unless
    the options name another variable or a file; ``api_key`` (from an upstream config file)
    outranks both."""
    env = options.api_key_env or default_env
    check_base_url(options.base_url, options.flag_prefix)
    key = api_key or resolve_api_key(
        env, options.api_key_file, options.base_url, options.flag_prefix
    )
    register_secret(key)
    return Connection(key, env, options.base_url, limits)


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

    A server on this machine (vLLM, SGLang, Ollama) usually checks no key, so it gets a
    placeholder.
    """
    if key_file is not None:
        return _read_key_file(key_file)
    key = os.environ.get(env, "").strip()
    if key:
        return key
    if base_url and urlparse(base_url).hostname in LOCAL_HOSTS:
        return LOCAL_PLACEHOLDER_KEY
    raise BsaError(
        f"no API key: set the environment variable {env} (or name another with "
        f"--{flag_prefix}api-key-env, or give --{flag_prefix}api-key-file FILE)"
    )


def _read_key_file(key_file: Path) -> str:
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
