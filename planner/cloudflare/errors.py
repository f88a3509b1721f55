"""Errors raised by the connectors API client.

Every failure the client reports is a `CloudflareError`::

    CloudflareError
    ├── ConfigError            (also ValueError) missing or invalid base URL, account, credentials
    ├── InvalidInputError      (also ValueError) an argument rejected before sending
    ├── APIError               the API returned an HTTP error status
    │   ├── AuthenticationError     401, 403 (for example Cloudflare code 10000)
    │   ├── NotFoundError           404: unknown connector, account or route
    │   ├── InvalidRequestError     400 and every other 4xx not listed here
    │   ├── RateLimitedError        429, with the delay from Retry-After, or quota used up
    │   └── ServerError             5xx
    ├── TransportError         no complete HTTP response arrived
    │   ├── ConnectionFailedError   refused, reset or closed connection
    │   └── RequestTimeoutError     connect, read, write or pool timeout
    └── ProtocolError          a response outside the API's envelope format

Each message names the operation, the connector id when there is one, the HTTP status, Cloudflare's
codes and messages, and what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    """One entry of the envelope's `errors` or `messages` list."""

    code: int | None
    message: str

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code} {self.message}"


WRITE_CAVEAT = "The change may have been applied, so read the connector before changing it again"


class CloudflareError(Exception):
    """Base class of the errors that the client's configuration and operations raise."""


class ConfigError(CloudflareError, ValueError):
    """The client's configuration is missing a value or contains an invalid one."""


class InvalidInputError(CloudflareError, ValueError):
    """A connector id or window change that the client rejects before sending anything."""


class _RequestError(CloudflareError):
    """Common fields of errors that belong to one request; the message is built from them."""

    hint = ""
    # Whether the request may have been applied even though it failed.
    unsure_write = False

    def __init__(
        self,
        *,
        method: str,
        path: str,
        connector_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(method, path)
        self.method = method
        self.path = path
        self.connector_id = connector_id
        self.attempts = attempts

    def __str__(self) -> str:
        target = f"connector {self.connector_id!r}" if self.connector_id else self.path
        tries = "" if self.attempts == 1 else f" after {self.attempts} attempts"
        caveat = f". {WRITE_CAVEAT}" if self.unsure_write and self.method != "GET" else ""
        return f"{self.method} {target} failed{tries}: {self._details()}. {self.hint}{caveat}."

    def _details(self) -> str:
        raise NotImplementedError


class APIError(_RequestError):
    """The API returned an HTTP error status; `errors` contains Cloudflare's coded errors."""

    hint = "Read the Cloudflare errors above and fix the request"

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int,
        errors: Sequence[ResponseMessage] = (),
        messages: Sequence[ResponseMessage] = (),
        connector_id: str | None = None,
        cf_ray: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(method=method, path=path, connector_id=connector_id, attempts=attempts)
        self.status = status
        self.errors = tuple(errors)
        self.messages = tuple(messages)
        self.cf_ray = cf_ray

    @property
    def codes(self) -> tuple[int, ...]:
        """Cloudflare's numeric error codes, in the order the API sent them."""
        return tuple(error.code for error in self.errors if error.code is not None)

    def _details(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.errors:
            parts.append("Cloudflare errors: " + "; ".join(str(error) for error in self.errors))
        if self.messages:
            parts.append("messages: " + "; ".join(str(item) for item in self.messages))
        if self.cf_ray:
            parts.append(f"cf-ray {self.cf_ray}")
        return ", ".join(parts)


class AuthenticationError(APIError):
    """401 or 403: the credentials are missing, wrong, or lack a permission."""

    hint = (
        "Check that the API token is valid for this account and has the 'Magic WAN Write' "
        "permission ('Magic WAN Read' is enough for list and get); set it with "
        "CLOUDFLARE_API_TOKEN or --token-file, and check the account id"
    )


class NotFoundError(APIError):
    """404: the connector, the account or the route does not exist."""

    hint = "Check the connector id and the account id; list the connectors to see the ids"


class InvalidRequestError(APIError):
    """400 or another 4xx without a class of its own: the API rejected the request."""

    @property
    def hint(self) -> str:  # type: ignore[override]
        # The client retries 408 and 409 as transient, so they reach the caller only after
        # every attempt, and the values sent are not at fault.
        if self.status in {408, 409}:
            return (
                f"The API reported HTTP {self.status} on every attempt, a transient state "
                "such as a concurrent change; wait a minute and send the change again"
            )
        return "Fix the values named in the Cloudflare errors and send the change again"


class RateLimitedError(APIError):
    """429: the account is over Cloudflare's rate limit; `retry_after` is in seconds.

    `sent` is False when the client held the request back instead. It does so when the
    `Ratelimit` header of an earlier response reports a quota reset later than
    `RateLimit.max_wait`. `status` is 429 in both cases.
    """

    def __init__(
        self, *, retry_after: float | None = None, sent: bool = True, **fields: Any
    ) -> None:
        super().__init__(**fields)
        self.retry_after = retry_after
        self.sent = sent

    def _details(self) -> str:
        if self.sent:
            return super()._details()
        return (
            "not sent, because the Ratelimit header of an earlier response reports no quota "
            f"left until the reset in {self.retry_after:.0f} s"
        )

    @property
    def hint(self) -> str:  # type: ignore[override]
        wait = f"{self.retry_after:g} s" if self.retry_after is not None else "a few minutes"
        return (
            f"Wait {wait} before sending more requests, and lower the concurrency or the "
            "client's request rate; Cloudflare allows 1,200 requests per 5 minutes per user"
        )


class ServerError(APIError):
    """5xx: Cloudflare failed to process the request."""

    hint = "Cloudflare had a server error; try again later"
    unsure_write = True


class TransportError(_RequestError):
    """No complete HTTP response arrived; `__cause__` is the httpx exception."""

    hint = "Check network access to the API base URL"
    unsure_write = True

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.detail = detail

    def _details(self) -> str:
        return self.detail


class ConnectionFailedError(TransportError):
    """The connection was refused, reset or closed before the response was complete."""


class RequestTimeoutError(TransportError):
    """A connect, read, write or pool timeout expired."""

    hint = "Raise --connect-timeout or --read-timeout if the network is slow"


class ProtocolError(_RequestError):
    """The response is not the API's JSON envelope, or it reports failure with a 2xx status.

    `unsure_write` is True unless the response shows that the API never saw the request (a
    redirect). A write that got a broken 2xx response may have been applied.
    """

    hint = (
        "Check that the base URL points at the Cloudflare API (it ends in /client/v4); if it "
        "does, retry later and report the cf-ray id to Cloudflare"
    )

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        cf_ray: str | None = None,
        retryable: bool = False,
        unsure_write: bool = True,
        **fields: Any,
    ) -> None:
        super().__init__(**fields)
        self.detail = detail
        self.status = status
        self.cf_ray = cf_ray
        self.retryable = retryable
        self.unsure_write = unsure_write

    def _details(self) -> str:
        status = f"HTTP {self.status}, " if self.status is not None else ""
        ray = f", cf-ray {self.cf_ray}" if self.cf_ray else ""
        return f"{status}{self.detail}{ray}"
