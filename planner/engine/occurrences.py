"""Occurrence expansion: the concrete windows a spec produces, with embargoes applied.

The time rules, which are the product's semantics:

1. A window belongs to the local date on which it is scheduled to start, its slot date. The
   allowed days filter slot dates, so a Friday 23:00 window of 2 hours runs into Saturday even
   when Saturday is not allowed.
2. The start is the slot date at the hour of day, local time. A local time that does not exist
   (a DST gap) is read with the UTC offset in force before the gap, which moves it forward by the
   gap's length (RFC 5545, section 3.3.5). A local time that occurs twice (a fold) means its
   first occurrence. A slot date that never existed in the zone has no window.
3. The end is the start plus the duration in elapsed time.
4. An embargo date covers its whole local day, from its local midnight to the next one, both
   resolved by rule 2. Under the `overlap` rule a window that touches an embargoed day at any
   instant is blocked. Under the `start` rule only a window whose slot date is embargoed is.
   Windows are half-open, so one that ends at an embargoed day's first instant is not blocked.

Rule 2 is what `zoneinfo` does with `fold=0`: in a gap it applies the offset from before the
transition, and in a fold it picks the first occurrence (PEP 495).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, NamedTuple

from planner.engine.spec import FIRST_SUPPORTED_DATE, LAST_SUPPORTED_DATE, WindowSpec

EmbargoRule = Literal["overlap", "start"]

EMBARGO_RULES: tuple[EmbargoRule, ...] = ("overlap", "start")

_ONE_DAY = timedelta(days=1)

# Instants the queries accept; slot dates stay inside the supported dates.
FIRST_INSTANT = datetime.combine(FIRST_SUPPORTED_DATE, time(), UTC)
LAST_INSTANT = datetime.combine(LAST_SUPPORTED_DATE + _ONE_DAY, time(), UTC)

# next_windows() and next_open_window() give up after this many days without a match. With at most
# 100 embargo dates every spec has an open window well inside it.
SEARCH_LIMIT_DAYS = 800

# Slot dates are expanded in batches of this many days while searching forward.
_SEARCH_BATCH_DAYS = 64


class Window(NamedTuple):
    """One concrete interrupt window: a half-open interval [start, end) in UTC.

    A named tuple rather than a dataclass because expansion creates millions of them and a tuple
    is built several times faster. Like a frozen dataclass, it is immutable and compares by value.
    """

    start: datetime
    end: datetime
    local_start: datetime
    slot_date: date
    blocked: bool
    embargo_dates: tuple[date, ...]

    @property
    def local_end(self) -> datetime:
        """The end in the window's time zone."""
        return self.end.astimezone(self.local_start.tzinfo)

    @property
    def duration_hours(self) -> float:
        """The elapsed length in hours."""
        return (self.end - self.start).total_seconds() / 3600

    def contains(self, instant: datetime) -> bool:
        """Return whether `instant` (an aware datetime) lies inside [start, end)."""
        return self.start <= instant < self.end

    def as_dict(self) -> dict[str, Any]:
        """Return the window in the JSON form that `planner windows --json` prints."""
        return {
            "start": _utc_iso(self.start),
            "end": _utc_iso(self.end),
            "local_start": self.local_start.isoformat(),
            "local_end": self.local_end.isoformat(),
            "slot_date": self.slot_date.isoformat(),
            "blocked": self.blocked,
            "embargo_dates": [day.isoformat() for day in self.embargo_dates],
        }


def _utc_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def resolve_local(day: date, minute_of_day: int, zone: tzinfo) -> datetime:
    """Return the UTC instant of a local wall time under rule 2 (gap: forward; fold: first)."""
    hours, minutes = divmod(minute_of_day, 60)
    return datetime.combine(day, time(hours, minutes), zone).astimezone(UTC)


def day_exists(day: date, zone: tzinfo) -> bool:
    """Return whether the local date `day` ever occurred in `zone`.

    A few zones skipped a whole date when they moved across the date line, such as Pacific/Apia,
    which went from 29 to 31 December 2011.
    """
    midnight = resolve_local(day, 0, zone)
    return midnight.astimezone(zone).date() == day


@dataclass(frozen=True, slots=True)
class _EmbargoDays:
    """The embargoed local days of a spec as UTC intervals, sorted."""

    dates: tuple[date, ...]
    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    date_set: frozenset[date]

    def touching(self, index: int, end: datetime) -> tuple[date, ...]:
        """Return the embargoed dates from position `index` on whose day starts before `end`.

        The days are disjoint and in time order, so the caller passes the first day that has not
        ended by the window's start, and the dates stop at the first day that starts at its end.
        """
        found: list[date] = []
        while index < len(self.dates) and self.starts[index] < end:
            found.append(self.dates[index])
            index += 1
        return tuple(found)


@functools.lru_cache(maxsize=4096)
def _embargo_days(spec: WindowSpec) -> _EmbargoDays:
    zone = spec.zone
    starts = []
    ends = []
    dates = []
    for day in spec.embargo_dates:
        start = resolve_local(day, 0, zone)
        end = resolve_local(day + _ONE_DAY, 0, zone)
        # A date the zone skipped (Pacific/Apia, 2011-12-30) has no instants, so nothing touches it.
        if start < end:
            dates.append(day)
            starts.append(start)
            ends.append(end)
    return _EmbargoDays(tuple(dates), tuple(starts), tuple(ends), frozenset(spec.embargo_dates))


def _check_rule(embargo_rule: str) -> EmbargoRule:
    if embargo_rule not in EMBARGO_RULES:
        raise ValueError(f"unknown embargo rule {embargo_rule!r}; use 'overlap' or 'start'")
    return embargo_rule


def _check_aware(name: str, instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"{name} {instant.isoformat()!r} has no UTC offset; pass an aware datetime"
        )
    if not FIRST_INSTANT <= instant <= LAST_INSTANT:
        raise ValueError(
            f"{name} {instant.isoformat()!r} is outside the supported range "
            f"{FIRST_INSTANT.isoformat()} to {LAST_INSTANT.isoformat()}"
        )


def _windows_for_slots(
    spec: WindowSpec, first: date, last: date, rule: EmbargoRule
) -> list[Window]:
    """Return the windows of every allowed slot date from `first` to `last` inclusive, in order.

    This is the hot loop of every query, so it builds a list instead of yielding and checks
    embargoes inline.
    """
    zone = spec.zone
    weekdays = spec.iso_weekdays
    hours, minutes = divmod(spec.start_minute, 60)
    wall_time = time(hours, minutes)
    duration = spec.duration
    embargo = _embargo_days(spec)
    by_overlap = rule == "overlap" and bool(embargo.dates)
    by_start = rule == "start" and bool(embargo.dates)

    # Only allowed weekdays are visited: each step jumps straight to the next allowed day.
    steps = [0] * 7
    for weekday in range(7):
        step = 1
        while (weekday + step) % 7 not in weekdays:
            step += 1
        steps[weekday] = step
    day = first
    if day.weekday() not in weekdays:
        day += timedelta(days=steps[day.weekday()])
    step_deltas = [timedelta(days=step) for step in steps]

    combine = datetime.combine
    windows: list[Window] = []
    append = windows.append
    # Windows come in time order, so the embargoed days that can touch them only move forward:
    # `index` is the first embargoed day that has not ended before the current window starts.
    index = 0
    count = len(embargo.dates)
    while day <= last:
        start = combine(day, wall_time, zone).astimezone(UTC)
        local_start = start.astimezone(zone)
        if local_start.date() != day and not day_exists(day, zone):
            day += step_deltas[day.weekday()]
            continue
        end = start + duration
        blocked_by: tuple[date, ...] = ()
        if by_overlap:
            while index < count and embargo.ends[index] <= start:
                index += 1
            blocked_by = embargo.touching(index, end)
        elif by_start and day in embargo.date_set:
            blocked_by = (day,)
        append(Window(start, end, local_start, day, bool(blocked_by), blocked_by))
        day += step_deltas[day.weekday()]
    return windows


def _slot_range(spec: WindowSpec, start: datetime, end: datetime) -> tuple[date, date]:
    """Return the slot dates whose windows can overlap [start, end).

    A window starts on its slot date or, after a gap, up to a day later, and lasts at most 24
    hours, so two days of margin on each side cover every zone's offsets.
    """
    zone = spec.zone
    first = start.astimezone(zone).date() - timedelta(days=2)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return max(first, FIRST_SUPPORTED_DATE), min(last, LAST_SUPPORTED_DATE)


def expand(
    spec: WindowSpec,
    start: datetime,
    end: datetime,
    *,
    embargo_rule: EmbargoRule = "overlap",
) -> list[Window]:
    """Return every window that overlaps [start, end), blocked ones included, sorted by start.

    `start` and `end` are aware datetimes in any zone.
    """
    rule = _check_rule(embargo_rule)
    _check_aware("start", start)
    _check_aware("end", end)
    if end <= start:
        return []
    first, last = _slot_range(spec, start, end)
    return [
        window
        for window in _windows_for_slots(spec, first, last, rule)
        if window.start < end and window.end > start
    ]


def _forward(spec: WindowSpec, instant: datetime, rule: EmbargoRule) -> Iterator[Window]:
    """Yield windows that end after `instant`, in order, for up to the search limit."""
    first, _ = _slot_range(spec, instant, instant)
    stop = min(first + timedelta(days=SEARCH_LIMIT_DAYS), LAST_SUPPORTED_DATE)
    while first <= stop:
        last = min(first + timedelta(days=_SEARCH_BATCH_DAYS - 1), stop)
        for window in _windows_for_slots(spec, first, last, rule):
            if window.end > instant:
                yield window
        first = last + _ONE_DAY


def next_windows(
    spec: WindowSpec,
    instant: datetime,
    count: int,
    *,
    embargo_rule: EmbargoRule = "overlap",
    include_blocked: bool = False,
) -> list[Window]:
    """Return the next `count` windows that have not ended at `instant`, the current one included.

    Blocked windows are skipped unless `include_blocked` is true. The search covers the 800 days
    after `instant`, so fewer than `count` windows come back when they do not fit in it.
    """
    rule = _check_rule(embargo_rule)
    _check_aware("instant", instant)
    if count < 1:
        return []
    found: list[Window] = []
    for window in _forward(spec, instant, rule):
        if include_blocked or not window.blocked:
            found.append(window)
            if len(found) == count:
                break
    return found


def window_at(
    spec: WindowSpec, instant: datetime, *, embargo_rule: EmbargoRule = "overlap"
) -> Window | None:
    """Return the open window that contains `instant`, or None when the instant is outside all."""
    rule = _check_rule(embargo_rule)
    _check_aware("instant", instant)
    for window in _windows_for_slots(spec, *_slot_range(spec, instant, instant), rule):
        if not window.blocked and window.contains(instant):
            return window
    return None


def next_open_window(
    spec: WindowSpec, instant: datetime, *, embargo_rule: EmbargoRule = "overlap"
) -> Window | None:
    """Return the first open window that starts at or after `instant`, or None within 800 days."""
    rule = _check_rule(embargo_rule)
    _check_aware("instant", instant)
    for window in _forward(spec, instant, rule):
        if not window.blocked and window.start >= instant:
            return window
    return None
