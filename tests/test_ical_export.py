"""Calendar export checked with independent parsers (`ical`, `icalendar`, `recurring-ical-events`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ical_fixtures import (
    connector_object,
    content_lines,
    engine_pairs,
    ical_occurrences,
    open_occurrences,
    parse_with_ical,
    parse_with_icalendar,
    utc,
    vtimezones,
)

import planner
from planner.engine import DAY_NAMES, WindowSpec, expand
from planner.ical import (
    ConnectorDataError,
    ExportOptions,
    SnapshotError,
    connector_calendar,
    fleet_calendar,
    parse_snapshot,
    read_snapshot,
    sequence_of,
    spec_calendar,
)

# Specs whose windows meet every hard case: DST gaps and folds at the start and at the end,
# 30- and 45-minute offsets, a 30-minute DST change, and windows that run past midnight.
CASES: dict[str, dict[str, Any]] = {
    "new-york-gap-and-fold": {
        "timezone": "America/New_York", "days_of_week": "Sun", "hour_of_day": 1.5, "duration_hours": 1.5,
        "embargo_dates": ["2026-07-05"],
    },
    "new-york-start-in-gap": {
        "timezone": "America/New_York", "days_of_week": "Sat-Mon", "hour_of_day": 2.5, "duration_hours": 2,
        "embargo_dates": ["2026-03-09", "2026-11-01"],
    },
    "new-york-end-in-fold": {
        "timezone": "America/New_York", "days_of_week": None, "hour_of_day": 0.5, "duration_hours": 1.5,
    },
    "berlin-across-midnight": {
        "timezone": "Europe/Berlin", "days_of_week": "Sat", "hour_of_day": 22, "duration_hours": 4,
        "embargo_dates": ["2026-12-27", "2026-06-14", "2026-03-29"],
    },
    "berlin-start-in-gap": {
        "timezone": "Europe/Berlin", "days_of_week": "Sun", "hour_of_day": 2.25, "duration_hours": 3,
    },
    "lord-howe-half-hour-dst": {
        "timezone": "Australia/Lord_Howe", "days_of_week": "Sun", "hour_of_day": 2.25, "duration_hours": 1,
        "embargo_dates": ["2026-10-11"],
    },
    "lord-howe-fold": {
        "timezone": "Australia/Lord_Howe", "days_of_week": "Sun", "hour_of_day": 1.75, "duration_hours": 1,
    },
    "kathmandu-45-minutes": {
        "timezone": "Asia/Kathmandu", "days_of_week": "Mon", "hour_of_day": 2, "duration_hours": 1,
    },
    "kolkata-across-midnight": {
        "timezone": "Asia/Kolkata", "days_of_week": "Mon-Fri", "hour_of_day": 23.5, "duration_hours": 3,
        "embargo_dates": ["2026-08-14..2026-08-16"],
    },
}

START = utc(2026, 1, 1)
END = utc(2027, 1, 1)


def _spec(name: str) -> WindowSpec:
    return WindowSpec.parse(**CASES[name])


def _options(**settings: Any) -> ExportOptions:
    return ExportOptions(start=START, end=END, **settings)


@pytest.mark.parametrize("include_blocked", [False, True], ids=["open", "with-blocked"])
@pytest.mark.parametrize("recurrence", ["expanded", "rrule"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_occurrences_equal_engine(case: str, recurrence: str, include_blocked: bool) -> None:
    """recurring-ical-events expands the export to exactly the engine's open windows."""
    spec = _spec(case)
    options = _options(recurrence=recurrence, include_blocked=include_blocked)
    text = spec_calendar(spec, options).text

    windows = expand(spec, START, END)
    assert ical_occurrences(text, START, END) == engine_pairs(windows)

    # NOTE: recurring-ical-events 3.8 adds an event's length to the wall time, so an end in the
    # second pass through a fold comes out an hour late. Those ends are compared by `ical` above
    # and by test_end_in_fold_written_in_utc. Every start is compared here.
    peer = open_occurrences(text, START, END)
    open_windows = [window for window in windows if not window.blocked]
    assert [start for start, _ in peer] == [window.start for window in open_windows]
    assert [
        end for (_, end), window in zip(peer, open_windows, strict=True) if not window.local_end.fold
    ] == [window.end for window in open_windows if not window.local_end.fold]


@pytest.mark.parametrize("recurrence", ["expanded", "rrule"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_both_parsers_accept_export(case: str, recurrence: str) -> None:
    text = spec_calendar(_spec(case), _options(recurrence=recurrence, include_blocked=True)).text
    assert parse_with_ical(text).prodid.startswith("-//planner//")
    assert parse_with_icalendar(text)["VERSION"] == "2.0"


@pytest.mark.parametrize("case", sorted(CASES))
def test_vtimezone_offset_at_every_window_start(case: str) -> None:
    spec = _spec(case)
    text = spec_calendar(spec, _options(include_blocked=True)).text
    reader = vtimezones(text)[spec.timezone]
    for window in expand(spec, START, END):
        expected = window.start.astimezone(spec.zone).utcoffset()
        assert reader.offset_at(window.start) == expected, window.start
        assert reader.offset_at(window.end) == window.end.astimezone(spec.zone).utcoffset()


def test_windows_json_cases_exported() -> None:
    """Every worked case's windows come back from the export at the same local and UTC times."""
    cases = json.loads((Path(__file__).parent / "data" / "windows.json").read_text())
    for case in cases:
        given = case["spec"]
        spec = WindowSpec.parse(
            timezone=given["timezone"],
            days_of_week=given["days"],
            hour_of_day=given["hour"],
            duration_hours=given["duration"],
            embargo_dates=given["embargo"],
        )
        start = datetime.fromisoformat(case["from"])
        end = datetime.fromisoformat(case["until"])
        options = ExportOptions(
            start=start, end=end, embargo_rule=given.get("embargo_rule", "overlap")
        )
        text = spec_calendar(spec, options).text
        expected = [
            (
                datetime.fromisoformat(window["start"]),
                datetime.fromisoformat(window["end"]),
            )
            for window in case["windows"]
            if not window["blocked"]
        ]
        assert open_occurrences(text, start, end) == expected, case["name"]


@pytest.mark.parametrize("recurrence", ["expanded", "rrule"])
def test_skipped_date_has_no_occurrence(recurrence: str) -> None:
    """Pacific/Apia skipped 2011-12-30, so no series may list that date."""
    spec = WindowSpec.parse(timezone="Pacific/Apia", hour_of_day=10, duration_hours=2)
    start, end = utc(2011, 12, 20), utc(2012, 1, 10)
    text = spec_calendar(spec, ExportOptions(start=start, end=end, recurrence=recurrence)).text

    windows = expand(spec, start, end)
    assert "2011-12-30" not in {window.slot_date.isoformat() for window in windows}
    assert ical_occurrences(text, start, end) == engine_pairs(windows)
    assert open_occurrences(text, start, end) == engine_pairs(windows)


def test_rrule_gap_window_own_event() -> None:
    spec = _spec("new-york-start-in-gap")
    export = spec_calendar(spec, _options(recurrence="rrule"))
    lines = content_lines(export.text)
    assert "DTSTART;TZID=America/New_York:20260308T033000" in lines
    assert any("2026-03-08 02:30 does not exist in America/New_York" in w for w in export.warnings)

    # No RRULE spans the gap day, so no client has to decide what a nonexistent instance means.
    calendar = parse_with_icalendar(export.text)
    for event in calendar.walk("VEVENT"):
        if "RRULE" in event:
            first = event["DTSTART"].dt
            until = event["RRULE"]["UNTIL"][0]
            assert not first.astimezone(UTC) <= utc(2026, 3, 8, 7, 30) <= until


def test_exdate_matches_blocked_instance_start() -> None:
    spec = _spec("berlin-across-midnight")
    text = spec_calendar(spec, _options(recurrence="rrule")).text
    blocked = [window for window in expand(spec, START, END) if window.blocked]
    assert [window.slot_date.isoformat() for window in blocked] == [
        "2026-03-28",
        "2026-06-13",
        "2026-12-26",
    ]

    # Only 2026-06-13 is inside a series: the window of 2026-03-28 spans the change to summer
    # time, so it is an event of its own, and 2026-12-26 is trimmed from the end of a series.
    exdates = [line for line in content_lines(text) if line.startswith("EXDATE")]
    assert exdates == ["EXDATE;TZID=Europe/Berlin:20260613T220000"]


def test_blocked_window_cancelled_with_embargo_dates() -> None:
    spec = _spec("berlin-across-midnight")
    for recurrence in ("expanded", "rrule"):
        calendar = parse_with_icalendar(
            spec_calendar(spec, _options(recurrence=recurrence, include_blocked=True)).text
        )
        cancelled = [
            event for event in calendar.walk("VEVENT") if event.get("STATUS") == "CANCELLED"
        ]
        assert len(cancelled) == 3, recurrence
        assert "Blocked by embargo dates: 2026-12-27" in str(cancelled[-1]["DESCRIPTION"])


def test_blocked_windows_left_out_by_default() -> None:
    text = spec_calendar(_spec("berlin-across-midnight"), _options()).text
    assert "STATUS:CANCELLED" not in text
    assert "20261226T220000" not in text


def test_end_in_fold_written_in_utc() -> None:
    """A local end in the repeated hour would be read as its first pass, so it is written in UTC."""
    spec = _spec("new-york-end-in-fold")
    text = spec_calendar(spec, ExportOptions(start=utc(2026, 11, 1), end=utc(2026, 11, 2))).text
    lines = content_lines(text)
    assert "DTSTART;TZID=America/New_York:20261101T003000" in lines
    assert "DTEND:20261101T060000Z" in lines


def test_calendar_properties() -> None:
    text = connector_calendar(connector_object(), _options()).text
    lines = content_lines(text)
    assert lines[:4] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//planner//Interrupt windows {planner.__version__}//EN",
        "CALSCALE:GREGORIAN",
    ]
    assert "NAME:Interrupt windows: Berlin edge\\, rack 4" in lines
    assert "X-WR-CALNAME:Interrupt windows: Berlin edge\\, rack 4" in lines
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
    assert "X-PUBLISHED-TTL:PT1H" in lines
    assert not any(line.startswith(("X-WR-TIMEZONE", "METHOD")) for line in lines)


def test_every_line_short_and_crlf() -> None:
    text = connector_calendar(connector_object(notes="Zürich – Bahnhofstraße " * 8), _options()).text
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.encode("utf-8").split(b"\r\n"):
        assert len(line) <= 75


def test_event_fields_from_connector() -> None:
    text = connector_calendar(connector_object(), _options()).text
    calendar = parse_with_icalendar(text)
    event = calendar.walk("VEVENT")[0]
    assert event["DTSTAMP"].dt == utc(2026, 11, 1, 10)
    assert event["LAST-MODIFIED"].dt == utc(2026, 11, 1, 10)
    assert event["SEQUENCE"] == sequence_of(utc(2026, 11, 1, 10))
    assert str(event["SUMMARY"]) == "Interrupt window: Berlin edge, rack 4"
    description = str(event["DESCRIPTION"])
    for fact in (
        "Connector: 0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "Site: site-berlin",
        "Window: Sat, Sun at 02:00 for 4 h (Europe/Berlin)",
        "Local: 2026-01-03 02:00 CET (+01:00) to 2026-01-03 06:00 CET (+01:00)",
        "UTC: 2026-01-03 01:00 to 2026-01-03 05:00",
        "tzdata: ",
    ):
        assert fact in description
    assert event["TRANSP"] == "TRANSPARENT"


def test_uid_stable_when_range_moves() -> None:
    first = parse_with_icalendar(connector_calendar(connector_object(), _options()).text)
    later = parse_with_icalendar(
        connector_calendar(
            connector_object(), ExportOptions(start=utc(2026, 6, 1), end=utc(2027, 6, 1))
        ).text
    )

    def uids(calendar: Any) -> dict[str, str]:
        return {
            str(event["UID"]): event["DTSTART"].dt.date().isoformat()
            for event in calendar.walk("VEVENT")
        }

    first_uids, later_uids = uids(first), uids(later)
    shared = first_uids.keys() & later_uids.keys()
    assert len(shared) > 50
    assert all(first_uids[uid] == later_uids[uid] for uid in shared)
    assert len(first_uids) == len(first.walk("VEVENT"))


def test_sequence_grows_when_connector_changes() -> None:
    before = connector_object(last_updated="2026-11-01T10:00:00Z")
    after = connector_object(last_updated="2026-11-01T10:00:01Z", interrupt_window_hour_of_day=3)

    def sequence(data: dict[str, Any]) -> int:
        event = parse_with_icalendar(connector_calendar(data, _options()).text).walk("VEVENT")[0]
        return int(event["SEQUENCE"])

    assert sequence(after) > sequence(before) > 0


def test_output_byte_identical() -> None:
    connectors = [
        connector_object(id=f"c{number:02d}", timezone=zone, site_id=f"site-{number % 3}")
        for number, zone in enumerate(
            ["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"] * 3
        )
    ]
    for recurrence in ("expanded", "rrule"):
        options = _options(recurrence=recurrence, include_blocked=True)
        first = fleet_calendar(connectors, options).to_bytes()
        again = fleet_calendar(list(reversed(connectors)), options).to_bytes()
        assert first == again
        assert first.count(b"BEGIN:VTIMEZONE") == 4


def test_spec_calendar_stamp_is_range_start() -> None:
    text = spec_calendar(_spec("kathmandu-45-minutes"), _options()).text
    lines = content_lines(text)
    assert "DTSTAMP:20260101T000000Z" in lines
    assert not any(line.startswith("LAST-MODIFIED") for line in lines)


def test_range_without_windows_keeps_vtimezone() -> None:
    """A calendar needs one component, so the zone stays when no window falls in the range."""
    spec = WindowSpec.parse(timezone="Europe/Berlin", days_of_week="Sat", hour_of_day=2, duration_hours=1)
    text = spec_calendar(spec, ExportOptions(start=utc(2026, 1, 5), end=utc(2026, 1, 6))).text
    assert "BEGIN:VEVENT" not in text
    assert "TZID:Europe/Berlin" in content_lines(text)
    assert parse_with_ical(text).events == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": None}, "has no 'id'"),
        ({"timezone": "Europe/Berln"}, "'Europe/Berlin'"),
        ({"last_updated": "yesterday"}, "is not an ISO 8601 date-time"),
        ({"site_id": 7}, "'site_id' must be a string"),
    ],
)
def test_invalid_connector_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConnectorDataError, match=message):
        connector_calendar(connector_object(**fields), _options())


def test_repeated_connector_id_rejected() -> None:
    with pytest.raises(ConnectorDataError, match="appears more than once"):
        fleet_calendar([connector_object(), connector_object()], _options())


def test_options_reject_naive_and_empty_range() -> None:
    with pytest.raises(ValueError, match="has no UTC offset"):
        ExportOptions(start=datetime(2026, 1, 1), end=END)
    with pytest.raises(ValueError, match="is not after start"):
        ExportOptions(start=END, end=START)
    with pytest.raises(ValueError, match="unknown recurrence"):
        ExportOptions(start=START, end=END, recurrence="weekly")  # type: ignore[arg-type]


def test_snapshot_envelope_and_bare_list(tmp_path: Path) -> None:
    connectors = [connector_object(id="a"), connector_object(id="b")]
    envelope = {"success": True, "errors": [], "messages": [], "result": connectors}
    assert parse_snapshot(envelope) == connectors
    assert parse_snapshot(connectors) == connectors
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(envelope))
    assert read_snapshot(path) == connectors


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}, "error response"),
        ({"connectors": []}, "without 'result'"),
        ({"success": True, "result": {"id": "a"}}, "must be a JSON list"),
        ([1, 2], "item 0 of the snapshot is a int"),
    ],
)
def test_invalid_snapshot_rejected(data: object, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        parse_snapshot(data)


def test_unreadable_snapshot_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("[{")
    with pytest.raises(SnapshotError, match="broken.json' is not valid JSON"):
        read_snapshot(path)
    with pytest.raises(SnapshotError, match="No such file"):
        read_snapshot(tmp_path / "missing.json")


def test_long_range_keeps_offsets() -> None:
    """A long range keeps each zone's offset right for windows far from its start."""
    spec = _spec("lord-howe-half-hour-dst")
    start, end = utc(2026, 1, 1), utc(2029, 1, 1)
    text = spec_calendar(spec, ExportOptions(start=start, end=end, recurrence="rrule")).text
    assert open_occurrences(text, start, end) == engine_pairs(expand(spec, start, end))
    # The last change before the range, then two changes a year for three years.
    assert len(parse_with_icalendar(text).walk("VTIMEZONE")[0].subcomponents) == 7


_PROPERTY_ZONES = [
    "America/New_York",
    "America/Santiago",
    "America/St_Johns",
    "Europe/Berlin",
    "Europe/London",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
]


@settings(max_examples=40, deadline=None)
@given(
    timezone=st.sampled_from(_PROPERTY_ZONES),
    days=st.sets(st.sampled_from(DAY_NAMES), min_size=1),
    start_minute=st.integers(min_value=0, max_value=24 * 4 - 1).map(lambda quarter: quarter * 15),
    duration_minutes=st.integers(min_value=4, max_value=96).map(lambda quarter: quarter * 15),
    offsets=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
    start_day=st.integers(min_value=0, max_value=3 * 365),
    recurrence=st.sampled_from(["expanded", "rrule"]),
    include_blocked=st.booleans(),
)
def test_any_spec_round_trips_through_ical(
    timezone: str,
    days: set[str],
    start_minute: int,
    duration_minutes: int,
    offsets: list[int],
    start_day: int,
    recurrence: str,
    include_blocked: bool,
) -> None:
    """For any spec and range, `ical` expands the export to the engine's open windows."""
    start = utc(2026, 1, 1) + timedelta(days=start_day)
    end = start + timedelta(days=120)
    spec = WindowSpec.parse(
        timezone=timezone,
        days_of_week=sorted(days),
        hour_of_day=start_minute / 60,
        duration_hours=duration_minutes / 60,
        embargo_dates=[(start + timedelta(days=offset)).date() for offset in offsets],
    )
    options = ExportOptions(
        start=start, end=end, recurrence=recurrence, include_blocked=include_blocked  # type: ignore[arg-type]
    )
    text = spec_calendar(spec, options).text

    windows = expand(spec, start, end)
    assert ical_occurrences(text, start, end) == engine_pairs(windows)
    assert [begin for begin, _ in open_occurrences(text, start, end)] == [
        window.start for window in windows if not window.blocked
    ]
