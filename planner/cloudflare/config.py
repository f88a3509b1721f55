"""Client configuration: base URL, account id, credentials, timeouts and limits.

Secrets come from the environment or from a file, never from a command-line value, because
command lines show in the process list of every user on the machine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from planner.cloudflare.errors import ConfigError
from planner.cloudflare.ratelimit import RateLimit
from planner.cloudflare.retry import RetryPolicy

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENCY = 16


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An API token (sent as Bearer) or a global API key with its account email."""

    token: str | None = None
    email: str | None = None
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.token is None and (self.email is None or self.api_key is None):
            raise ConfigError("credentials need an API token, or an email together with an API key")
        for name in ("token", "email", "api_key"):
            value = getattr(self, name)
            # A header value with whitespace or control characters is malformed or an
            # injection, and httpx cannot encode one with non-ASCII characters. The message
            # never repeats the value, because it is a secret.
            if value is not None and not _is_visible_ascii(value):
                raise ConfigError(
                    f"the {name.replace('_', ' ')} is empty or contains spaces, control "
                    "characters or non-ASCII characters; check the value in the environment "
                    "or the token file"
                )

    def headers(self) -> dict[str, str]:
        """Return the authentication headers for one request."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token}"}
        assert self.email is not None and self.api_key is not None
        return {"X-Auth-Email": self.email, "X-Auth-Key": self.api_key}

    def __repr__(self) -> str:
        kind = "token" if self.token is not None else f"api key for {self.email!r}"
        return f"Credentials(<{kind}, redacted>)"


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Raw option values from a command line or a caller; `None` means "use the environment"."""

    base_url: str | None = None
    account_id: str | None = None
    token_file: Path | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    max_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything the client needs; build it with `from_options` to read the environment."""

    account_id: str
    credentials: Credentials
    base_url: str = DEFAULT_BASE_URL
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit: RateLimit | None = field(default_factory=RateLimit)

    def __post_init__(self) -> None:
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            url = None
        # Request paths are appended to the base URL as text, so a query or fragment in it
        # would end up in the middle of every request URL.
        if (
            url is None
            or url.scheme not in {"http", "https"}
            or not url.host
            or url.query
            or url.fragment
            or "?" in self.base_url
            or "#" in self.base_url
        ):
            raise ConfigError(
                f"invalid base URL {self.base_url!r}; expected an http(s) URL without a query "
                f"or fragment, such as {DEFAULT_BASE_URL!r}"
            )
        if not self.account_id.strip():
            raise ConfigError("the account id is empty; set CLOUDFLARE_ACCOUNT_ID or --account-id")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise ConfigError(
                    f"{name} must be a positive, finite number of seconds, got {value!r}"
                )
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {self.max_concurrency!r}")

    @property
    def timeout(self) -> httpx.Timeout:
        """The httpx timeout: connect as configured, read/write/pool as the read timeout.

        httpx applies the read timeout to each socket read, so it bounds the pause between two
        reads, not the time for the whole response.
        """
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout)

    @classmethod
    def from_options(
        cls, options: ClientOptions | None = None, env: Mapping[str, str] | None = None
    ) -> ClientConfig:
        """Combine option values with the environment; an option wins over its variable.

        Variables: CLOUDFLARE_BASE_URL, CLOUDFLARE_ACCOUNT_ID, and CLOUDFLARE_API_TOKEN or
        CLOUDFLARE_EMAIL with CLOUDFLARE_API_KEY. `options.token_file` wins over all three.
        """
        options = options or ClientOptions()
        env = os.environ if env is None else env

        base_url = options.base_url or env.get("CLOUDFLARE_BASE_URL") or DEFAULT_BASE_URL
        account_id = options.account_id or env.get("CLOUDFLARE_ACCOUNT_ID")
        if not account_id:
            raise ConfigError(
                "missing account id; set CLOUDFLARE_ACCOUNT_ID or pass --account-id "
                "(the 32-character id in the dashboard URL)"
            )

        optional: dict[str, float | int] = {}
        if options.connect_timeout is not None:
            optional["connect_timeout"] = options.connect_timeout
        if options.read_timeout is not None:
            optional["read_timeout"] = options.read_timeout
        if options.max_concurrency is not None:
            optional["max_concurrency"] = options.max_concurrency

        return cls(
            account_id=account_id,
            credentials=_read_credentials(options.token_file, env),
            base_url=base_url.rstrip("/"),
            **optional,  # type: ignore[arg-type]
        )


def _is_visible_ascii(value: str) -> bool:
    return bool(value) and all("!" <= character <= "~" for character in value)


def _read_credentials(token_file: Path | None, env: Mapping[str, str]) -> Credentials:
    if token_file is not None:
        return Credentials(token=read_token_file(token_file))

    token = env.get("CLOUDFLARE_API_TOKEN")
    if token:
        return Credentials(token=token.strip())

    email, api_key = env.get("CLOUDFLARE_EMAIL"), env.get("CLOUDFLARE_API_KEY")
    if email and api_key:
        return Credentials(email=email.strip(), api_key=api_key.strip())
    if email or api_key:
        missing = "CLOUDFLARE_API_KEY" if email else "CLOUDFLARE_EMAIL"
        raise ConfigError(
            f"{missing} is not set; a global API key needs both the email and the key"
        )

    raise ConfigError(
        "missing credentials; set CLOUDFLARE_API_TOKEN, or pass --token-file PATH naming a file "
        "that contains the token"
    )


def read_token_file(path: Path) -> str:
    """Read an API token from the first line of `path`; raises ConfigError naming the path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read token file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        # The decode error quotes the bytes of the file, which are the secret.
        raise ConfigError(
            f"token file {str(path)!r} is not UTF-8 text; write the API token into it as "
            "plain text"
        ) from None

    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ConfigError(f"token file {str(path)!r} is empty; write the API token into it")
    return token
