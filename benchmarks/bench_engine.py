"""Expand one year of windows for 10,000 connectors and compare with two peers in the same run.

Peers:
  (a) recurring-ical-events expanding the equivalent RRULE + EXDATE calendar;
  (b) a naive loop of dateutil.rrule plus zoneinfo conversion, the way such code is often written:
      wall-clock arithmetic for the end and embargo checks by slot date only.

Run: python benchmarks/bench_engine.py [--connectors 10000] [--peer-sample 500]
The recurring-ical-events peer runs on a sample of connectors and its time is scaled up to the
whole fleet, because expanding 10,000 recurring events with it takes many minutes.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from planner.engine import DAY_NAMES, WindowSpec, expand
from planner.engine.zones import zone_names

START = datetime(2027, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)

# Zones that connectors sit in: every continent, 30- and 45-minute offsets, both hemispheres' DST.
ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo",
    "America/Santiago", "America/Mexico_City", "America/St_Johns", "Europe/London", "Europe/Berlin",
    "Europe/Paris", "Europe/Madrid", "Europe/Helsinki", "Europe/Istanbul", "Africa/Cairo", "Africa/Lagos",
    "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Singapore", "Asia/Tokyo",
    "Asia/Shanghai", "Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Auckland",
    "Pacific/Apia", "Pacific/Chatham", "UTC",
]


def make_specs(count: int, seed: int = 7) -> list[WindowSpec]:
    known = zone_names()
    rng = random.Random(seed)
    specs = []
    for _ in range(count):
        zone = rng.choice(ZONES)
        assert zone in known
        days = rng.sample(DAY_NAMES, rng.randint(1, 3))
        embargo = sorted({START.date() + timedelta(days=rng.randrange(365)) for _ in range(3)})
        specs.append(
            WindowSpec(
                timezone=zone,
                days_of_week=tuple(days),
                hour_of_day=rng.randrange(0, 24 * 4) / 4,
                duration_hours=rng.randint(1, 8),
                embargo_dates=tuple(embargo),
            )
        )
    return specs


def run_engine(specs: list[WindowSpec]) -> int:
    return sum(len(expand(spec, START, END)) for spec in specs)


def build_calendar(specs: list[WindowSpec]) -> bytes:
    """Build an RRULE + EXDATE calendar that recurring-ical-events expands like the engine would."""
    from icalendar import Calendar, Event, vRecur

    codes = {"Sunday": "SU", "Monday": "MO", "Tuesday": "TU", "Wednesday": "WE", "Thursday": "TH", "Friday": "FR", "Saturday": "SA"}
    calendar = Calendar()
    calendar.add("prodid", "-//planner benchmark//EN")
    calendar.add("version", "2.0")
    for index, spec in enumerate(specs):
        zone = ZoneInfo(spec.timezone)
        hours, minutes = divmod(spec.start_minute, 60)
        first = datetime(2026, 12, 25, hours, minutes, tzinfo=zone)
        event = Event()
        event.add("uid", f"bench-{index}")
        event.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
        event.add("dtstart", first)
        event.add("duration", spec.duration)
        event.add("rrule", vRecur(freq="WEEKLY", byday=[codes[day] for day in spec.days_of_week]))
        exdates = [datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone) for day in spec.embargo_dates]
        if exdates:
            event.add("exdate", exdates)
        calendar.add_component(event)
    return calendar.to_ical()


def run_recurring_ical_events(calendar_bytes: bytes) -> int:
    import recurring_ical_events
    from icalendar import Calendar

    calendar = Calendar.from_ical(calendar_bytes)
    return len(recurring_ical_events.of(calendar).between(START, END))


def run_naive(specs: list[WindowSpec]) -> tuple[int, list[list[tuple[datetime, datetime]]]]:
    """dateutil.rrule over naive local times, then zoneinfo; ends by wall-clock arithmetic."""
    from dateutil import rrule

    codes = [rrule.SU, rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA]
    results = []
    total = 0
    for spec in specs:
        zone = ZoneInfo(spec.timezone)
        hours, minutes = divmod(spec.start_minute, 60)
        local_from = START.astimezone(zone).replace(tzinfo=None) - timedelta(days=2)
        local_until = END.astimezone(zone).replace(tzinfo=None)
        rule = rrule.rrule(
            rrule.WEEKLY,
            byweekday=[codes[DAY_NAMES.index(day)] for day in spec.days_of_week],
            byhour=hours,
            byminute=minutes,
            bysecond=0,
            dtstart=local_from.replace(hour=0, minute=0, second=0),
            until=local_until,
        )
        embargo = set(spec.embargo_dates)
        windows = []
        for occurrence in rule:
            if occurrence.date() in embargo:
                continue
            start = occurrence.replace(tzinfo=zone)
            end = start + spec.duration  # wall-clock arithmetic: wrong across a DST change
            if end > START and start < END:
                windows.append((start.astimezone(UTC), end.astimezone(UTC)))
        total += len(windows)
        results.append(windows)
    return total, results


def timed(function, *arguments):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = function(*arguments)
    return time.perf_counter() - began, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--peer-sample", type=int, default=500, help="connectors given to recurring-ical-events")
    arguments = parser.parse_args()

    specs = make_specs(arguments.connectors)
    expand(specs[0], START, END)  # load zones before timing

    engine_seconds, engine_count = timed(run_engine, specs)
    naive_seconds, (naive_count, naive_windows) = timed(run_naive, specs)

    sample = specs[: arguments.peer_sample]
    calendar_bytes = build_calendar(sample)
    peer_seconds, peer_count = timed(run_recurring_ical_events, calendar_bytes)
    peer_scaled = peer_seconds * len(specs) / len(sample)

    # Where the naive loop differs from the engine: wrong ends across DST, embargo by start only.
    wrong = 0
    for spec, naive in zip(specs, naive_windows):
        ours = {(w.start, w.end) for w in expand(spec, START, END) if not w.blocked}
        wrong += len(ours.symmetric_difference(naive))

    print(f"connectors: {len(specs)}, one year from {START.date()}")
    print(f"engine:                 {engine_seconds:8.3f} s  {engine_count} windows")
    print(f"naive rrule + zoneinfo: {naive_seconds:8.3f} s  {naive_count} open windows, {wrong} differ from the engine")
    print(
        f"recurring-ical-events:  {peer_scaled:8.3f} s  (measured {peer_seconds:.3f} s on {len(sample)} connectors, "
        f"{peer_count} occurrences, scaled to {len(specs)})"
    )
    print(f"ratio recurring-ical-events / engine: {peer_scaled / engine_seconds:6.1f}x  (target >= 25)")
    print(f"ratio naive / engine:                 {naive_seconds / engine_seconds:6.2f}x  (target >= 1)")


if __name__ == "__main__":
    main()
