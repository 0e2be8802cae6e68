"""Whether one replica of a model should get requests now: the health half of
:mod:`bsa.providers.replicas`, kept apart so its rules read (and are tested) without a server.

A replica is taken out of rotation, for a cooldown, when:

- it cannot be reached (a refused or reset connection): at once, since every request sent to it
  would fail the same way;
- it fails :attr:`HealthPolicy.storm` times in a row with a transient error (5xx, 408, a
  malformed or cut reply) and no answer between: one 500 is noise, a run of them is a replica in
  trouble;
- it answers 429: for the Retry-After it sends, else for its cooldown; a rate limit is that
  replica's, not the model's.

The cooldown doubles each time the replica is taken out again without having answered in
between (``cooldown_s``, 2x, 4x... up to ``max_cooldown_s``). When it ends the replica is on
probation: one request at a time until it answers, so a replica still down costs one failed
request per cooldown, not one per request in flight. Any answer (a completion, a content-filter
block, a context overflow) is health: it ends the streak and the probation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class HealthPolicy:
    """When a replica is taken out, and for how long."""

    #: Transient failures in a row, with no answer between, that take a replica out.
    storm: int = 3
    #: The first cooldown; each further one without an answer between doubles it.
    cooldown_s: float = 1.0
    max_cooldown_s: float = 60.0
    #: The longest a 429's Retry-After keeps a replica out (the runner's own cap, by default).
    max_retry_after_s: float = 300.0


class ReplicaHealth:
    """The health of one replica: its failure streak, its cooldown, its probation."""

    def __init__(self, policy: HealthPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        #: Transient failures since the last answer.
        self.streak = 0
        #: Times taken out since the last answer (the exponent of the next cooldown).
        self.outages = 0
        #: ``clock()`` time before which the replica gets no request.
        self.out_until = 0.0

    def available(self, outstanding: int) -> bool:
        """Whether a request may go to this replica, which has ``outstanding`` calls now."""
        if self._clock() < self.out_until:
            return False
        on_probation = self.outages > 0
        return not on_probation or outstanding == 0

    def answered(self) -> None:
        """The replica answered: healthy again. A cooldown under way still runs out (a 429's
        Retry-After is honoured although calls sent before it succeed)."""
        self.streak = 0
        self.outages = 0

    def failed(self, *, unreachable: bool) -> None:
        """A transient failure; ``unreachable``: the connection was refused or reset."""
        self.streak += 1
        on_probation = self.outages > 0
        if unreachable or on_probation or self.streak >= self._policy.storm:
            self.take_out()

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429: out for the server's Retry-After (capped), or for the next cooldown if it
        gave none."""
        wait = None if retry_after is None else min(retry_after, self._policy.max_retry_after_s)
        self.take_out(wait)

    def take_out(self, seconds: float | None = None) -> None:
        """Out of rotation for ``seconds``, or for the next cooldown when None."""
        policy = self._policy
        cooldown = min(policy.max_cooldown_s, policy.cooldown_s * 2**self.outages)
        self.outages += 1
        self.streak = 0
        wait = cooldown if seconds is None else max(seconds, 0.0)
        self.out_until = max(self.out_until, self._clock() + wait)
