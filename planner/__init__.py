"""Upgrade interrupt windows for Cloudflare One Appliances (Magic WAN Connectors).

The public API is re-exported here; the modules behind it are private to the package.
"""

from __future__ import annotations

__version__ = "0.1.0"

from planner.cloudflare import (  # noqa: E402
    APIError,
    AsyncConnectorsClient,
    AuthenticationError,
    ClientConfig,
    ClientOptions,
    CloudflareError,
    ConfigError,
    Connector,
    ConnectorsClient,
    NotFoundError,
    RateLimitedError,
    async_client_from_options,
    client_from_options,
)
from planner.cloudflare.emulator import Emulator  # noqa: E402

__all__ = [
    "APIError",
    "AsyncConnectorsClient",
    "AuthenticationError",
    "ClientConfig",
    "ClientOptions",
    "CloudflareError",
    "ConfigError",
    "Connector",
    "ConnectorsClient",
    "Emulator",
    "NotFoundError",
    "RateLimitedError",
    "__version__",
    "async_client_from_options",
    "client_from_options",
]
