"""The provider interface: what a provider is, what a call can end in, and how one is registered.

**What a provider implements.** A :class:`Provider` subclass sets ``name`` (the part before the
colon in ``provider:model``), ``model``, and ``supports_n`` (whether one request may ask for
several samples), and implements ``async complete(request) -> list[Completion]``: make exactly one
call and return ``request.n`` :class:`~bsa.types.Completion` (reasoning and answer apart, see
:func:`bsa.engine.reasoning.split_reasoning`), or raise one of the errors below. It never retries and
never sleeps: the runner is the one place that waits, retries, and decides what a failure means
for the run (inspect_ai's layering, shared/STYLE.md). ``aclose()`` releases connections, and
``dropped_parameters`` names the decoding settings it did not send, for the run file (both have
defaults).

**What a call can end in besides completions.** :class:`RateLimited` (wait ``retry_after``,
retry), :class:`TransientError` (retry), :class:`ContentBlocked` (an outcome, stored as
``blocked``, never retried), :class:`ContextOverflow` (the sample fails, the run goes on),
:class:`FatalError` (the run stops). An HTTP provider reads its vendor's error body into a
:class:`~bsa.providers.http_errors.HttpFailure` and lets
:func:`~bsa.providers.http_errors.classify_http` walk the one status ladder.

**What a provider is configured with.** Settings every remote provider shares arrive in a
:class:`~bsa.providers.connection.Connection`: the key (checked, never from the command line),
the base URL, and the timeout and pool size, both derived from the stage's
:class:`~bsa.engine.runner.Execution` (its retry policy's timeout, its concurrency). Settings only one
provider understands are its *options*: a frozen dataclass declared beside its spec, each field
made with :func:`~bsa.providers.options.option` (type, default, minimum, help text, and the flag
of the model and of the judge, if any). The command line gives every declared flag to the
providers that declare it (and ignores it for the others, as a panel of judges needs), and takes
any declared option through ``-o KEY VALUE`` (the model) or ``--judge-option KEY VALUE`` (the
judges), typed and checked; the factory receives the record with the defaults filled in.

**How a provider is registered.** A :class:`ProviderSpec` names it, gives its factory, its
options record and, for a remote provider, the environment variable its key comes from. The built-ins are declared in
:mod:`bsa.providers.builtin`; another package registers its own under the entry-point group
``bsa.providers``, the entry point's name being the provider's name and its object the spec::

    [project.entry-points."bsa.providers"]
    echo = "bsa_echo:provider"

Only the named provider's module is imported (an entry point is loaded when its name is used),
so ``import bsa`` never needs an optional SDK; the factory imports the SDK and raises
:class:`~bsa.errors.MissingExtraError` when it is absent. ``examples/provider-plugin/`` is a
complete plugin.
"""

from __future__ import annotations

import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bsa.providers.connection import Connection
from bsa.providers.options import NoOptions
from bsa.types import Completion, Request

if TYPE_CHECKING:  # bsa.batch imports this module; a provider never needs it at run time
    from bsa.batch.api import BatchApi


class ProviderError(Exception):
    """A call that produced no completion. Subclasses tell the runner what to do."""

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RateLimited(ProviderError):
    """HTTP 429 or the provider's own rate-limit code: wait (``retry_after`` if given), retry."""

    retryable = True


class TransientError(ProviderError):
    """Timeouts, dropped connections, 408/5xx, a malformed 200 body: worth another try."""

    retryable = True


class Overloaded(TransientError):
    """HTTP 503: the server is over capacity. Retried like any transient error; ``auto``
    concurrency also backs off on it, as on a rate limit (bsa.engine.concurrency)."""


class ContentBlocked(ProviderError):
    """The provider's content filter refused the request. An outcome, not a failure: stored as
    ``blocked`` with the provider's message and never retried (asking again pays for the same
    refusal)."""


class ContextOverflow(ProviderError):
    """The prompt plus the token budget exceed the model's context: stored as failed; retrying
    the same request cannot help."""


class FatalError(ProviderError):
    """A problem with the setup, not with one request (bad key, unknown model, wrong URL, a
    parameter the endpoint rejects): every further call would fail the same way, so the run
    stops at once."""


class NIgnored(ProviderError):
    """A reply with a single choice to a request for ``n`` > 1: the endpoint ignores ``n``.

    Not retryable (asking again gets one choice again). It carries the completion the endpoint
    did return, so the caller can ask for the other samples one by one without paying twice.
    """

    def __init__(self, message: str, completions: list[Completion]) -> None:
        super().__init__(message)
        self.completions = completions


class Provider(ABC):
    """One model behind one endpoint."""

    #: Provider name as written before the colon in ``provider:model``.
    name: str
    model: str
    #: Whether one request may ask for several samples (``n``).
    supports_n: bool = False
    #: Decoding settings asked for but not sent (the endpoint refused them, or the vendor has no
    #: such parameter), so the run file says so; a provider that sends everything keeps this.
    dropped_parameters: AbstractSet[str] = frozenset()

    @abstractmethod
    async def complete(self, request: Request) -> list[Completion]:
        """Make one call; return ``request.n`` completions or raise a :class:`ProviderError`."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Release connections; providers without any keep this default."""

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"


#: Builds the provider of ``model`` from its options record (an instance of the spec's
#: ``options``, defaults filled in) and, for a remote provider (a spec with a ``key_env``), the
#: checked key, endpoint, timeout and pool size; None for a local one.
ProviderFactory = Callable[[str, Any, "Connection | None"], Provider]

#: Builds the vendor batch API (``--batch``) of a provider this spec built; it imports the batch
#: module only when called, and raises :class:`bsa.errors.BsaError` for a provider it cannot
#: batch (several replicas behind one name).
BatchApiFactory = Callable[[Provider], "BatchApi"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider, declared once: how ``NAME:model`` becomes a :class:`Provider`."""

    #: Written before the colon in ``provider:model``.
    name: str
    #: Imports what the provider needs (its module, its SDK) only when called.
    build: ProviderFactory
    #: The environment variable a remote provider reads its key from unless told otherwise;
    #: None for a provider that needs no key (local models, the mock).
    key_env: str | None = None
    #: The environment variable naming the endpoint when no base URL is given (the vendor SDK's
    #: own, ``OPENAI_BASE_URL``, so a setup that works with the SDK works here); None: no such
    #: variable.
    base_url_env: str | None = None
    #: The options only this provider understands: a frozen dataclass whose fields are made with
    #: :func:`bsa.providers.options.option` (type, default, bounds, help, flag).
    options: type[Any] = NoOptions
    #: The vendor's batch API, for ``--batch``; None for a provider without one.
    batch_api: BatchApiFactory | None = None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a server asks us to wait: ``retry-after-ms`` (OpenAI), else ``retry-after`` as
    seconds or an HTTP date; None when it says nothing usable."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


#: The most characters of a server's own error text that a message quotes.
SERVER_TEXT_LIMIT = 300
#: Characters that must not reach a terminal from a server: C0/C1 controls (newlines, escape
#: sequences) and the zero-width and bidirectional marks that can disguise text.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def server_text(text: str, limit: int = SERVER_TEXT_LIMIT) -> str:
    """A server's own words made fit for a one-line message: error text is hostile input, so
    control characters become spaces, runs of spaces one, and the text is cut to ``limit``."""
    cleaned = " ".join(_UNPRINTABLE.sub(" ", text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
