"""Asking for each sample separately once an endpoint shows that it ignores ``n``.

With ``--use-n`` a request asks for all k samples of a prompt at once. Some servers accept ``n``
and return one choice anyway; retrying that request gets one choice again, so every sample would
fail after the last retry (issue 9, item 11). The first such reply is the evidence: from then on
each request for n samples becomes n requests for one, and the run says so once. Each of those
is the sample's own request (its own seed, see ``Decoding.for_sample``), as if the run had been
made without ``--use-n``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from bsa.providers.base import NIgnored, Provider
from bsa.types import Completion, Request


class SeparateWhenNIgnored:
    """``provider.complete`` for the generation stage, falling back to separate requests.

    The completion that came with the ignored ``n`` is kept, and so are the separate requests'
    completions when one of them fails: the runner retries the whole job as before, and the
    retry asks only for the samples still missing, so no sample is paid for twice.
    """

    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        #: Set by the first reply that ignored ``n``; the notice the run prints.
        self.notice: str | None = None
        self._kept: dict[int, list[Completion]] = {}
        #: The requests answered one sample a call (by ``id``: the caller holds them all).
        self._separated: set[int] = set()

    async def complete(self, request: Request, singles: Sequence[Request] = ()) -> list[Completion]:
        """``request``'s completions; ``singles`` are its choices' own one-sample requests, asked
        instead once the endpoint has shown that it ignores ``n`` (default: ``request`` with
        ``n=1``, as many times as needed)."""
        if request.n == 1 or self.notice is None:
            try:
                return await self._provider.complete(request)
            except NIgnored as ignored:
                self.notice = self.notice or f"{ignored.message}; asking for each sample separately"
                self._kept[id(request)] = list(ignored.completions)
        return await self._separately(request, singles or [replace(request, n=1)] * request.n)

    def separated(self, request: Request) -> bool:
        """Whether ``request``'s samples came from one call each (from its ``singles``)."""
        return id(request) in self._separated

    async def _separately(self, request: Request, singles: Sequence[Request]) -> list[Completion]:
        """The request's samples one call each, in parallel, as the one call would have been; the
        kept first choice stands for ``singles[0]``."""
        self._separated.add(id(request))
        kept = self._kept.setdefault(id(request), [])
        results = await asyncio.gather(
            *(self._provider.complete(single) for single in singles[len(kept) : request.n]),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        kept.extend(c for r in results if not isinstance(r, BaseException) for c in r)
        if errors:
            raise errors[0]
        del self._kept[id(request)]
        return kept[: request.n]
