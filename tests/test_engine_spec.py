"""Window spec: construction, validation messages, and the API's field format."""

from __future__ import annotations

from datetime import date

import pytest

from planner.engine import DAY_NAMES, SpecError, WindowSpec

CONNECTOR = {
    "id": "c1",
    "notes": "branch-oslo",
    "activated": True,
    "last_updated": "2026-11-30T10:00:00Z",
    "timezone": "Europe/Oslo",
    "interrupt_window_hour_of_day": 2.5,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_days_of_week": ["Saturday", "Sunday"],
    "interrupt_window_embargo_dates": ["2026-12-26", "2026-12-24", "2026-12-24"],
    "primary": True,
}


def problems(**fields: object) -> list[str]:
    arguments = {"timezone": "UTC", "hour_of_day": 2, "duration_hours": 4} | fields
    with pytest.raises(SpecError) as caught:
        WindowSpec.parse(**arguments)  # type: ignore[arg-type]
    return [str(problem) for problem in caught.value.problems]


def test_from_api_connector() -> None:
    """A connector object becomes a spec with sorted, unique embargo dates."""
    spec = WindowSpec.from_api(CONNECTOR)

    assert spec.timezone == "Europe/Oslo"
    assert spec.days_of_week == ("Sunday", "Saturday")
    assert spec.hour_of_day == 2.5
    assert spec.duration_hours == 4
    assert spec.embargo_dates == (date(2026, 12, 24), date(2026, 12, 26))


def test_from_api_envelope() -> None:
    """The API's response envelope is unwrapped."""
    envelope = {"success": True, "errors": [], "messages": [], "result": CONNECTOR}

    assert WindowSpec.from_api(envelope) == WindowSpec.from_api(CONNECTOR)


def test_from_api_list_envelope_rejected() -> None:
    """A list response is rejected with a message naming it as not one connector."""
    envelope = {"success": True, "errors": [], "messages": [], "result": [CONNECTOR]}

    with pytest.raises(SpecError, match="not one connector object"):
        WindowSpec.from_api(envelope)


def test_from_api_missing_fields() -> None:
    """Every missing required field is named."""
    with pytest.raises(SpecError) as caught:
        WindowSpec.from_api({"id": "c1"})

    assert [problem.field for problem in caught.value.problems] == [
        "timezone",
        "interrupt_window_hour_of_day",
        "interrupt_window_duration_hours",
    ]


def test_from_api_empty_days_means_all() -> None:
    """The API documents an empty or missing day list as every day."""
    assert WindowSpec.from_api(CONNECTOR | {"interrupt_window_days_of_week": []}).days_of_week == DAY_NAMES
    without_days = {key: value for key, value in CONNECTOR.items() if key != "interrupt_window_days_of_week"}
    assert WindowSpec.from_api(without_days).days_of_week == DAY_NAMES


def test_to_api_fields() -> None:
    """to_api gives the exact request fields, days in Sunday-to-Saturday order, numbers as numbers."""
    spec = WindowSpec.parse(
        timezone="Asia/Kathmandu",
        days_of_week="sat, Mon-Tue, sunday",
        hour_of_day=22,
        duration_hours=1.5,
        embargo_dates=["2027-01-02", "2026-12-31..2027-01-01"],
    )

    assert spec.to_api() == {
        "timezone": "Asia/Kathmandu",
        "interrupt_window_days_of_week": ["Sunday", "Monday", "Tuesday", "Saturday"],
        "interrupt_window_hour_of_day": 22,
        "interrupt_window_duration_hours": 1.5,
        "interrupt_window_embargo_dates": ["2026-12-31", "2027-01-01", "2027-01-02"],
    }
    assert isinstance(spec.to_api()["interrupt_window_hour_of_day"], int)


def test_round_trip_through_api() -> None:
    """from_api(to_api()) gives back an equal spec."""
    spec = WindowSpec.from_api(CONNECTOR)

    assert WindowSpec.from_api(spec.to_api()) == spec


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("Mon-Fri", ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")),
        ("Fri-Mon", ("Sunday", "Monday", "Friday", "Saturday")),
        (["SAT", "sun"], ("Sunday", "Saturday")),
        (["Wednesday", "wed"], ("Wednesday",)),
        ("Sun-Sun", ("Sunday",)),
        ("Mon - Wed", ("Monday", "Tuesday", "Wednesday")),
    ],
)
def test_day_forms(days: object, expected: tuple[str, ...]) -> None:
    """Names, abbreviations and wrapping ranges in any case normalise to the API's day names."""
    spec = WindowSpec.parse(timezone="UTC", days_of_week=days, hour_of_day=2, duration_hours=4)  # type: ignore[arg-type]

    assert spec.days_of_week == expected


def test_empty_days_typed_by_user() -> None:
    """An empty day list typed by a user is rejected with a request for a day."""
    assert problems(days_of_week=[]) == [
        "days_of_week: no day given; name at least one, such as 'Sat', 'Saturday' or 'Mon-Fri'"
    ]
    assert problems(days_of_week="") == problems(days_of_week=[])


def test_invalid_day() -> None:
    """A day that is neither a name, an abbreviation nor a range is named in the message."""
    assert problems(days_of_week=["Sat", "Sonntag", "Mon-Funday"]) == [
        "days_of_week: invalid day 'Sonntag'; use a day name (Monday), its three-letter abbreviation (Mon) or a range (Mon-Fri)",
        "days_of_week: invalid day 'Mon-Funday'; use a day name (Monday), its three-letter abbreviation (Mon) or a range (Mon-Fri)",
    ]


@pytest.mark.parametrize(
    ("hour", "message"),
    [
        (2.3333, "hour_of_day: 2.3333 is not a whole minute; use a multiple of 1/60, such as 2.25 for 02:15"),
        (24, "hour_of_day: 24 is out of range; use 0 <= hour < 24, the latest start being 23:59"),
        (-1, "hour_of_day: -1 is out of range; use 0 <= hour < 24, the latest start being 23:59"),
        (23.9999999999, "hour_of_day: 23.9999999999 rounds to 24:00; use 0 <= hour < 24, the latest start being 23:59"),
        ("2", "hour_of_day: '2' is not a number; use hours from 0 up to 24, exclusive (2.5 is 02:30)"),
        (True, "hour_of_day: True is not a number; use hours from 0 up to 24, exclusive (2.5 is 02:30)"),
        (float("nan"), "hour_of_day: nan is not a number; use hours from 0 up to 24, exclusive (2.5 is 02:30)"),
    ],
)
def test_invalid_hour(hour: object, message: str) -> None:
    """An hour outside [0, 24) or off a whole minute is rejected with the fix."""
    assert problems(hour_of_day=hour) == [message]


@pytest.mark.parametrize("hour", [0, 2.25, 23.75, 1 / 3, 23 + 59 / 60])
def test_valid_hour(hour: float) -> None:
    """Hours at whole minutes are accepted, including float thirds."""
    spec = WindowSpec.parse(timezone="UTC", hour_of_day=hour, duration_hours=1)

    assert spec.start_minute == round(hour * 60)


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        (0.5, "duration_hours: 0.5 is out of range; use 1 to 24 hours"),
        (24.5, "duration_hours: 24.5 is out of range; use 1 to 24 hours"),
        (1.001, "duration_hours: 1.001 is not a whole minute; use a multiple of 1/60, such as 1.5 for 90 minutes"),
        (None, "duration_hours: None is not a number; use hours from 1 to 24"),
    ],
)
def test_invalid_duration(duration: object, message: str) -> None:
    """A duration outside 1 to 24 hours or off a whole minute is rejected with the fix."""
    assert problems(duration_hours=duration) == [message]


def test_unknown_zone_suggests_close_names() -> None:
    """A misspelt zone suggests the zone that was meant."""
    [message] = problems(timezone="Europe/Berln")

    assert message.startswith("timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'")


def test_zone_in_wrong_case_suggests_the_right_one() -> None:
    """IANA names are case-sensitive; the right spelling is suggested."""
    assert problems(timezone="europe/berlin") == [
        "timezone: unknown time zone 'europe/berlin'; did you mean 'Europe/Berlin'?"
    ]


def test_zone_with_no_close_name() -> None:
    """A name with nothing close gets examples of valid names."""
    assert problems(timezone="../../etc/passwd") == [
        "timezone: unknown time zone '../../etc/passwd'; use an IANA name such as 'Europe/Berlin' or 'America/New_York'"
    ]


def test_windows_zone_name_mapped_with_warning() -> None:
    """A Windows zone name is accepted as its IANA zone, with a warning."""
    spec = WindowSpec.parse(timezone="W. Europe Standard Time", hour_of_day=2, duration_hours=4)

    assert spec.timezone == "Europe/Berlin"
    assert spec.warnings == (
        "timezone 'W. Europe Standard Time' is a Windows zone name; using its IANA name 'Europe/Berlin'",
    )


def test_embargo_forms() -> None:
    """Single dates, inclusive ranges and date objects combine, sorted and unique."""
    spec = WindowSpec.parse(
        timezone="UTC",
        hour_of_day=2,
        duration_hours=4,
        embargo_dates=["2026-12-24..2026-12-26", date(2026, 12, 25), "2027-01-01"],
    )

    assert spec.embargo_dates == (date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1))


@pytest.mark.parametrize(
    ("embargo", "message"),
    [
        ("2026-02-30", "embargo_dates: '2026-02-30' is not a calendar date; check the month and day"),
        ("2026-2-3", "embargo_dates: '2026-2-3' is not a date; use YYYY-MM-DD or an inclusive range START..END"),
        ("20261224", "embargo_dates: '20261224' is not a date; use YYYY-MM-DD or an inclusive range START..END"),
        (
            "2026-12-26..2026-12-24",
            "embargo_dates: range '2026-12-26..2026-12-24' ends before it starts; write it as '2026-12-24..2026-12-26'",
        ),
        ("2026-01-01..2026-12-31", "embargo_dates: range '2026-01-01..2026-12-31' covers 365 days; the API accepts at most 100 dates"),
        (24, "embargo_dates: 24 is not a date; use 'YYYY-MM-DD' or an inclusive range 'START..END'"),
        ("２０２６-12-24", "embargo_dates: '２０２６-12-24' is not a date; use YYYY-MM-DD or an inclusive range START..END"),
        ("..", "embargo_dates: '' in range '..' is not a date; use YYYY-MM-DD or an inclusive range START..END"),
        ("2026-01-01..", "embargo_dates: '' in range '2026-01-01..' is not a date; use YYYY-MM-DD or an inclusive range START..END"),
        ("9999-12-31", "embargo_dates: 9999-12-31 is outside the supported dates 1900-01-01 to 2199-12-31"),
        ("0001-01-01..0001-01-02", "embargo_dates: 0001-01-01 is outside the supported dates 1900-01-01 to 2199-12-31"),
    ],
)
def test_invalid_embargo(embargo: object, message: str) -> None:
    """Each malformed embargo entry is named with the fix."""
    assert problems(embargo_dates=[embargo]) == [message]


def test_embargo_limit_after_expansion() -> None:
    """More than 100 dates after expanding ranges is rejected with the count."""
    assert problems(embargo_dates=["2026-01-01..2026-03-01", "2026-06-01..2026-07-31"]) == [
        "embargo_dates: 121 embargo dates after expanding ranges; the API accepts at most 100, "
        "so shorten the ranges or drop past dates"
    ]
    assert len(WindowSpec.parse(timezone="UTC", hour_of_day=2, duration_hours=4, embargo_dates=["2026-01-01..2026-04-10"]).embargo_dates) == 100


def test_every_problem_reported_at_once() -> None:
    """Several invalid values give one problem each, in field order."""
    found = problems(timezone="Mars/Olympus", hour_of_day=25, duration_hours=0, days_of_week=["Caturday"], embargo_dates=["soon"])

    assert [message.split(":")[0] for message in found] == [
        "timezone",
        "days_of_week",
        "hour_of_day",
        "duration_hours",
        "embargo_dates",
    ]


def test_spec_is_frozen_and_hashable() -> None:
    """Specs are values: equal specs hash alike and cannot be changed in place."""
    first = WindowSpec.from_api(CONNECTOR)
    second = WindowSpec.from_api(dict(CONNECTOR))

    assert hash(first) == hash(second)
    with pytest.raises(AttributeError):
        first.timezone = "UTC"  # type: ignore[misc]


def test_system_database() -> None:
    """The system database can be chosen, and unknown database names are rejected."""
    spec = WindowSpec.parse(timezone="Europe/Berlin", hour_of_day=2, duration_hours=4, tz_database="system")
    assert spec.zone.key == "Europe/Berlin"

    assert problems(tz_database="os") == ["tz_database: unknown time zone database 'os'; use 'tzdata' or 'system'"]


def test_describe() -> None:
    """describe() gives days, start, duration and zone on one line."""
    spec = WindowSpec.parse(timezone="UTC", days_of_week="Sat,Sun", hour_of_day=2.5, duration_hours=1.5)

    assert spec.describe() == "Sat, Sun at 02:30 for 1 h 30 min (UTC)"


def test_failed_envelope_names_api_errors() -> None:
    """A failed API response is reported with the API's own errors."""
    envelope = {"success": False, "errors": [{"code": 1003, "message": "not found"}], "result": None}

    with pytest.raises(SpecError, match=r"failed API response \(1003: not found\)"):
        WindowSpec.from_api(envelope)


def test_result_without_success_is_unwrapped() -> None:
    """An envelope that lost its success key is still unwrapped."""
    assert WindowSpec.from_api({"result": CONNECTOR}) == WindowSpec.from_api(CONNECTOR)


def test_from_api_names_api_fields() -> None:
    """Problems in a connector object use the API's field names."""
    with pytest.raises(SpecError) as caught:
        WindowSpec.from_api(CONNECTOR | {"interrupt_window_hour_of_day": "2", "interrupt_window_days_of_week": ["Sun"]})

    assert [problem.field for problem in caught.value.problems] == ["interrupt_window_hour_of_day"]


def test_from_api_rejects_non_object() -> None:
    """A JSON list or number is not a connector object."""
    with pytest.raises(SpecError, match=r"connector: expected a connector object \(a JSON object\)"):
        WindowSpec.from_api([CONNECTOR])  # type: ignore[arg-type]


def test_lowercase_utc_is_not_a_windows_name() -> None:
    """'utc' gets the IANA spelling suggested rather than a silent Windows mapping."""
    assert problems(timezone="utc") == ["timezone: unknown time zone 'utc'; did you mean 'UTC'?"]


def test_placeholder_zones_rejected() -> None:
    """The database's placeholder zone is not a place."""
    assert problems(timezone="Factory")[0].startswith("timezone: unknown time zone 'Factory'")


def test_replace_recomputes_warnings() -> None:
    """dataclasses.replace validates again, so warnings describe the new values."""
    import dataclasses

    spec = WindowSpec.parse(timezone="Tokyo Standard Time", hour_of_day=2, duration_hours=4)
    changed = dataclasses.replace(spec, timezone="Asia/Seoul")

    assert spec.warnings
    assert changed.warnings == ()


def test_to_api_sends_whole_minutes() -> None:
    """An hour typed with extra digits is sent as the minute the windows use."""
    spec = WindowSpec.parse(timezone="UTC", hour_of_day=2.33333333, duration_hours=4)

    assert spec.start_minute == 140
    assert spec.to_api()["interrupt_window_hour_of_day"] == 140 / 60


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("Sat,Sun", "Sat, Sun"),
        ("Mon-Fri", "Mon-Fri"),
        ("Tue,Wed,Thu", "Tue-Thu"),
        ("Fri-Mon", "Mon, Fri-Sun"),
        ("Mon-Sun", "every day"),
    ],
)
def test_describe_days_monday_first(days: str, expected: str) -> None:
    """describe() lists days Monday first and folds three or more in a row into a range."""
    spec = WindowSpec.parse(timezone="UTC", days_of_week=days, hour_of_day=2, duration_hours=1)

    assert spec.describe() == f"{expected} at 02:00 for 1 h (UTC)"
