"""VEVENTs for one connector, as expanded events or as recurring series.

Every value written here is deterministic: UIDs come from the connector id and slot dates,
DTSTAMP and LAST-MODIFIED from the connector's `last_updated`, and SEQUENCE from the same
timestamp, so it grows whenever the API records a change to the connector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from planner.engine import Window, expand, tzdata_version
from planner.ical._connector import Connector
from planner.ical._contentline import (
    escape_text,
    fold,
    format_date,
    format_duration,
    format_local,
    format_utc,
)
from planner.ical._options import ExportOptions

# SEQUENCE is the number of seconds from this instant to `last_updated`. It fits the 32-bit
# INTEGER of RFC 5545 until 2088 and only grows as `last_updated` does.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_MAX_INTEGER = 2**31 - 1

# The right-hand side of every UID, so that planner's UIDs never collide with other calendars'.
UID_DOMAIN = "interrupt-window.planner"

_BYDAY = {
    "Sunday": "SU",
    "Monday": "MO",
    "Tuesday": "TU",
    "Wednesday": "WE",
    "Thursday": "TH",
    "Friday": "FR",
    "Saturday": "SA",
}


@dataclass(frozen=True, slots=True)
class EventBlock:
    """The folded VEVENT lines of one connector, ready to be placed in any calendar."""

    connector_id: str
    site_id: str | None
    timezone: str
    text: str
    event_count: int
    warnings: tuple[str, ...]


def sequence_of(last_updated: datetime | None) -> int:
    """Return the SEQUENCE for a connector changed at `last_updated` (0 when unknown)."""
    if last_updated is None:
        return 0
    seconds = int((last_updated - _SEQUENCE_EPOCH).total_seconds())
    return min(max(seconds, 0), _MAX_INTEGER)


def _readable(value: datetime, with_zone: bool) -> str:
    """Format `value` as "2026-03-08 03:30", with " EDT (-04:00)" added when `with_zone` is set."""
    text = value.isoformat(" ", "minutes")
    if with_zone:
        return f"{text[:16]} {value.tzname()} ({text[16:]})"
    return text[:16]


class _Writer:
    """Precomputed per-connector lines, shared by all of its events."""

    def __init__(self, connector: Connector, options: ExportOptions) -> None:
        spec = connector.spec
        self.connector = connector
        self.options = options
        self.tzid = f";TZID={spec.timezone}"
        self.uid_prefix = f"UID:{connector.id}-"
        self.uid_suffix = f"@{UID_DOMAIN}"

        # DTSTAMP must be UTC. A spec without a connector has no change time, so the start of
        # the export range is used instead, which keeps the output the same on every run.
        stamp = connector.last_updated or options.start
        stamp_text = format_utc(stamp.replace(microsecond=0))
        common = [f"DTSTAMP:{stamp_text}"]
        if connector.last_updated is not None:
            common.append(f"LAST-MODIFIED:{stamp_text}")
        common.append(f"SEQUENCE:{sequence_of(connector.last_updated)}")
        self.common = "".join(fold(line) for line in common)

        title = connector.notes.strip() or f"connector {connector.id}"
        self.summary_open = fold(f"SUMMARY:{escape_text(f'Interrupt window: {title}')}")
        self.summary_blocked = fold(
            f"SUMMARY:{escape_text(f'Interrupt window (embargoed): {title}')}"
        )
        self.duration = f"DURATION:{format_duration(spec.duration)}"

        facts = [f"Connector: {connector.id}"]
        if connector.site_id:
            facts.append(f"Site: {connector.site_id}")
        facts.append(f"Window: {spec.describe()}")
        embargoes = [
            day.isoformat()
            for day in spec.embargo_dates
            if options.start.date() - timedelta(days=1) <= day <= options.end.date() + timedelta(days=1)
        ]
        if embargoes:
            facts.append(f"Embargo dates in this calendar: {', '.join(embargoes)}")
        self.description_head = escape_text("\n".join(facts))
        self.description_tail = escape_text(f"\ntzdata: {tzdata_version(spec.tz_database)}")

    def uid(self, kind: str, day: date) -> str:
        """Return the UID line for the event of `day`, where `kind` separates series from single events."""
        return f"{self.uid_prefix}{kind}{format_date(day)}{self.uid_suffix}"

    def description(self, window: Window, blocked: bool) -> str:
        local_end = window.local_end
        lines = [
            f"Local: {_readable(window.local_start, True)} to {_readable(local_end, True)}",
            f"UTC: {_readable(window.start, False)} to {_readable(window.end, False)}",
        ]
        if blocked:
            dates = ", ".join(day.isoformat() for day in window.embargo_dates)
            lines.append(f"Blocked by embargo dates: {dates}")
        return fold(
            f"DESCRIPTION:{self.description_head}\\n{escape_text(chr(10).join(lines))}"
            f"{self.description_tail}"
        )

    def series_description(self, first: Window, last: Window) -> str:
        lines = [
            f"First window: {self._times(first)}",
            f"Last window: {self._times(last)}",
        ]
        return fold(
            f"DESCRIPTION:{self.description_head}\\n{escape_text(chr(10).join(lines))}"
            f"{self.description_tail}"
        )

    @staticmethod
    def _times(window: Window) -> str:
        return (
            f"{_readable(window.local_start, True)}, "
            f"UTC {_readable(window.start, False)}"
        )

    def single_event(self, window: Window) -> str:
        """Return one VEVENT for `window`, with DTEND in local time when that time is unambiguous."""
        blocked = window.blocked
        lines = [
            "BEGIN:VEVENT\r\n",
            fold(self.uid("", window.slot_date)),
            self.common,
            fold(f"DTSTART{self.tzid}:{format_local(window.local_start)}"),
            self._end_line(window),
        ]
        lines.append(self.summary_blocked if blocked else self.summary_open)
        lines.append(self.description(window, blocked))
        lines.append("STATUS:CANCELLED\r\n" if blocked else "STATUS:CONFIRMED\r\n")
        lines.append("TRANSP:TRANSPARENT\r\nEND:VEVENT\r\n")
        return "".join(lines)

    def _end_line(self, window: Window) -> str:
        # A local end in the second pass through a fold (fold=1) would be read as the first
        # occurrence (RFC 5545 section 3.3.5), an hour early. A DURATION would be exact by the
        # RFC, but some clients add it to the wall time, so such an end is written in UTC.
        local_end = window.local_end
        if local_end.fold:
            return f"DTEND:{format_utc(window.end)}\r\n"
        return fold(f"DTEND{self.tzid}:{format_local(local_end)}")


def render_connector(connector: Connector, options: ExportOptions) -> EventBlock:
    """Render the VEVENTs of `connector` for the export range in the chosen recurrence mode."""
    windows = expand(
        connector.spec, options.start, options.end, embargo_rule=options.embargo_rule
    )
    writer = _Writer(connector, options)
    if options.recurrence == "rrule":
        parts, count, warnings = _render_series(writer, windows)
    else:
        parts, count, warnings = _render_expanded(writer, windows)
    return EventBlock(
        connector_id=connector.id,
        site_id=connector.site_id,
        timezone=connector.spec.timezone,
        text="".join(parts),
        event_count=count,
        warnings=tuple(warnings),
    )


def _render_expanded(
    writer: _Writer, windows: Sequence[Window]
) -> tuple[list[str], int, list[str]]:
    include_blocked = writer.options.include_blocked
    parts = [
        writer.single_event(window)
        for window in windows
        if include_blocked or not window.blocked
    ]
    return parts, len(parts), []


def _split_series(
    writer: _Writer, windows: Sequence[Window]
) -> tuple[list[list[Window]], list[Window], list[str]]:
    """Split the windows into runs that one RRULE reproduces and windows that need their own event.

    An RRULE instance is the slot date at the spec's wall time. RFC 5545 section 3.3.10 drops
    instances whose local time does not exist, while the engine moves such a window past the
    gap, and clients differ in how they treat these instances. A series therefore never spans a
    slot date whose wall time does not exist, nor a window in which the UTC offset changes. The
    series ends before such a window, which gets a VEVENT of its own, and a new series follows.
    """
    spec = writer.connector.spec
    zone = spec.zone
    hours, minutes = divmod(spec.start_minute, 60)
    wall_time = time(hours, minutes)

    weekdays = spec.iso_weekdays
    segments: list[list[Window]] = []
    standalone: list[Window] = []
    warnings: list[str] = []
    current: list[Window] = []
    for window in windows:
        # A slot date that never existed (Pacific/Apia skipped 2011-12-30) has no window, but an
        # RRULE would still list it, so the series ends before the missing date.
        if current and window.slot_date != _next_allowed(current[-1].slot_date, weekdays):
            segments.append(current)
            current = []

        wall = datetime.combine(window.slot_date, wall_time)
        exists = (
            wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
        )
        regular = exists and window.local_start.replace(tzinfo=None) == wall
        if regular and window.local_start.utcoffset() == window.local_end.utcoffset():
            current.append(window)
            continue

        if current:
            segments.append(current)
            current = []
        standalone.append(window)
        if regular:
            # The offset changes inside this window. DURATION is exact elapsed time by RFC 5545
            # section 3.3.6, but some clients (recurring-ical-events 3.8, for one) add it to the
            # wall time, so the window gets an event of its own with an explicit end.
            continue
        warnings.append(
            f"connector {writer.connector.id}: {wall:%Y-%m-%d %H:%M} does not exist in "
            f"{spec.timezone} (a DST gap), so the window moved to "
            f"{window.local_start:%H:%M} is written as its own event, outside the RRULE"
        )
    if current:
        segments.append(current)
    return segments, standalone, warnings


def _next_allowed(day: date, weekdays: frozenset[int]) -> date:
    """Return the first date after `day` whose weekday (Monday is 0) is in `weekdays`."""
    following = day + timedelta(days=1)
    while following.weekday() not in weekdays:
        following += timedelta(days=1)
    return following


def _render_series(
    writer: _Writer, windows: Sequence[Window]
) -> tuple[list[str], int, list[str]]:
    include_blocked = writer.options.include_blocked
    segments, standalone, warnings = _split_series(writer, windows)
    if not include_blocked:
        standalone = [window for window in standalone if not window.blocked]

    events: list[tuple[datetime, str]] = [
        (window.start, writer.single_event(window)) for window in standalone
    ]
    component_count = len(events)
    for instances in segments:
        if not include_blocked:
            # Trimming blocked instances at either end keeps DTSTART on an open window.
            while instances and instances[0].blocked:
                instances = instances[1:]
            while instances and instances[-1].blocked:
                instances = instances[:-1]
        if not instances:
            continue
        if len(instances) == 1:
            events.append((instances[0].start, writer.single_event(instances[0])))
            component_count += 1
            continue
        text, count = _series_events(writer, instances)
        events.append((instances[0].start, text))
        component_count += count

    events.sort(key=lambda item: item[0])
    return [text for _, text in events], component_count, warnings


def _series_events(writer: _Writer, instances: Sequence[Window]) -> tuple[str, int]:
    """Return a recurring VEVENT for `instances` and its cancelled overrides, with their count."""
    spec = writer.connector.spec
    first, last = instances[0], instances[-1]
    uid = fold(writer.uid("series-", first.slot_date))
    byday = ",".join(_BYDAY[day] for day in spec.days_of_week)

    # UNTIL is in UTC because DTSTART has a TZID (RFC 5545 section 3.3.10), and is the last
    # instance's start, which the rule includes.
    lines = [
        "BEGIN:VEVENT\r\n",
        uid,
        writer.common,
        fold(f"DTSTART{writer.tzid}:{format_local(first.local_start)}"),
        fold(writer.duration),
        fold(f"RRULE:FREQ=WEEKLY;UNTIL={format_utc(last.start)};BYDAY={byday}"),
    ]
    blocked = [window for window in instances if window.blocked]
    if blocked and not writer.options.include_blocked:
        values = ",".join(format_local(window.local_start) for window in blocked)
        lines.append(fold(f"EXDATE{writer.tzid}:{values}"))
    lines.append(writer.summary_open)
    lines.append(writer.series_description(first, last))
    lines.append("STATUS:CONFIRMED\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n")

    count = 1
    if writer.options.include_blocked:
        for window in blocked:
            lines.append(_cancelled_override(writer, uid, window))
            count += 1
    return "".join(lines), count


def _cancelled_override(writer: _Writer, uid: str, window: Window) -> str:
    """Return a VEVENT that cancels one instance of a series and names the embargo dates that blocked it."""
    recurrence_id = f"{writer.tzid}:{format_local(window.local_start)}"
    return "".join(
        [
            "BEGIN:VEVENT\r\n",
            uid,
            writer.common,
            fold(f"RECURRENCE-ID{recurrence_id}"),
            fold(f"DTSTART{recurrence_id}"),
            fold(writer.duration),
            writer.summary_blocked,
            writer.description(window, True),
            "STATUS:CANCELLED\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
        ]
    )
