"""Queries: next windows, the window at an instant, the next open window, coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from planner.engine import WindowSpec, coverage, next_open_window, next_windows, parse_instant, window_at

BERLIN = WindowSpec.parse(
    timezone="Europe/Berlin",
    days_of_week="Sat",
    hour_of_day=22,
    duration_hours=4,
    embargo_dates=["2026-12-27"],
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_next_windows_skips_blocked() -> None:
    """The next open windows leave out the one the embargo blocks."""
    found = next_windows(BERLIN, utc("2026-12-13T12:00:00Z"), 3)

    assert [window.slot_date for window in found] == [date(2026, 12, 19), date(2027, 1, 2), date(2027, 1, 9)]


def test_next_windows_include_blocked() -> None:
    """With include_blocked the blocked window is listed, marked."""
    found = next_windows(BERLIN, utc("2026-12-13T12:00:00Z"), 3, include_blocked=True)

    assert [(window.slot_date, window.blocked) for window in found] == [
        (date(2026, 12, 19), False),
        (date(2026, 12, 26), True),
        (date(2027, 1, 2), False),
    ]


def test_next_windows_includes_the_current_window() -> None:
    """A window in progress at the instant counts as the next one."""
    found = next_windows(BERLIN, utc("2026-12-19T23:00:00Z"), 1)

    assert found[0].slot_date == date(2026, 12, 19)


def test_next_windows_start_rule() -> None:
    """Under the start rule the window that runs into the embargoed day stays open."""
    found = next_windows(BERLIN, utc("2026-12-20T02:00:00Z"), 1, embargo_rule="start")

    assert found[0].slot_date == date(2026, 12, 26)


def test_next_windows_zero_count() -> None:
    """Asking for no windows returns none."""
    assert next_windows(BERLIN, utc("2026-12-20T00:00:00Z"), 0) == []


def test_window_at() -> None:
    """window_at finds the open window containing an instant, and None outside or when blocked."""
    inside = window_at(BERLIN, utc("2026-12-19T23:59:59Z"))

    assert inside is not None and inside.slot_date == date(2026, 12, 19)
    assert window_at(BERLIN, utc("2026-12-20T01:00:00Z")) is None  # half-open: the end is outside
    assert window_at(BERLIN, utc("2026-12-26T22:00:00Z")) is None  # blocked


def test_next_open_window() -> None:
    """next_open_window skips windows already started and blocked ones."""
    found = next_open_window(BERLIN, utc("2026-12-19T21:00:01Z"))

    assert found is not None and found.slot_date == date(2027, 1, 2)
    at_start = next_open_window(BERLIN, utc("2026-12-19T21:00:00Z"))
    assert at_start is not None and at_start.slot_date == date(2026, 12, 19)


def test_coverage_counts_and_hours() -> None:
    """Coverage over four weeks counts open and blocked windows and open hours."""
    result = coverage(BERLIN, utc("2026-12-07T00:00:00Z"), utc("2027-01-04T00:00:00Z"))

    assert result.window_count == 4
    assert result.blocked_count == 1
    assert result.open_count == 3
    assert result.open_hours == 12
    assert result.min_open_hours_28d == 12
    # From the end of the 19 December window to the start of the 2 January one.
    assert result.longest_gap_hours == pytest.approx((utc("2027-01-02T21:00:00Z") - utc("2026-12-20T01:00:00Z")).total_seconds() / 3600)
    assert result.warnings == ()


def test_coverage_rolling_minimum() -> None:
    """The 28-day minimum finds the stretch with the fewest open hours."""
    spec = WindowSpec.parse(
        timezone="UTC", days_of_week="Sun", hour_of_day=0, duration_hours=2, embargo_dates=["2027-01-03", "2027-01-10"]
    )
    result = coverage(spec, utc("2026-12-01T00:00:00Z"), utc("2027-03-01T00:00:00Z"))

    # Any 28 days hold 4 Sundays; the worst 28 days lose 2 of them to the embargo.
    assert result.min_open_hours_28d == 4


def test_coverage_short_horizon_has_no_rolling_minimum() -> None:
    """A horizon shorter than 28 days reports no rolling minimum."""
    result = coverage(BERLIN, utc("2026-12-07T00:00:00Z"), utc("2026-12-14T00:00:00Z"))

    assert result.min_open_hours_28d is None


def test_coverage_counts_overlapping_windows_once() -> None:
    """Daily 24-hour windows overlap after spring-forward; the overlap counts once."""
    spec = WindowSpec.parse(timezone="America/New_York", hour_of_day=2, duration_hours=24)
    result = coverage(spec, utc("2026-03-01T00:00:00Z"), utc("2026-03-15T00:00:00Z"))

    assert result.open_hours == 14 * 24
    assert result.longest_gap_hours == 0


def test_coverage_warnings() -> None:
    """Warnings name a month without open windows and embargoes blocking most windows."""
    spec = WindowSpec.parse(
        timezone="UTC", days_of_week="Sun", hour_of_day=0, duration_hours=2, embargo_dates=["2027-01-01..2027-02-15"]
    )
    result = coverage(spec, utc("2027-01-01T00:00:00Z"), utc("2027-02-20T00:00:00Z"))

    assert result.warnings == (
        "no open window in the 30 days from 2027-01-01T00:00:00Z",
        "embargoes block 7 of 7 windows, more than half",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-08", "2026-03-08T05:00:00+00:00"),
        ("2026-03-08T02:30", "2026-03-08T07:30:00+00:00"),  # in the gap: moved forward
        ("2026-11-01T01:30", "2026-11-01T05:30:00+00:00"),  # in the fold: the first occurrence
        ("2026-03-08T07:00:00Z", "2026-03-08T07:00:00+00:00"),
        ("2026-03-08T09:00:00+02:00", "2026-03-08T07:00:00+00:00"),
    ],
)
def test_parse_instant(text: str, expected: str) -> None:
    """Dates and offset-less times are local to the zone; offsets are honoured."""
    zone = WindowSpec.parse(timezone="America/New_York", hour_of_day=2, duration_hours=4).zone

    assert parse_instant(text, zone).isoformat() == expected


def test_parse_instant_invalid() -> None:
    """A value that is not ISO 8601 is named with examples of valid forms."""
    with pytest.raises(ValueError, match="invalid date or date-time 'next friday'; use ISO 8601"):
        parse_instant("next friday", UTC)


def test_long_embargo_still_finds_open_window() -> None:
    """With 100 consecutive embargoed days the next open window comes after them."""
    start = date(2027, 1, 1)
    spec = WindowSpec.parse(
        timezone="UTC", hour_of_day=2, duration_hours=4, embargo_dates=[f"{start}..{start + timedelta(days=99)}"]
    )
    found = next_open_window(spec, datetime(2027, 1, 1, tzinfo=UTC))

    assert found is not None and found.slot_date == date(2027, 4, 11)


def test_short_range_has_no_thirty_day_warning() -> None:
    """A one-day range without windows warns about that range, not about a 30-day gap."""
    spec = WindowSpec.parse(timezone="America/New_York", days_of_week="Sun", hour_of_day=2, duration_hours=1)
    result = coverage(spec, utc("2026-01-05T05:00:00Z"), utc("2026-01-06T05:00:00Z"))

    assert result.warnings == ("no open window from 2026-01-05T05:00:00Z to 2026-01-06T05:00:00Z",)


def test_coverage_rejects_reversed_range() -> None:
    """An end before the start is an error, not a negative gap."""
    with pytest.raises(ValueError, match="is before start"):
        coverage(BERLIN, utc("2027-01-01T00:00:00Z"), utc("2026-12-01T00:00:00Z"))


@pytest.mark.parametrize(
    "instant",
    [datetime(1, 1, 1, tzinfo=UTC), datetime(1899, 12, 31, tzinfo=UTC), datetime(9999, 12, 20, tzinfo=UTC)],
)
def test_queries_outside_supported_range(instant: datetime) -> None:
    """Instants outside 1900 to 2199 are rejected with the supported range, never an overflow."""
    with pytest.raises(ValueError, match="outside the supported range"):
        next_open_window(BERLIN, instant)
    with pytest.raises(ValueError, match="outside the supported range"):
        next_windows(BERLIN, instant, 3)
    with pytest.raises(ValueError, match="outside the supported range"):
        coverage(BERLIN, instant, instant + timedelta(days=1))


def test_search_stops_at_last_supported_date() -> None:
    """A search near the end of the supported range returns what fits instead of overflowing."""
    found = next_windows(BERLIN, datetime(2199, 12, 1, tzinfo=UTC), 10)

    assert 0 < len(found) < 10
    assert found[-1].slot_date <= date(2199, 12, 31)


def test_embargo_on_skipped_date_blocks_nothing() -> None:
    """A date the zone skipped has no instants, so no window touches it."""
    from planner.engine import expand

    spec = WindowSpec.parse(
        timezone="Pacific/Kwajalein", hour_of_day=23.5, duration_hours=24, embargo_dates=["1993-08-21"]
    )
    found = expand(spec, utc("1993-08-18T00:00:00Z"), utc("1993-08-24T00:00:00Z"))

    assert found
    assert not any(window.blocked for window in found)
