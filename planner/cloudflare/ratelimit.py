"""A client-side rate limiter that keeps under Cloudflare's limit and follows its headers.

Cloudflare allows 1,200 requests per 5 minutes per user, counting all tokens and the dashboard
together, and blocks a user who goes over for the next five minutes. So the limiter does two
things: it never starts more than `requests` requests in any `period` seconds, and when the
`Ratelimit` header reports little quota left (other clients share it), it spreads the remaining
requests over the seconds until the quota resets. A pause longer than `max_wait` is not
waited out: the request fails at once with `RateLimitedError`, naming the wait.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

logger = logging.getLogger("planner.cloudflare")

# `Ratelimit: "default";r=<remaining>;t=<seconds to reset>` and
# `Ratelimit-Policy: "burst";q=<quota>;w=<window seconds>`, as Cloudflare sends them.
_PARAMETER = re.compile(r";\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)")


class QuotaWaitTooLongError(Exception):
    """The pause that the `Ratelimit` header imposes exceeds `RateLimit.max_wait`.

    The client turns it into a `RateLimitedError` that names the request.
    """

    def __init__(self, wait: float) -> None:
        super().__init__(f"the quota resets in {wait:.0f} s")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` request starts per `period` seconds; pace when quota runs low.

    `slow_down_below` is the share of the server's quota (from `Ratelimit-Policy`, else
    `requests`) under which the remaining requests are spread until the reset. `max_wait` is
    the longest pause in seconds that the `Ratelimit` header may impose before one request.
    """

    requests: int = 1200
    period: float = 300.0
    slow_down_below: float = 0.05
    max_wait: float = 300.0

    def __post_init__(self) -> None:
        if self.requests < 1 or not 0 < self.period < math.inf:
            raise ValueError(
                f"a rate limit needs at least 1 request per positive, finite period, got "
                f"{self.requests!r} per {self.period!r} s"
            )
        if not 0 <= self.max_wait < math.inf:
            raise ValueError(
                f"max_wait must be a finite number of seconds >= 0, got {self.max_wait!r}"
            )


@dataclass(frozen=True, slots=True)
class QuotaReport:
    """The quota state from one response's rate-limit headers: requests left, seconds to reset."""

    remaining: int
    reset_seconds: float
    quota: int | None = None


def parse_ratelimit_headers(headers: Mapping[str, str]) -> QuotaReport | None:
    """Return the quota report from `Ratelimit` and `Ratelimit-Policy`, or None if unusable."""
    current = _parameters(headers.get("ratelimit", ""))
    if "r" not in current or "t" not in current:
        return None
    policy = _parameters(headers.get("ratelimit-policy", ""))
    quota = int(policy["q"]) if "q" in policy else None
    return QuotaReport(remaining=int(current["r"]), reset_seconds=current["t"], quota=quota)


def _parameters(value: str) -> dict[str, float]:
    # A number too long for a float reads as inf; such a parameter is dropped as unusable.
    numbers = {name: float(number) for name, number in _PARAMETER.findall(value.lower())}
    return {name: number for name, number in numbers.items() if math.isfinite(number)}


class RateLimiter:
    """The async limiter one client shares between all its concurrent requests."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._not_before = 0.0
        self._last_report: QuotaReport | None = None
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Wait until one more request may start; return the seconds waited.

        Raises `QuotaWaitTooLongError` without waiting when the `Ratelimit` header imposes a
        pause longer than `limit.max_wait`.
        """
        waited = 0.0
        # The lock makes waiters queue in arrival order, so a burst cannot starve one request.
        async with self._lock:
            while True:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self.limit.period:
                    self._starts.popleft()

                pause = self._not_before - now
                if pause > self.limit.max_wait:
                    raise QuotaWaitTooLongError(pause)
                delay = pause
                if len(self._starts) >= self.limit.requests:
                    delay = max(delay, self._starts[0] + self.limit.period - now)
                if delay <= 0:
                    self._starts.append(now)
                    return waited

                if pause > 0 and waited == 0:
                    self._log_pause(pause)
                await self._sleep(delay)
                waited += delay

    def _log_pause(self, pause: float) -> None:
        report = self._last_report
        assert report is not None
        logger.warning(
            "rate limit: waiting %.2f s before the next request; the Ratelimit header reports "
            "%d requests left, reset in %g s",
            pause,
            report.remaining,
            report.reset_seconds,
        )

    def observe(self, report: QuotaReport | None) -> None:
        """Slow down according to a response's quota report."""
        if report is None:
            return

        quota = report.quota or self.limit.requests
        if report.remaining > quota * self.limit.slow_down_below:
            return

        # Spread what is left evenly until the reset; with nothing left, wait for the reset.
        spacing = report.reset_seconds / (max(report.remaining, 0) + 1)
        self._last_report = report
        self._not_before = max(self._not_before, self._clock() + spacing)
