"""Errors raised while exporting calendars and serving them.

    CalendarError
    ├── ConnectorDataError (also ValueError)  a connector object that cannot be exported
    ├── SnapshotError (also ValueError)       a snapshot file that is not a list of connectors
    └── FeedConfigError (also ValueError)     an invalid feed server setting, such as an empty token
"""

from __future__ import annotations


class CalendarError(Exception):
    """Base class of the errors raised by `planner.ical`."""


class ConnectorDataError(CalendarError, ValueError):
    """A connector object with a missing or invalid field; the message names the connector."""


class SnapshotError(CalendarError, ValueError):
    """A snapshot that is neither the API's connector list, in its envelope or bare, nor valid JSON."""


class FeedConfigError(CalendarError, ValueError):
    """An invalid setting for the feed server."""
