"""The retry policy: the failures that are retried, and the wait before each new attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass

from planner.cloudflare.errors import (
    APIError,
    CloudflareError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
)

# 408 Request Timeout and 409 Conflict are transient by definition; every other 4xx would fail
# the same way again.
RETRYABLE_CLIENT_STATUSES = frozenset({408, 409})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, and a bound on attempts and on Retry-After.

    The n-th retry waits `min(wait_max, wait_initial * 2**(n-1)) + uniform(0, wait_jitter)`
    seconds, or the server's Retry-After plus the jitter when that is longer. A Retry-After
    above `retry_after_max` is not waited for: the 429 is raised at once.
    """

    max_attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    retry_after_max: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        if min(self.wait_initial, self.wait_max, self.wait_jitter, self.retry_after_max) < 0:
            raise ValueError("retry waits must not be negative")

    def wait(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Return the seconds to wait before retry number `retry` (the first retry is 1)."""
        backoff: float = min(self.wait_max, self.wait_initial * 2.0 ** (retry - 1))
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return backoff + rng.uniform(0, self.wait_jitter)


def is_retryable(error: CloudflareError) -> bool:
    """Return whether a failed request may be sent again unchanged.

    Every request this client sends is idempotent: GET reads, and a PATCH or PUT with the same
    body leaves the connector in the same state however often it is applied. So a request that
    may or may not have reached the API (a reset after the write, a timeout) is safe to repeat.
    The client never sends `provision_license`, the one field for which this would be false.
    """
    if isinstance(error, RateLimitedError | ServerError | TransportError):
        return True
    if isinstance(error, APIError):
        return error.status in RETRYABLE_CLIENT_STATUSES
    if isinstance(error, ProtocolError):
        return error.retryable
    return False


# Cloudflare blocks an over-limit user for five minutes; a delay above one day is not a real
# rate limit but a broken header.
MAX_RETRY_AFTER = 86_400.0


def parse_retry_after(value: str | None) -> float | None:
    """Return the Retry-After delay in seconds, or None when absent or invalid.

    Cloudflare sends whole seconds, so the HTTP-date form is ignored. Negative values, inf,
    nan and delays above `MAX_RETRY_AFTER` are ignored too.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None
