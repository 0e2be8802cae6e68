"""Providers: one model behind one endpoint, named ``provider:model`` on the command line.

The interface, the options a provider declares, and how to register a provider (here or from
another package) are described in :mod:`bsa.providers.base`; the built-ins are declared in :mod:`bsa.providers.builtin`, looked up
in :mod:`bsa.providers.registry`. Each provider lives in its own module, imported only when named,
so ``import bsa`` never needs an optional SDK.
"""

from __future__ import annotations

from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    Provider,
    ProviderError,
    ProviderFactory,
    ProviderSpec,
    RateLimited,
    TransientError,
)
from bsa.providers.connection import (
    LOCAL_HOSTS,
    LOCAL_PLACEHOLDER_KEY,
    Connection,
    Limits,
    ProviderOptions,
    check_base_url,
    endpoints,
    resolve_api_key,
)
from bsa.providers.options import NoOptions, option
from bsa.providers.registry import (
    ENTRY_POINT_GROUP,
    canonical_model,
    check_credentials,
    create_provider,
    provider_names,
    provider_options,
    provider_spec,
    split_model,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "LOCAL_HOSTS",
    "LOCAL_PLACEHOLDER_KEY",
    "Connection",
    "ContentBlocked",
    "ContextOverflow",
    "FatalError",
    "Limits",
    "NoOptions",
    "Provider",
    "ProviderError",
    "ProviderFactory",
    "ProviderOptions",
    "ProviderSpec",
    "RateLimited",
    "TransientError",
    "canonical_model",
    "check_base_url",
    "check_credentials",
    "create_provider",
    "endpoints",
    "option",
    "provider_names",
    "provider_options",
    "provider_spec",
    "resolve_api_key",
    "split_model",
]
