"""A request-rate cap for the test server: a token bucket, as providers' rate limits behave.

``rate`` tokens per second refill a bucket of ``burst`` tokens (one second's worth unless told);
a request takes a token or is refused, and the refusal says when the next token is due (the
server sends it as Retry-After). Used on the server's own event loop only, so it needs no lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateCap:
    """At most ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate cap must be > 0 requests per second")
        self.rate = rate
        self.burst = max(1.0, burst or rate)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def take(self) -> float | None:
        """None when the request may go on; else the seconds until a token is due (rounded up
        to the millisecond, so a client that waits that long finds one)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return math.ceil((1 - self._tokens) / self.rate * 1000) / 1000
