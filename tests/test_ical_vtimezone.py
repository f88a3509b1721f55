"""VTIMEZONE built from zoneinfo's transitions, checked against the zones themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ical_fixtures import VtimezoneReader, parse_with_ical, parse_with_icalendar, utc

from planner.engine import load_zone
from planner.engine.zones import zone_names
from planner.ical import find_transitions, observances, vtimezone


def _component(timezone: str, start: datetime, end: datetime) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + vtimezone(timezone, start, end)
        + "END:VCALENDAR\r\n"
    )


def _onsets(timezone: str, start: datetime, end: datetime) -> list[tuple[str, str, str, str]]:
    calendar = parse_with_icalendar(_component(timezone, start, end))
    (component,) = calendar.walk("VTIMEZONE")
    return [
        (
            observance.name,
            observance["DTSTART"].dt.strftime("%Y%m%dT%H%M%S"),
            str(observance["TZOFFSETFROM"].to_ical()),
            str(observance["TZOFFSETTO"].to_ical()),
        )
        for observance in component.subcomponents
    ]


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        (
            "America/New_York",
            [
                ("STANDARD", "20251102T020000", "-0400", "-0500"),
                ("DAYLIGHT", "20260308T020000", "-0500", "-0400"),
                ("STANDARD", "20261101T020000", "-0400", "-0500"),
            ],
        ),
        (
            "Europe/Berlin",
            [
                ("STANDARD", "20251026T030000", "+0200", "+0100"),
                ("DAYLIGHT", "20260329T020000", "+0100", "+0200"),
                ("STANDARD", "20261025T030000", "+0200", "+0100"),
            ],
        ),
        (
            "Australia/Lord_Howe",
            [
                ("DAYLIGHT", "20251005T020000", "+1030", "+1100"),
                ("STANDARD", "20260405T020000", "+1100", "+1030"),
                ("DAYLIGHT", "20261004T020000", "+1030", "+1100"),
            ],
        ),
    ],
)
def test_onsets_are_local_time_before_transition(
    timezone: str, expected: list[tuple[str, str, str, str]]
) -> None:
    """Each DTSTART is the wall time just before the change, read with TZOFFSETFROM."""
    assert _onsets(timezone, utc(2026, 1, 1), utc(2026, 12, 31)) == expected


@pytest.mark.parametrize(("timezone", "offset"), [("Asia/Kathmandu", "+0545"), ("Asia/Kolkata", "+0530")])
def test_fixed_offset_zone_has_one_observance(timezone: str, offset: str) -> None:
    assert _onsets(timezone, utc(2026, 1, 1), utc(2026, 12, 31)) == [
        ("STANDARD", "19700101T000000", offset, offset)
    ]


def test_transition_found_to_the_second() -> None:
    zone = load_zone("America/New_York")
    (transition,) = find_transitions(zone, utc(2026, 3, 1), utc(2026, 4, 1))
    assert transition.utc == utc(2026, 3, 8, 7)
    assert transition.offset_from == timedelta(hours=-5)
    assert transition.offset_to == timedelta(hours=-4)
    assert transition.name == "EDT"
    assert transition.daylight


def test_both_parsers_accept_vtimezone() -> None:
    text = _component("Australia/Lord_Howe", utc(2026, 1, 1), utc(2027, 1, 1))
    assert parse_with_ical(text).timezones[0].tz_id == "Australia/Lord_Howe"
    assert len(parse_with_icalendar(text).walk("VTIMEZONE")) == 1


_ZONES = sorted(zone_names())
_RANGE_START = utc(1990, 1, 1)


@settings(max_examples=60, deadline=None)
@example(timezone="Asia/Baghdad", start_day=455, length_days=1, probes=[0.0])  # range starts at an onset
@given(
    timezone=st.sampled_from(_ZONES),
    start_day=st.integers(min_value=0, max_value=365 * 45),
    length_days=st.integers(min_value=1, max_value=400),
    probes=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=20),
)
def test_vtimezone_offsets_equal_zoneinfo(
    timezone: str, start_day: int, length_days: int, probes: list[float]
) -> None:
    """For any zone and range, the VTIMEZONE read by RFC rules gives zoneinfo's offset."""
    start = _RANGE_START + timedelta(days=start_day)
    end = start + timedelta(days=length_days)
    calendar = parse_with_icalendar(_component(timezone, start, end))
    reader = VtimezoneReader(calendar.walk("VTIMEZONE")[0])
    zone = load_zone(timezone)

    instants = [start, end] + [start + (end - start) * fraction for fraction in probes]
    for observance in observances(timezone, start, end):
        if observance.utc >= start:
            instants.append(observance.utc)
        # The second before an onset is probed too, unless it falls before the range.
        if observance.utc - timedelta(seconds=1) >= start:
            instants.append(observance.utc - timedelta(seconds=1))
    for instant in instants:
        instant = instant.replace(microsecond=0)
        assert reader.offset_at(instant) == instant.astimezone(zone).utcoffset(), instant


def test_vtimezone_is_cached_and_stable() -> None:
    first = vtimezone("Europe/Berlin", utc(2026, 1, 1), utc(2026, 6, 1))
    again = vtimezone("Europe/Berlin", datetime(2026, 1, 1, tzinfo=UTC), utc(2026, 6, 1))
    assert first is again
