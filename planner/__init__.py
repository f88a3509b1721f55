"""Upgrade interrupt windows for Cloudflare One Appliances (Magic WAN Connectors).

The public API is re-exported here; the modules behind it are private to the package.
"""

from __future__ import annotations

from planner.cloudflare import (
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
from planner.cloudflare.emulator import Emulator
from planner.engine import (
    Coverage,
    EmbargoRule,
    Problem,
    SpecError,
    Window,
    WindowSpec,
    coverage,
    expand,
    next_open_window,
    next_windows,
    parse_instant,
    tzdata_version,
    window_at,
)
from planner.ical import (
    CalendarError,
    CalendarExport,
    ConnectorDataError,
    ExportOptions,
    SnapshotError,
    connector_calendar,
    fleet_calendar,
    spec_calendar,
)
from planner.ical.feed import FeedServer, FeedSettings

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AsyncConnectorsClient",
    "AuthenticationError",
    "CalendarError",
    "CalendarExport",
    "ClientConfig",
    "ClientOptions",
    "CloudflareError",
    "ConfigError",
    "Connector",
    "ConnectorDataError",
    "ConnectorsClient",
    "Coverage",
    "EmbargoRule",
    "Emulator",
    "ExportOptions",
    "FeedServer",
    "FeedSettings",
    "NotFoundError",
    "Problem",
    "RateLimitedError",
    "SnapshotError",
    "SpecError",
    "Window",
    "WindowSpec",
    "__version__",
    "async_client_from_options",
    "client_from_options",
    "connector_calendar",
    "coverage",
    "expand",
    "fleet_calendar",
    "next_open_window",
    "next_windows",
    "parse_instant",
    "spec_calendar",
    "tzdata_version",
    "window_at",
]
