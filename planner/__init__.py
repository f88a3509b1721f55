"""Upgrade interrupt windows for Cloudflare One Appliances (Magic WAN Connectors).

The public API is re-exported here; the modules behind it are private to the package.
"""

from __future__ import annotations

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
    "CalendarError",
    "CalendarExport",
    "ConnectorDataError",
    "ExportOptions",
    "FeedServer",
    "FeedSettings",
    "SnapshotError",
    "__version__",
    "connector_calendar",
    "fleet_calendar",
    "spec_calendar",
]
