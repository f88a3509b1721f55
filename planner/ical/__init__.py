"""iCalendar export of interrupt windows, and an HTTP feed that calendar clients subscribe to.

The exporter writes RFC 5545 content lines itself, which keeps fleet calendars fast to build.
The tests and the benchmark use `icalendar` as an independent parser and as a baseline.
"""

from __future__ import annotations

from planner.ical._calendar import (
    CalendarExport,
    assemble_calendar,
    connector_calendar,
    fleet_calendar,
    prodid,
    spec_calendar,
)
from planner.ical._connector import (
    Connector,
    connectors_from_api,
    parse_snapshot,
    read_snapshot,
    valid_connectors,
)
from planner.ical._events import UID_DOMAIN, EventBlock, render_connector, sequence_of
from planner.ical._options import (
    DEFAULT_HORIZON,
    RECURRENCES,
    ExportOptions,
    Recurrence,
)
from planner.ical._vtimezone import Observance, find_transitions, observances, vtimezone
from planner.ical.errors import (
    CalendarError,
    ConnectorDataError,
    FeedConfigError,
    SnapshotError,
)

__all__ = [
    "DEFAULT_HORIZON",
    "RECURRENCES",
    "UID_DOMAIN",
    "CalendarError",
    "CalendarExport",
    "Connector",
    "ConnectorDataError",
    "EventBlock",
    "ExportOptions",
    "FeedConfigError",
    "Observance",
    "Recurrence",
    "SnapshotError",
    "assemble_calendar",
    "connector_calendar",
    "connectors_from_api",
    "find_transitions",
    "fleet_calendar",
    "observances",
    "parse_snapshot",
    "prodid",
    "read_snapshot",
    "render_connector",
    "sequence_of",
    "spec_calendar",
    "valid_connectors",
    "vtimezone",
]
