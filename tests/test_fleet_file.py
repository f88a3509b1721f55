"""Fleet files: parsing, selectors and every problem reported with its table and key."""

from __future__ import annotations

import datetime

import pytest

from planner.fleet import FleetFileError, HolidayRegion, StartHours, YearlyRange, parse_fleet_file

from fleet_fixtures import make_connector

EXAMPLE = """
horizon_days = 180

[[policy]]
name = "branches"
match = { notes = "branch-*" }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
embargo = ["2027-01-15", "2027-11-26..2027-11-29", 2027-02-01]
yearly = ["12-24..12-26", "12-20..01-05"]
holidays = ["US", "DE-BY"]

[[policy]]
name = "everything else"
match = { all = true }
hour = 3

[stagger]
max_concurrent = 10
ha = "disjoint"
start_hours = "22-04"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet_file(text, path="fleet.toml")
    return [str(problem) for problem in caught.value.problems]


def test_example_parses() -> None:
    fleet = parse_fleet_file(EXAMPLE)
    branches, rest = fleet.policies

    assert fleet.horizon_days == 180
    assert fleet.prune_past is True
    assert branches.days_of_week == ("Sunday", "Saturday")
    assert branches.hour_of_day == 2.0
    assert branches.duration_hours == 4.0
    assert branches.timezone is None
    assert branches.embargo is not None
    assert datetime.date(2027, 11, 27) in branches.embargo.dates
    assert datetime.date(2027, 2, 1) in branches.embargo.dates
    assert len(branches.embargo.dates) == 6
    assert branches.embargo.yearly == (YearlyRange((12, 24), (12, 26)), YearlyRange((12, 20), (1, 5)))
    assert branches.embargo.holidays == (HolidayRegion("US"), HolidayRegion("DE", "BY"))
    assert rest.hour_of_day == 3.0
    assert rest.days_of_week is None
    assert rest.embargo is None
    assert fleet.stagger is not None
    assert fleet.stagger.max_concurrent == 10
    assert fleet.stagger.ha_disjoint is True
    assert fleet.stagger.start_hours == StartHours(22, 4)


def test_first_matching_policy_wins() -> None:
    fleet = parse_fleet_file(EXAMPLE)

    assert fleet.match(make_connector(1)) is fleet.policies[0]
    assert fleet.match(make_connector(1, notes="hq-frankfurt")) is fleet.policies[1]


@pytest.mark.parametrize(
    ("match", "connector", "expected"),
    [
        ('{ notes = "branch-00*" }', make_connector(7), True),
        ('{ notes = "Branch-*" }', make_connector(7), False),
        ('{ ids = ["conn-0007", "conn-0009"] }', make_connector(7), True),
        ('{ ids = ["conn-0009"] }', make_connector(7), False),
        ('{ site_id = "site-0003" }', make_connector(7), True),
        ('{ timezone = "Europe/*" }', make_connector(0, timezone="Europe/Paris"), True),
        ('{ timezone = "Europe/*" }', make_connector(0, timezone="America/Chicago"), False),
        ('{ device_type = "MANAGED" }', make_connector(7), True),
        ('{ device_type = "LICENSED" }', make_connector(7), False),
        ('{ device_type = "MANAGED" }', make_connector(7, device=None), False),
        ('{ notes = "branch-*", site_id = "site-0004" }', make_connector(7), False),
        ("{ all = true }", make_connector(7), True),
    ],
)
def test_selector_keys(match: str, connector: dict[str, object], expected: bool) -> None:
    fleet = parse_fleet_file(f"[[policy]]\nmatch = {match}\nhour = 1\n")

    assert fleet.policies[0].selector.matches(connector) is expected


@pytest.mark.parametrize(
    ("text", "band", "inside", "outside"),
    [
        ("22-04", StartHours(22, 4), [22, 23, 0, 3.5], [4, 12, 21.9]),
        ("0-24", StartHours(0, 24), [0, 12, 23.5], []),
        ("8-17", StartHours(8, 17), [8, 16], [17, 7, 23]),
    ],
)
def test_start_hours_band(text: str, band: StartHours, inside: list[float], outside: list[float]) -> None:
    fleet = parse_fleet_file(f'[[policy]]\nmatch = {{ all = true }}\n[stagger]\nstart_hours = "{text}"\n')

    assert fleet.stagger is not None
    assert fleet.stagger.start_hours == band
    for hour in inside:
        assert band.contains(hour), hour
    for hour in outside:
        assert not band.contains(hour), hour


def test_start_hours_lists_band_hours() -> None:
    assert StartHours(22, 4).hours() == (22, 23, 0, 1, 2, 3)
    assert len(StartHours(0, 24).hours()) == 24


def test_every_problem_with_location() -> None:
    problems = problems_of(
        """
horizon_days = 0
prune = false

[[policy]]
name = "branches"
match = { notes = "branch-*", colour = "red" }
days = ["Saturday", "Caturday"]
hour = 24
duration = 0.5
timezone = "Europe/Berln"
embargo = ["2027-13-01", "2027-02-03..2027-02-01"]
yearly = ["13-01"]
holidays = ["XX", "DE-ZZ"]

[[policy]]
name = "branches"
days = []

[stagger]
max_concurrent = 0
ha = "yes"
start_hours = "5-5"
"""
    )

    expected_starts = [
        "top level, key 'prune': unknown key 'prune'; did you mean 'prune_past'?",
        "top level, key 'horizon_days': expected a whole number of days from 1 to 3660, got 0",
        "[[policy]] #1 ('branches'), key 'match.colour': unknown key 'colour'",
        "[[policy]] #1 ('branches'), key 'timezone': unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'",
        "[[policy]] #1 ('branches'), key 'days': invalid day 'Caturday'",
        "[[policy]] #1 ('branches'), key 'hour': 24 is out of range",
        "[[policy]] #1 ('branches'), key 'duration': 0.5 is out of range",
        "[[policy]] #1 ('branches'), key 'embargo': invalid date or range '2027-13-01'",
        "[[policy]] #1 ('branches'), key 'embargo': invalid date or range '2027-02-03..2027-02-01'",
        "[[policy]] #1 ('branches'), key 'yearly': invalid yearly date or range '13-01'",
        "[[policy]] #1 ('branches'), key 'holidays': no public holidays known for country 'XX'",
        "[[policy]] #1 ('branches'), key 'holidays': unknown subdivision 'ZZ' of DE",
        "[[policy]] #2 ('branches'), key 'match': missing",
        "[[policy]] #2 ('branches'), key 'days': empty",
        "[[policy]] #2 ('branches'), key 'name': duplicate policy name 'branches', already used by policy #1",
        "[stagger], key 'max_concurrent': expected a whole number of connectors, at least 1, got 0",
        "[stagger], key 'ha': expected \"disjoint\"",
        "[stagger], key 'start_hours': expected a band of start hours",
    ]
    assert len(problems) == len(expected_starts)
    for problem, start in zip(problems, expected_starts, strict=True):
        assert problem.startswith(start), problem


def test_error_message_names_file_and_count() -> None:
    with pytest.raises(FleetFileError, match=r"fleet file 'fleet.toml' has 1 problem:\n  top level, key 'policy': missing"):
        parse_fleet_file("horizon_days = 30\n", path="fleet.toml")


def test_toml_syntax_error() -> None:
    problems = problems_of("[[policy]\nmatch = 1\n")

    assert len(problems) == 1
    assert problems[0].startswith("file: not valid TOML")


@pytest.mark.parametrize(
    ("line", "location"),
    [
        ("match = { all = false }", "key 'match.all'"),
        ("match = { ids = [] }", "key 'match.ids'"),
        ('match = { device_type = "VIRTUAL" }', "key 'match.device_type'"),
        ("match = {}", "key 'match': empty"),
        ('match = "all"', "key 'match': expected an inline table"),
    ],
)
def test_match_problems(line: str, location: str) -> None:
    problems = problems_of(f"[[policy]]\n{line}\n")

    assert len(problems) == 1
    assert location in problems[0]


def test_wrong_types_reported() -> None:
    problems = problems_of(
        '[[policy]]\nmatch = { all = true }\nhour = "2am"\nduration = true\nembargo = "2027-01-01"\n'
        'yearly = "12-24"\nholidays = "US"\n'
    )

    locations = [problem.split(":")[0] for problem in problems]
    assert locations == [
        "[[policy]] #1, key 'duration'",
        "[[policy]] #1, key 'hour'",
        "[[policy]] #1, key 'embargo'",
        "[[policy]] #1, key 'yearly'",
        "[[policy]] #1, key 'holidays'",
    ]
