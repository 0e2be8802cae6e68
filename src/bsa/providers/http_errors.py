"""One HTTP status ladder for every provider that speaks HTTP.

A failed call becomes what the runner should do: stop the run, wait and retry, retry, fail the
sample, or store it as blocked. The ladder is the same everywhere (429 is a rate limit; 408, 409
and 5xx are worth another try; 401, 403, 404 and other 4xx are setup problems no retry fixes);
what differs between vendors is how their error bodies say more than the status: which codes or
phrases mean a content filter, an exhausted quota, a context overflow, a rate limit behind a 400.
Each provider reads its own body into an :class:`HttpFailure` and :func:`classify_http` does the
rest, so a vendor's quirks are a few fields, not a copy of the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass

from bsa.providers.base import (
    ContentBlocked,
    ContextOverflow,
    FatalError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransientError,
)

#: Statuses that mean the server is over capacity: 503, and Anthropic's 529 ``overloaded_error``.
OVERLOAD_STATUSES = (503, 529)
#: The message of an HTTP 404; ``{model}``, ``{base_url}``, ``{where}`` and ``{text}`` are filled in.
NOT_FOUND = (
    "model {model!r} or endpoint not found at {base_url} ({where}): check --model and --base-url "
    "({text})"
)


@dataclass(frozen=True)
class Endpoint:
    """Where a call went, for messages that say what to fix."""

    base_url: str
    model: str
    api_key_env: str


@dataclass(frozen=True)
class HttpFailure:
    """A failed HTTP call as its provider read it.

    ``blocked``, ``overflow`` and ``fatal`` are the vendor's own reading of its error body,
    decided before the status: the message of that outcome, or None when the body does not say
    so. ``rate_limited`` and ``transient`` mark vendor codes that mean so whatever the status.
    """

    status: int
    #: The server's own words, fit for a one-line message.
    text: str
    retry_after: float | None = None
    #: How messages name the failure; ``HTTP {status}`` when empty.
    where: str = ""
    blocked: str | None = None
    overflow: str | None = None
    fatal: str | None = None
    rate_limited: bool = False
    transient: bool = False


def classify_http(
    failure: HttpFailure, endpoint: Endpoint, *, not_found: str = NOT_FOUND
) -> ProviderError:
    """What the runner should do about ``failure``; ``not_found`` words a 404 (see
    :data:`NOT_FOUND`)."""
    status, text = failure.status, failure.text
    where = failure.where or f"HTTP {status}"
    if failure.blocked is not None:
        return ContentBlocked(failure.blocked)
    if failure.overflow is not None:
        return ContextOverflow(failure.overflow)
    if failure.fatal is not None:
        return FatalError(failure.fatal)
    if failure.rate_limited or status == 429:
        return RateLimited(f"rate limited ({where}): {text}", retry_after=failure.retry_after)
    if status in OVERLOAD_STATUSES:
        return Overloaded(f"{where}: {text}", retry_after=failure.retry_after)
    if failure.transient or status in (408, 409) or status >= 500:
        return TransientError(f"{where}: {text}", retry_after=failure.retry_after)
    return FatalError(_refusal(status, where, text, endpoint, not_found))


def authentication_failed(endpoint: Endpoint, where: str) -> str:
    """The message of a rejected key, naming the variable it came from."""
    return (
        f"authentication failed at {endpoint.base_url} ({where}): check the API key in "
        f"${endpoint.api_key_env}"
    )


def _refusal(status: int, where: str, text: str, endpoint: Endpoint, not_found: str) -> str:
    """Why a 4xx stops the run, with what to check."""
    if status == 401:
        return authentication_failed(endpoint, where)
    if status == 403:
        return (
            f"permission denied at {endpoint.base_url} ({where}) for model "
            f"{endpoint.model!r}: {text}"
        )
    if status == 404:
        return not_found.format(
            model=endpoint.model, base_url=endpoint.base_url, where=where, text=text
        )
    return f"request rejected by {endpoint.base_url} ({where}): {text}"


def transport_error(error: BaseException, base_url: str, *, timed_out: bool) -> TransientError:
    """Name a refused or unreachable endpoint as such, whatever the transport called it (the
    SDKs' aiohttp transport reports a refused connection as a connect *timeout*)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return TransientError(f"cannot connect to {base_url} ({cause})")
        cause = cause.__cause__ or cause.__context__
    if timed_out:
        return TransientError("request timed out")
    return TransientError(f"connection to {base_url} failed ({error.__cause__ or error})")
