"""VCALENDAR objects for one spec, one connector or a fleet, assembled from per-connector events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import planner
from planner.engine import WindowSpec, tzdata_version
from planner.engine.zones import TzDatabase
from planner.ical._connector import Connector, connectors_from_api
from planner.ical._contentline import escape_text, fold, format_duration
from planner.ical._events import EventBlock, render_connector
from planner.ical._options import ExportOptions
from planner.ical._vtimezone import vtimezone

FLEET_NAME = "Interrupt windows: all connectors"

# A window that overlaps the export range starts at most 24 hours before it and ends at most 24
# hours after it, so each VTIMEZONE covers the range with this margin on both sides.
_ZONE_MARGIN = timedelta(days=2)


def prodid() -> str:
    """Return the PRODID of planner's calendars, which names the package version."""
    # Read at call time: `planner` re-exports this package, so it is still importing when this
    # module is first loaded.
    return f"-//planner//Interrupt windows {planner.__version__}//EN"


@dataclass(frozen=True, slots=True)
class CalendarExport:
    """One finished VCALENDAR: its text, the number of VEVENTs and the warnings of the export."""

    text: str
    event_count: int
    warnings: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """Return the calendar as UTF-8, the charset of `text/calendar` (RFC 5545 section 3.1.4)."""
        return self.text.encode("utf-8")


def assemble_calendar(
    blocks: Sequence[EventBlock],
    options: ExportOptions,
    *,
    name: str,
    tz_database: TzDatabase = "tzdata",
) -> CalendarExport:
    """Wrap rendered event blocks in a VCALENDAR with one VTIMEZONE per TZID they use."""
    refresh = format_duration(options.refresh_interval)
    description = (
        f"Upgrade interrupt windows from {options.start:%Y-%m-%d %H:%M} UTC to "
        f"{options.end:%Y-%m-%d %H:%M} UTC, computed with tzdata {tzdata_version(tz_database)}"
    )

    # NOTE: X-WR-TIMEZONE is left out on purpose: some clients shift UTC times by it. METHOD is
    # left out too, because iTIP requires an ORGANIZER that these events do not have.
    header = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{prodid()}",
        "CALSCALE:GREGORIAN",
        f"NAME:{escape_text(name)}",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}",
        f"X-PUBLISHED-TTL:{refresh}",
    ]
    parts = [fold(line) for line in header]

    zone_start = options.start - _ZONE_MARGIN
    zone_end = options.end + _ZONE_MARGIN
    # RFC 5545 section 3.6 requires at least one component, so a connector's VTIMEZONE stays
    # even when no window falls in the range.
    # NOTE: a calendar without any connector still has no component at all.
    for timezone in sorted({block.timezone for block in blocks}):
        parts.append(vtimezone(timezone, zone_start, zone_end, tz_database))

    warnings: list[str] = []
    count = 0
    for block in blocks:
        parts.append(block.text)
        count += block.event_count
        warnings.extend(block.warnings)
    parts.append("END:VCALENDAR\r\n")
    return CalendarExport("".join(parts), count, tuple(warnings))


def spec_calendar(spec: WindowSpec, options: ExportOptions, *, name: str | None = None) -> CalendarExport:
    """Export the windows of a spec that belongs to no connector."""
    connector = Connector.from_spec(spec)
    block = render_connector(connector, options)
    return assemble_calendar(
        [block],
        options,
        name=name or f"Interrupt windows: {spec.describe()}",
        tz_database=spec.tz_database,
    )


def connector_calendar(
    connector: Mapping[str, Any] | Connector,
    options: ExportOptions,
    *,
    name: str | None = None,
) -> CalendarExport:
    """Export one connector, given as an API connector object (or its envelope) or a `Connector`."""
    if not isinstance(connector, Connector):
        connector = Connector.from_api(connector)
    block = render_connector(connector, options)
    title = connector.notes.strip() or connector.id
    return assemble_calendar(
        [block],
        options,
        name=name or f"Interrupt windows: {title}",
        tz_database=connector.spec.tz_database,
    )


def fleet_calendar(
    connectors: Iterable[Mapping[str, Any] | Connector],
    options: ExportOptions,
    *,
    name: str | None = None,
    tz_database: TzDatabase = "tzdata",
) -> CalendarExport:
    """Export many connectors, given as API connector objects or `Connector` values, in one calendar.

    Connectors appear in id order, so the output does not depend on the order of the input.
    """
    items = list(connectors)
    parsed = [item for item in items if isinstance(item, Connector)]
    parsed.extend(
        connectors_from_api(
            (item for item in items if not isinstance(item, Connector)), tz_database=tz_database
        )
    )
    parsed.sort(key=lambda connector: connector.id)
    blocks = [render_connector(connector, options) for connector in parsed]
    return assemble_calendar(blocks, options, name=name or FLEET_NAME, tz_database=tz_database)
