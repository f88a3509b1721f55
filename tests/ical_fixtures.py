"""Helpers shared by the iCalendar tests: connector objects, independent parsers and VTIMEZONE reading."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream

from planner.engine import Window

BASE_CONNECTOR: dict[str, Any] = {
    "id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "notes": "Berlin edge, rack 4",
    "activated": True,
    "primary": True,
    "site_id": "site-berlin",
    "last_updated": "2026-11-01T10:00:00.123456Z",
    "timezone": "Europe/Berlin",
    "interrupt_window_days_of_week": ["Saturday", "Sunday"],
    "interrupt_window_hour_of_day": 2,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_embargo_dates": ["2026-12-26"],
}


def connector_object(**fields: Any) -> dict[str, Any]:
    """Return a connector object as the API returns it, with `fields` replacing the defaults."""
    data = dict(BASE_CONNECTOR)
    data.update(fields)
    return data


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def parse_with_ical(text: str) -> Any:
    """Parse with the `ical` package, the stricter of the two parsers."""
    return IcsCalendarStream.calendar_from_ics(text)


def parse_with_icalendar(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def open_occurrences(text: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Expand a calendar with `recurring-ical-events`, leaving out cancelled events, as UTC pairs."""
    calendar = parse_with_icalendar(text)
    found = []
    for event in recurring_ical_events.of(calendar).between(start, end):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        found.append((event.start.astimezone(UTC), event.end.astimezone(UTC)))
    return sorted(found)


def ical_occurrences(text: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Expand a calendar with the `ical` package, leaving out cancelled events, as UTC pairs."""
    calendar = parse_with_ical(text)
    found = []
    for event in calendar.timeline_tz(UTC).overlapping(start, end):
        if event.status is not None and event.status.value == "CANCELLED":
            continue
        found.append((event.start.astimezone(UTC), event.end.astimezone(UTC)))
    return sorted(found)


def engine_pairs(windows: list[Window]) -> list[tuple[datetime, datetime]]:
    return [(window.start, window.end) for window in windows if not window.blocked]


class VtimezoneReader:
    """Reads a VTIMEZONE by RFC 5545 section 3.6.5 alone, independent of any zone database.

    Each observance's onset is its DTSTART read with its TZOFFSETFROM; the offset at an instant
    is the TZOFFSETTO of the latest onset at or before it.
    """

    def __init__(self, component: icalendar.Timezone) -> None:
        onsets = []
        for observance in component.subcomponents:
            local = observance["DTSTART"].dt
            offset_from = observance["TZOFFSETFROM"].td
            offset_to = observance["TZOFFSETTO"].td
            onsets.append(((local - offset_from).replace(tzinfo=UTC), offset_to))
        onsets.sort()
        self.onsets = [onset for onset, _ in onsets]
        self.offsets = [offset for _, offset in onsets]

    def offset_at(self, instant: datetime) -> timedelta:
        index = bisect.bisect_right(self.onsets, instant.astimezone(UTC)) - 1
        if index < 0:
            raise AssertionError(f"{instant.isoformat()} is before the first onset {self.onsets[0]}")
        return self.offsets[index]


def vtimezones(text: str) -> dict[str, VtimezoneReader]:
    """Return a reader for every VTIMEZONE in a calendar, keyed by TZID."""
    calendar = parse_with_icalendar(text)
    return {
        str(component["TZID"]): VtimezoneReader(component)
        for component in calendar.walk("VTIMEZONE")
    }


def content_lines(text: str) -> list[str]:
    """Unfold a calendar's text into logical content lines."""
    return text.replace("\r\n ", "").split("\r\n")[:-1]
