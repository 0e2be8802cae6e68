"""One model served by several endpoints (``--base-url`` given more than once): a provider that
holds one provider per URL and spreads the calls over them.

This is how a run uses several vLLM or SGLang servers (one per GPU or node) as one model. It
wraps the providers as they are, so the single-URL path never passes through here and no
provider module knows about replicas.

- **Routing.** Each call goes to the replica with the fewest calls outstanding; ties go in turn.
  A slow replica keeps more calls open, so it gets fewer new ones.
- **Health** (:mod:`bsa.providers.replica_health`). A replica that refuses connections, fails
  several times in a row (a call the runner's timeout cut counts as a failure), or answers 429
  is out of rotation for a cooldown.
- **Failures.** The wrapper never retries or waits itself (the runner does, as for any
  provider): a failed call raises its error, the runner retries it, and the retry prefers
  another replica than the one that failed it. A 429 while another replica is available is
  raised as :class:`ReplicaFailover`, a transient error without Retry-After, so the runner
  retries on another replica at once and ``auto`` concurrency does not slow down every replica
  for one replica's limit. When every replica is out, calls go to them all the same, and fail
  (and are retried, and end the run) exactly as calls to one unreachable endpoint do.
- **Record.** Each completion carries the URL of the replica that made it
  (:attr:`bsa.types.Completion.replica`), without userinfo, query or fragment, for the run file.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bsa.providers.base import (
    FatalError,
    NIgnored,
    Provider,
    ProviderError,
    RateLimited,
    TransientError,
)
from bsa.providers.replica_health import HealthPolicy, ReplicaHealth
from bsa.redaction import redact
from bsa.types import Completion, Request

#: Requests remembered with the replica that last failed them (so their retry goes elsewhere);
#: the oldest are forgotten past this many (a request cancelled mid-call never comes back).
_REMEMBERED_FAILURES = 4096


class ReplicaFailover(TransientError):
    """A replica's 429 while another replica can take the call: retried there at once, without
    the server's Retry-After, which holds back only the replica that sent it."""


def public_url(url: str) -> str:
    """``url`` as a run file may keep it: no ``user:password@``, query or fragment (where keys
    travel), and anything that still looks like a key masked."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return redact(urlunsplit((parts.scheme, host, parts.path, "", "")))


@dataclass(eq=False)
class Replica:
    """One endpoint of the set: its provider, its public URL, its calls in flight, its health."""

    provider: Provider
    url: str
    health: ReplicaHealth
    outstanding: int = 0


class ReplicaSet(Provider):
    """One model behind several endpoints (see the module docstring)."""

    def __init__(
        self,
        providers: Sequence[Provider],
        urls: Sequence[str],
        policy: HealthPolicy | None = None,
    ) -> None:
        if len(providers) < 2 or len(providers) != len(urls):
            raise ValueError("a replica set needs one URL per provider, and at least two")
        first = providers[0]
        self.name = first.name
        self.model = first.model
        self.supports_n = all(provider.supports_n for provider in providers)
        health = policy or HealthPolicy()
        self.replicas = [
            Replica(provider, public_url(url), ReplicaHealth(health))
            for provider, url in zip(providers, urls, strict=True)
        ]
        self._next = 0
        self._failed_on: dict[Hashable, Replica] = {}

    @property
    def dropped_parameters(self) -> AbstractSet[str]:  # type: ignore[override]
        """The union of the replicas' own (each endpoint learns what it refuses on its own)."""
        return frozenset().union(*(r.provider.dropped_parameters for r in self.replicas))

    async def complete(self, request: Request) -> list[Completion]:
        replica = self._pick(request)
        replica.outstanding += 1
        try:
            completions = await replica.provider.complete(request)
        except NIgnored as error:  # an answer, with a completion to keep
            self._answered(replica, request)
            raise NIgnored(error.message, _tagged(error.completions, replica)) from error
        except ProviderError as error:
            seen = self._failed(replica, request, error)
            if seen is error:
                raise
            raise seen from error
        except asyncio.CancelledError:  # the runner's timeout: the replica did not answer
            self._remember_failure(request, replica)
            replica.health.failed(unreachable=False)
            raise
        finally:
            replica.outstanding -= 1
        self._answered(replica, request)
        return _tagged(completions, replica)

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.provider.aclose()

    def _pick(self, request: Request) -> Replica:
        """The replica with the fewest calls outstanding, in turn among equals; among the
        available ones other than the one that last failed this request, if there are any."""
        available = [r for r in self.replicas if r.health.available(r.outstanding)]
        avoided = self._failed_on.get(_request_key(request))
        preferred = [r for r in available if r is not avoided] or available or self.replicas
        fewest = min(r.outstanding for r in preferred)
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._next + step) % count]
            if replica in preferred and replica.outstanding == fewest:
                self._next = (self._next + step + 1) % count
                return replica
        raise AssertionError("unreachable: a preferred replica has the fewest calls")

    def _answered(self, replica: Replica, request: Request) -> None:
        replica.health.answered()
        self._failed_on.pop(_request_key(request), None)

    def _failed(self, replica: Replica, request: Request, error: ProviderError) -> ProviderError:
        """Update ``replica``'s health after ``error``; return what the runner should see."""
        if isinstance(error, FatalError):
            return error
        if not error.retryable:  # blocked, context overflow: the replica answered
            self._answered(replica, request)
            return error
        self._remember_failure(request, replica)
        if isinstance(error, RateLimited):
            replica.health.rate_limited(error.retry_after)
            if self._any_available():
                return ReplicaFailover(f"{replica.url}: {error.message}")
            return error
        replica.health.failed(unreachable=_unreachable(error))
        return error

    def _remember_failure(self, request: Request, replica: Replica) -> None:
        key = _request_key(request)
        self._failed_on.pop(key, None)
        self._failed_on[key] = replica
        if len(self._failed_on) > _REMEMBERED_FAILURES:
            del self._failed_on[next(iter(self._failed_on))]

    def _any_available(self) -> bool:
        return any(r.health.available(r.outstanding) for r in self.replicas)


def _tagged(completions: list[Completion], replica: Replica) -> list[Completion]:
    return [dataclasses.replace(c, replica=replica.url) for c in completions]


def _request_key(request: Request) -> Hashable:
    """What tells a request's retry from other requests: its messages, seed and ``n`` (the
    unseeded samples of one prompt share it, which only makes them avoid the same replica)."""
    return (request.messages, request.decoding.seed, request.n)


def _unreachable(error: BaseException) -> bool:
    """Whether the call never reached a server: an OS-level connection error (refused, reset,
    no route) anywhere in the error's chain, whatever the HTTP client wrapped it in."""
    cause: BaseException | None = error
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
