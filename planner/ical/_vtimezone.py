"""VTIMEZONE components built from the zone's own transitions.

Each observance is one real transition found in `zoneinfo`, written as RFC 5545 section 3.6.5
requires: its DTSTART is the local time just before the transition, so it is read with TZOFFSETFROM,
and TZOFFSETTO is the offset after it. The VTIMEZONE that icalendar 7.3 generates writes daylight
saving onsets an hour late (in the new offset), which is why this module does not use it.

The observances list explicit onsets rather than an RRULE, so a component is exact for any zone,
including ones whose rules changed inside the horizon.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from planner.engine import load_zone
from planner.engine.zones import TzDatabase
from planner.ical._contentline import fold, format_local, format_offset

# Transitions are searched for by sampling the offset at this step and bisecting every change to
# the second. Two transitions closer together than the step and returning to the same offset,
# name and DST flag would be missed. In tzdata 2026f no two transitions since 1990 are within
# 48 hours of each other (checked against the TZif transition tables of every zone), which also
# covers the day-sized steps of `_previous_transition`.
_SCAN_STEP = timedelta(hours=6)

_ONE_DAY = timedelta(days=1)

# How far before the horizon the search looks for the transition that set the offset in force at
# the horizon's start. Zones with daylight saving time have one within a year.
_LOOKBACK = timedelta(days=2 * 366)

# The onset written for a zone without any transition in the lookback, the usual choice for a zone
# with a single fixed offset. Only the offset in the horizon matters to the events.
_FIXED_ONSET = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Observance:
    """One transition of a zone: from `offset_from` to `offset_to` at the instant `utc`."""

    utc: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    @property
    def local_onset(self) -> datetime:
        """The onset as RFC 5545 writes it: the naive local time before the transition."""
        return (self.utc + self.offset_from).replace(tzinfo=None)


def _state(zone: tzinfo, instant: datetime) -> tuple[timedelta, timedelta, str]:
    local = instant.astimezone(zone)
    return local.utcoffset() or timedelta(0), local.dst() or timedelta(0), local.tzname() or ""


def _bisect_transition(zone: tzinfo, before: datetime, after: datetime) -> datetime:
    """Return the first second in (before, after] whose state differs from the state at `before`."""
    state = _state(zone, before)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _state(zone, middle) == state:
            low = middle
        else:
            high = middle
    return high


def find_transitions(zone: tzinfo, start: datetime, end: datetime) -> list[Observance]:
    """Return every change of offset, DST flag or abbreviation of `zone` in (start, end]."""
    found: list[Observance] = []
    previous_instant = start.astimezone(UTC)
    previous = _state(zone, previous_instant)
    stop = end.astimezone(UTC)
    while previous_instant < stop:
        instant = min(previous_instant + _SCAN_STEP, stop)
        state = _state(zone, instant)
        if state != previous:
            # Bisect from the last sample so that each transition is found on its own.
            while state != previous:
                moment = _bisect_transition(zone, previous_instant, instant)
                after = _state(zone, moment)
                found.append(
                    Observance(
                        utc=moment,
                        offset_from=previous[0],
                        offset_to=after[0],
                        name=after[2],
                        daylight=after[1] != timedelta(0),
                    )
                )
                previous_instant, previous = moment, after
        previous_instant, previous = instant, state
    return found


def _previous_transition(zone: tzinfo, start: datetime) -> Observance | None:
    """Return the last transition at or before `start` within the lookback, searching backwards.

    Walking back a day at a time finds a zone's last change after about half a year on average,
    instead of scanning the whole lookback forwards.
    """
    state = _state(zone, start)
    instant = start
    limit = start - _LOOKBACK
    while instant > limit:
        earlier = max(instant - _ONE_DAY, limit)
        if _state(zone, earlier) != state:
            found = find_transitions(zone, earlier, instant)
            return found[-1] if found else None
        instant = earlier
    return None


@functools.lru_cache(maxsize=1024)
def observances(
    timezone: str, start: datetime, end: datetime, database: TzDatabase = "tzdata"
) -> tuple[Observance, ...]:
    """Return the observances that define `timezone` from `start` to `end`.

    The first is the last transition before `start`, so every instant of the range follows an
    onset. A zone without a transition in the lookback gets one fixed observance instead.
    """
    zone = load_zone(timezone, database)
    inside = find_transitions(zone, start, end)
    earlier = _previous_transition(zone, start)
    if earlier is not None:
        return (earlier, *inside)

    offset, dst, name = _state(zone, start)
    fixed = Observance(
        utc=_FIXED_ONSET.replace(tzinfo=UTC) - offset,
        offset_from=offset,
        offset_to=offset,
        name=name,
        daylight=dst != timedelta(0),
    )
    return (fixed, *inside)


@functools.lru_cache(maxsize=1024)
def vtimezone(
    timezone: str, start: datetime, end: datetime, database: TzDatabase = "tzdata"
) -> str:
    """Return the folded content lines of a VTIMEZONE for `timezone` covering `start` to `end`."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{timezone}"]
    for observance in observances(timezone, start, end, database):
        kind = "DAYLIGHT" if observance.daylight else "STANDARD"
        lines.append(f"BEGIN:{kind}")
        lines.append(f"DTSTART:{format_local(observance.local_onset)}")
        lines.append(f"TZOFFSETFROM:{format_offset(observance.offset_from)}")
        lines.append(f"TZOFFSETTO:{format_offset(observance.offset_to)}")
        if observance.name:
            lines.append(f"TZNAME:{observance.name}")
        lines.append(f"END:{kind}")
    lines.append("END:VTIMEZONE")
    return "".join(fold(line) for line in lines)
