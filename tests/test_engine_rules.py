"""Table tests for each time rule in zones with gaps, folds, odd offsets and skipped dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from planner.engine import WindowSpec, day_exists, expand, load_zone, resolve_local


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def spec(timezone: str, days: list[str] | None, hour: float, duration: float, embargo: list[str] = []) -> WindowSpec:
    return WindowSpec.parse(
        timezone=timezone,
        days_of_week=days,
        hour_of_day=hour,
        duration_hours=duration,
        embargo_dates=embargo,
    )


def windows_on(window_spec: WindowSpec, first: str, last: str, rule: str = "overlap") -> list:
    zone = window_spec.zone
    start = resolve_local(date.fromisoformat(first), 0, zone)
    end = resolve_local(date.fromisoformat(last) + timedelta(days=1), 0, zone)
    return [w for w in expand(window_spec, start, end, embargo_rule=rule) if str(w.slot_date) >= first]  # type: ignore[arg-type]


# Rule 1: the slot date is the local date the window is scheduled to start on.
@pytest.mark.parametrize(
    ("timezone", "slot", "hour", "expected_start", "expected_end"),
    [
        ("UTC", "2026-12-04", 23, "2026-12-04T23:00:00Z", "2026-12-05T01:00:00Z"),
        ("America/New_York", "2026-12-04", 23, "2026-12-05T04:00:00Z", "2026-12-05T06:00:00Z"),
        ("Europe/Berlin", "2026-12-04", 23, "2026-12-04T22:00:00Z", "2026-12-05T00:00:00Z"),
        ("Asia/Kathmandu", "2026-12-04", 23, "2026-12-04T17:15:00Z", "2026-12-04T19:15:00Z"),
        ("Australia/Lord_Howe", "2026-12-04", 23, "2026-12-04T12:00:00Z", "2026-12-04T14:00:00Z"),
        ("America/Santiago", "2026-12-04", 23, "2026-12-05T02:00:00Z", "2026-12-05T04:00:00Z"),
        ("Pacific/Apia", "2026-12-04", 23, "2026-12-04T10:00:00Z", "2026-12-04T12:00:00Z"),
    ],
)
def test_friday_window_runs_into_saturday(timezone: str, slot: str, hour: float, expected_start: str, expected_end: str) -> None:
    """A Friday 23:00 window of 2 hours belongs to Friday and runs into Saturday, which is not allowed."""
    found = windows_on(spec(timezone, ["Friday"], hour, 2), "2026-11-30", "2026-12-06")

    assert [w.slot_date for w in found] == [date.fromisoformat(slot)]
    assert found[0].start == utc(expected_start)
    assert found[0].end == utc(expected_end)
    assert found[0].local_end.date() == date(2026, 12, 5)


# Rule 2: gaps move forward by the gap's length, folds take the first occurrence.
@pytest.mark.parametrize(
    ("timezone", "slot", "hour", "expected_start", "expected_local"),
    [
        # Gaps.
        ("America/New_York", "2026-03-08", 2.5, "2026-03-08T07:30:00Z", "2026-03-08T03:30:00-04:00"),
        ("Europe/Berlin", "2026-03-29", 2, "2026-03-29T01:00:00Z", "2026-03-29T03:00:00+02:00"),
        ("Australia/Lord_Howe", "2026-10-04", 2.25, "2026-10-03T15:45:00Z", "2026-10-04T02:45:00+11:00"),
        ("America/Santiago", "2026-09-06", 0.5, "2026-09-06T04:30:00Z", "2026-09-06T01:30:00-03:00"),
        # Folds.
        ("America/New_York", "2026-11-01", 1.5, "2026-11-01T05:30:00Z", "2026-11-01T01:30:00-04:00"),
        ("Europe/Berlin", "2026-10-25", 2.5, "2026-10-25T00:30:00Z", "2026-10-25T02:30:00+02:00"),
        ("Australia/Lord_Howe", "2026-04-05", 1.75, "2026-04-04T14:45:00Z", "2026-04-05T01:45:00+11:00"),
        ("America/Santiago", "2026-04-04", 23.5, "2026-04-05T02:30:00Z", "2026-04-04T23:30:00-03:00"),
        # No transition at all.
        ("Asia/Kathmandu", "2026-03-29", 2, "2026-03-28T20:15:00Z", "2026-03-29T02:00:00+05:45"),
        ("UTC", "2026-03-29", 2, "2026-03-29T02:00:00Z", "2026-03-29T02:00:00+00:00"),
    ],
)
def test_start_in_gap_and_fold(timezone: str, slot: str, hour: float, expected_start: str, expected_local: str) -> None:
    """The local start resolves by RFC 5545 in a gap and to the first occurrence in a fold."""
    day = date.fromisoformat(slot)
    found = windows_on(spec(timezone, None, hour, 1), slot, slot)
    window = next(w for w in found if w.slot_date == day)

    assert window.start == utc(expected_start)
    assert window.local_start.isoformat() == expected_local


def test_skipped_date_has_no_window() -> None:
    """Samoa skipped 30 December 2011, so that slot date has no window and no other is doubled."""
    apia = spec("Pacific/Apia", None, 2, 1)
    start = utc("2011-12-27T00:00:00Z")
    found = expand(apia, start, start + timedelta(days=6))
    slots = [w.slot_date for w in found]

    assert date(2011, 12, 30) not in slots
    assert date(2011, 12, 29) in slots
    assert date(2011, 12, 31) in slots
    assert len({w.start for w in found}) == len(found)
    assert not day_exists(date(2011, 12, 30), load_zone("Pacific/Apia"))
    assert day_exists(date(2011, 12, 31), load_zone("Pacific/Apia"))


def test_gap_never_moves_window_backwards() -> None:
    """Every start in a spring-forward week is at or after its slot's wall time."""
    for timezone in ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago"):
        for minute in range(0, 24 * 60, 15):
            found = expand(spec(timezone, None, minute / 60, 1), utc("2026-03-01T00:00:00Z"), utc("2026-10-10T00:00:00Z"))
            for window in found:
                wall = datetime.combine(window.slot_date, datetime.min.time()) + timedelta(minutes=minute)
                assert window.local_start.replace(tzinfo=None) >= wall


# Rule 3: the end is the start plus the duration in elapsed hours.
@pytest.mark.parametrize(
    ("timezone", "slot", "expected_local_end"),
    [
        ("America/New_York", "2026-03-07", "2026-03-08T07:00:00-04:00"),  # 9 wall-clock hours
        ("America/New_York", "2026-10-31", "2026-11-01T05:00:00-05:00"),  # 7 wall-clock hours
        ("Europe/Berlin", "2026-03-28", "2026-03-29T07:00:00+02:00"),
        ("Europe/Berlin", "2026-10-24", "2026-10-25T05:00:00+01:00"),
        ("Australia/Lord_Howe", "2026-10-03", "2026-10-04T06:30:00+11:00"),
        ("UTC", "2026-10-24", "2026-10-25T06:00:00+00:00"),
    ],
)
def test_end_is_elapsed_duration(timezone: str, slot: str, expected_local_end: str) -> None:
    """An 8-hour window from 22:00 lasts 8 elapsed hours even when the clocks change inside it."""
    found = windows_on(spec(timezone, None, 22, 8), slot, slot)
    window = next(w for w in found if w.slot_date == date.fromisoformat(slot))

    assert window.end - window.start == timedelta(hours=8)
    assert window.local_end.isoformat() == expected_local_end


# Rule 4: embargoed days are whole local days; overlap and start rules; half-open windows.
@pytest.mark.parametrize(
    ("timezone", "slot", "hour", "duration", "embargo", "overlap_blocked", "start_blocked"),
    [
        # Ends exactly at the embargoed day's first instant: not blocked.
        ("Europe/Berlin", "2026-03-28", 23, 1, "2026-03-29", False, False),
        ("Europe/Berlin", "2026-03-28", 23, 1.5, "2026-03-29", True, False),
        # The 23-hour day 2026-03-29 ends at 22:00Z; a window starting then is not blocked.
        ("Europe/Berlin", "2026-03-30", 0, 1, "2026-03-29", False, False),
        ("Europe/Berlin", "2026-03-29", 23, 1, "2026-03-29", True, True),
        # The 25-hour day 2026-10-25 still covers its late evening.
        ("Europe/Berlin", "2026-10-25", 23.5, 1, "2026-10-25", True, True),
        # Santiago's 2026-09-06 starts at 01:00 local, because midnight does not exist.
        ("America/Santiago", "2026-09-05", 23, 1, "2026-09-06", False, False),
        ("America/Santiago", "2026-09-05", 23, 1.5, "2026-09-06", True, False),
        ("Asia/Kathmandu", "2026-12-24", 22, 4, "2026-12-25", True, False),
        ("Asia/Kathmandu", "2026-12-25", 0, 1, "2026-12-25", True, True),
        ("UTC", "2026-12-24", 22, 2, "2026-12-25", False, False),
        ("UTC", "2026-12-24", 22, 3, "2026-12-25", True, False),
        ("Australia/Lord_Howe", "2026-10-03", 23, 1.5, "2026-10-04", True, False),
        ("America/New_York", "2026-11-01", 1, 2, "2026-11-01", True, True),
        ("Pacific/Apia", "2026-12-31", 20, 8, "2027-01-01", True, False),
    ],
)
def test_embargo_rules(
    timezone: str, slot: str, hour: float, duration: float, embargo: str, overlap_blocked: bool, start_blocked: bool
) -> None:
    """The overlap rule blocks any touch of an embargoed local day; the start rule only its slot date."""
    window_spec = spec(timezone, None, hour, duration, [embargo])
    slot_date = date.fromisoformat(slot)

    by_overlap = next(w for w in windows_on(window_spec, slot, slot, "overlap") if w.slot_date == slot_date)
    by_start = next(w for w in windows_on(window_spec, slot, slot, "start") if w.slot_date == slot_date)

    assert by_overlap.blocked is overlap_blocked
    assert by_start.blocked is start_blocked
    expected_dates = (date.fromisoformat(embargo),)
    assert by_overlap.embargo_dates == (expected_dates if overlap_blocked else ())
    assert by_start.embargo_dates == (expected_dates if start_blocked else ())


def test_window_over_two_embargoed_days_names_both() -> None:
    """A 24-hour window across two embargoed days reports both dates."""
    window_spec = spec("Europe/Berlin", ["Thursday"], 12, 24, ["2026-12-24", "2026-12-25"])
    found = windows_on(window_spec, "2026-12-24", "2026-12-24")

    assert found[0].blocked
    assert found[0].embargo_dates == (date(2026, 12, 24), date(2026, 12, 25))


def test_range_is_half_open() -> None:
    """A window ending at the range's start, or starting at its end, is outside the range."""
    window_spec = spec("UTC", None, 2, 2)
    found = expand(window_spec, utc("2026-12-04T04:00:00Z"), utc("2026-12-05T02:00:00Z"))

    assert found == []


def test_range_needs_aware_instants() -> None:
    """A naive datetime is rejected with a message naming it."""
    with pytest.raises(ValueError, match="has no UTC offset"):
        expand(spec("UTC", None, 2, 2), datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC))


def test_unknown_embargo_rule() -> None:
    """An embargo rule other than overlap or start is rejected with the accepted values."""
    with pytest.raises(ValueError, match="use 'overlap' or 'start'"):
        expand(spec("UTC", None, 2, 2), utc("2026-01-01T00:00:00Z"), utc("2026-02-01T00:00:00Z"), embargo_rule="end")  # type: ignore[arg-type]
