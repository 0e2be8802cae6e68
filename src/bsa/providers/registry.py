"""Providers by name: ``provider:model`` on the command line becomes a :class:`Provider` here.

The built-ins come from :mod:`bsa.providers.builtin`; other packages add theirs under the
entry-point group ``bsa.providers`` (the way simonw/llm's plugins and inspect_ai's ``@modelapi``
extend those tools). A plugin's entry point is loaded only when its name is used, and a built-in
name cannot be taken over by a plugin: ``openai:`` always means this package's provider.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from bsa.errors import BsaError
from bsa.providers.base import Provider, ProviderSpec
from bsa.providers.builtin import BUILTINS
from bsa.providers.connection import DEFAULT_LIMITS, Limits, ProviderOptions, connect
from bsa.providers.options import DeclaredOption, build_record, declared_options
from bsa.redaction import redact, register_url_secrets

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: The entry-point group under which other packages register providers.
ENTRY_POINT_GROUP = "bsa.providers"


def provider_names() -> tuple[str, ...]:
    """Every registered provider: the built-ins, then the installed plugins by name."""
    plugins = sorted(name for name in _plugins() if name not in BUILTINS)
    return (*BUILTINS, *plugins)


def provider_spec(name: str) -> ProviderSpec:
    """The declaration of provider ``name``; a plugin is loaded here, the first time it is used."""
    if name in BUILTINS:
        return BUILTINS[name]
    entry_point = _plugins().get(name)
    if entry_point is None:
        raise BsaError(f"unknown provider {name!r} (known: {', '.join(provider_names())})")
    return _load(entry_point)


def split_model(spec: str) -> tuple[str, str]:
    """``provider:model`` -> (provider, model); the model part may itself hold colons. A bare
    ``mock`` is the mock provider's only model."""
    if spec == "mock":
        return "mock", "mock"
    provider, colon, model = spec.partition(":")
    if not colon or not provider or not model:
        raise BsaError(
            f"model {spec!r} must be written provider:model, e.g. openai:gpt-4o "
            f"(providers: {', '.join(provider_names())})"
        )
    if provider not in BUILTINS and provider not in _plugins():
        raise BsaError(
            f"unknown provider {provider!r} in {spec!r} (known: {', '.join(provider_names())})"
        )
    return provider, model


def canonical_model(spec: str) -> str:
    """``provider:model`` as providers label themselves (``mock`` is ``mock:mock``)."""
    provider, model = split_model(spec)
    return f"{provider}:{model}"


def create_provider(
    spec: str,
    options: ProviderOptions,
    *,
    limits: Limits = DEFAULT_LIMITS,
    api_key: str | None = None,
) -> Provider:
    """The provider for ``spec``, its HTTP client held to ``limits``. ``api_key`` (from an
    upstream config file) outranks the environment; it is passed to the SDK and kept nowhere
    else."""
    name, model = split_model(spec)
    declared = provider_spec(name)
    record = options_record(name, options)
    options = with_base_url_from_env(declared, options)
    if options.replica_urls:
        return _replica_set(spec, options, limits, api_key)
    connection = connect(options, declared.key_env, api_key, limits) if declared.key_env else None
    return declared.build(model, record, connection)


def with_base_url_from_env(declared: ProviderSpec, options: ProviderOptions) -> ProviderOptions:
    """``options`` with the endpoint the provider's variable names (``OPENAI_BASE_URL``) when no
    base URL was given: the flag wins, then the variable, then the provider's own default. Read
    here, before the key check, so a variable naming a server on this machine needs no key there
    either."""
    if options.base_url or declared.base_url_env is None:
        return options
    url = os.environ.get(declared.base_url_env, "").strip()
    return replace(options, base_url=url) if url else options


def _replica_set(
    spec: str, options: ProviderOptions, limits: Limits, api_key: str | None
) -> Provider:
    """One provider per URL of ``options.replica_urls``, behind one
    :class:`~bsa.providers.replicas.ReplicaSet`."""
    from bsa.providers.replicas import ReplicaSet

    _check_replicas(spec, options)
    providers = [
        create_provider(spec, one, limits=limits, api_key=api_key) for one in _each_replica(options)
    ]
    return ReplicaSet(providers, options.replica_urls)


def _each_replica(options: ProviderOptions) -> list[ProviderOptions]:
    return [replace(options, base_url=url, replica_urls=()) for url in options.replica_urls]


def _check_replicas(spec: str, options: ProviderOptions) -> None:
    """Several URLs need a provider that takes one, and each URL once."""
    name, _ = split_model(spec)
    flag = f"--{options.flag_prefix}base-url"
    if provider_spec(name).key_env is None:
        raise BsaError(f"{flag} is given several times, but provider {name!r} takes no URL")
    for url in options.replica_urls:
        register_url_secrets(url)
        if options.replica_urls.count(url) > 1:
            raise BsaError(f"{flag} {redact(url)} is given twice; give each replica once")


def check_credentials(spec: str, options: ProviderOptions) -> None:
    """Fail now where :func:`create_provider` would fail later, with the flag that fixes it: an
    unknown provider, an option it does not take, a base URL with credentials, a missing or
    unreadable key. ``bsa run`` checks its judges so before generating for hours; nothing is
    connected or loaded."""
    name, _ = split_model(spec)
    options_record(name, options)
    options = with_base_url_from_env(provider_spec(name), options)
    if options.replica_urls:
        _check_replicas(spec, options)
    key_env = provider_spec(name).key_env
    for one in _each_replica(options) or [options]:
        if key_env:
            connect(one, key_env, None)


def options_record(name: str, options: ProviderOptions) -> object:
    """Provider ``name``'s options record: ``options.settings`` over the declared defaults."""
    record = provider_spec(name).options
    return build_record(name, record, options.settings, option_owners)


def provider_options(name: str) -> tuple[DeclaredOption, ...]:
    """The options provider ``name`` declares (its plugin is loaded to read them)."""
    return declared_options(name, provider_spec(name).options)


def every_option() -> list[DeclaredOption]:
    """The options of every provider that loads, built-ins first: what the command line offers.
    A plugin that fails to load offers none here; naming it gives its one-line error."""
    found: list[DeclaredOption] = []
    for name in provider_names():
        try:
            found.extend(provider_options(name))
        except BsaError:
            continue
    return found


def option_owners() -> dict[str, str]:
    """For each option key, the providers that declare it (``"anthropic"``, ``"a, b"``)."""
    owners: dict[str, list[str]] = {}
    for declared in every_option():
        owners.setdefault(declared.name, []).append(declared.provider)
    return {key: ", ".join(names) for key, names in owners.items()}


@cache
def _plugins() -> dict[str, EntryPoint]:
    """The installed plugins' entry points by provider name, read once per process (listing them
    loads none). Of two plugins with one name, the first found wins."""
    from importlib.metadata import entry_points

    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)
    return found


def _load(entry_point: EntryPoint) -> ProviderSpec:
    """The plugin's declaration, checked: a broken plugin is one clear line, not a traceback."""
    origin = f"provider plugin {entry_point.name!r} ({entry_point.value})"
    try:
        declared = entry_point.load()
    except Exception as error:  # any failure inside someone else's package
        raise BsaError(f"{origin} failed to load: {type(error).__name__}: {error}") from error
    if not isinstance(declared, ProviderSpec):
        raise BsaError(f"{origin} is not a bsa.providers.ProviderSpec")
    if declared.name != entry_point.name:
        raise BsaError(f"{origin} declares the name {declared.name!r}")
    return declared
