"""The Cloudflare connectors API: an httpx client and a local emulator of the API."""

from __future__ import annotations

from planner.cloudflare.client import (
    AsyncConnectorsClient,
    ConnectorsClient,
    async_client_from_options,
    client_from_options,
)
from planner.cloudflare.config import (
    DEFAULT_BASE_URL,
    ClientConfig,
    ClientOptions,
    Credentials,
    read_token_file,
)
from planner.cloudflare.emulator import Emulator, Faults, RequestRecord
from planner.cloudflare.errors import (
    APIError,
    AuthenticationError,
    CloudflareError,
    ConfigError,
    ConnectionFailedError,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseMessage,
    ServerError,
    TransportError,
)
from planner.cloudflare.models import REDACTED, WINDOW_FIELDS, WRITABLE_FIELDS, Connector, Device
from planner.cloudflare.ratelimit import QuotaReport, RateLimit, parse_ratelimit_headers
from planner.cloudflare.retry import RetryPolicy, is_retryable
from planner.cloudflare.seed import generate_connectors, load_seed_file

__all__ = [
    "APIError",
    "AsyncConnectorsClient",
    "AuthenticationError",
    "ClientConfig",
    "ClientOptions",
    "CloudflareError",
    "ConfigError",
    "ConnectionFailedError",
    "Connector",
    "ConnectorsClient",
    "Credentials",
    "DEFAULT_BASE_URL",
    "Device",
    "Emulator",
    "Faults",
    "InvalidInputError",
    "InvalidRequestError",
    "NotFoundError",
    "ProtocolError",
    "QuotaReport",
    "REDACTED",
    "RateLimit",
    "RateLimitedError",
    "RequestRecord",
    "RequestTimeoutError",
    "ResponseMessage",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "WINDOW_FIELDS",
    "WRITABLE_FIELDS",
    "async_client_from_options",
    "client_from_options",
    "generate_connectors",
    "is_retryable",
    "load_seed_file",
    "parse_ratelimit_headers",
    "read_token_file",
]
