"""`planner windows`: the JSON contract, the table and every usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.engine import tzdata_version

NEW_YORK = ["--timezone", "America/New_York", "--days", "Sun", "--hour", "2", "--duration", "4"]
MARCH = ["--from", "2026-03-01", "--until", "2026-03-16"]


def run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["windows", *arguments])
    return result.exit_code, result.stdout, result.stderr


def test_json_contract() -> None:
    """--json prints the documented keys, UTC times ending in Z and local times with offsets."""
    code, out, _ = run(*NEW_YORK, *MARCH, "--json")
    data = json.loads(out)

    assert code == 0
    assert set(data) >= {"timezone", "tzdata_version", "embargo_rule", "windows", "coverage"}
    assert data["timezone"] == "America/New_York"
    assert data["tzdata_version"] == tzdata_version()
    assert data["embargo_rule"] == "overlap"
    assert data["windows"] == [
        {
            "start": "2026-03-01T07:00:00Z",
            "end": "2026-03-01T11:00:00Z",
            "local_start": "2026-03-01T02:00:00-05:00",
            "local_end": "2026-03-01T06:00:00-05:00",
            "slot_date": "2026-03-01",
            "blocked": False,
            "embargo_dates": [],
        },
        {
            "start": "2026-03-08T07:00:00Z",
            "end": "2026-03-08T11:00:00Z",
            "local_start": "2026-03-08T03:00:00-04:00",
            "local_end": "2026-03-08T07:00:00-04:00",
            "slot_date": "2026-03-08",
            "blocked": False,
            "embargo_dates": [],
        },
        {
            "start": "2026-03-15T06:00:00Z",
            "end": "2026-03-15T10:00:00Z",
            "local_start": "2026-03-15T02:00:00-04:00",
            "local_end": "2026-03-15T06:00:00-04:00",
            "slot_date": "2026-03-15",
            "blocked": False,
            "embargo_dates": [],
        },
    ]
    assert data["coverage"]["open_hours"] == 12


def test_json_blocked_only_with_flag() -> None:
    """Blocked windows appear in JSON only with --include-blocked, with their embargo dates."""
    _, plain, _ = run(*NEW_YORK, *MARCH, "--embargo", "2026-03-08", "--json")
    _, with_blocked, _ = run(*NEW_YORK, *MARCH, "--embargo", "2026-03-08", "--json", "--include-blocked")

    assert [w["slot_date"] for w in json.loads(plain)["windows"]] == ["2026-03-01", "2026-03-15"]
    blocked = [w for w in json.loads(with_blocked)["windows"] if w["blocked"]]
    assert [(w["slot_date"], w["embargo_dates"]) for w in blocked] == [("2026-03-08", ["2026-03-08"])]
    assert json.loads(plain)["coverage"]["blocked_count"] == 1


def test_count() -> None:
    """--count lists the next N open windows from --from."""
    code, out, _ = run(*NEW_YORK, "--from", "2026-03-01", "--count", "5", "--json")

    assert code == 0
    assert [w["slot_date"] for w in json.loads(out)["windows"]] == [
        "2026-03-01",
        "2026-03-08",
        "2026-03-15",
        "2026-03-22",
        "2026-03-29",
    ]


def test_table() -> None:
    """The table shows the spec, local and UTC times, blocked windows and coverage."""
    code, out, _ = run(*NEW_YORK, *MARCH, "--embargo", "2026-03-15", "--include-blocked")

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Sun at 02:00 for 4 h (America/New_York); embargo rule overlap; tzdata {tzdata_version()}"
    assert "Sun 2026-03-08 2026-03-08 03:00 -04:00 2026-03-08 07:00 -04:00 2026-03-08 07:00Z 2026-03-08 11:00Z" in lines
    assert any(line.startswith("Sun 2026-03-15") and line.endswith("BLOCKED by 2026-03-15") for line in lines)
    assert "2 open and 1 blocked windows, 8 open hours" in out


def test_connector_file(tmp_path: Path) -> None:
    """--connector reads the spec from an API response envelope."""
    connector = {
        "id": "c1",
        "timezone": "Asia/Kathmandu",
        "interrupt_window_days_of_week": ["Monday"],
        "interrupt_window_hour_of_day": 2,
        "interrupt_window_duration_hours": 1,
        "interrupt_window_embargo_dates": [],
    }
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"success": True, "errors": [], "messages": [], "result": connector}))

    code, out, _ = run("--connector", str(path), "--from", "2026-12-07", "--until", "2026-12-08", "--json")

    assert code == 0
    assert [w["start"] for w in json.loads(out)["windows"]] == ["2026-12-06T20:15:00Z"]


def test_windows_zone_warning() -> None:
    """A Windows zone name works, with a warning on stderr."""
    code, _, err = run("--timezone", "Tokyo Standard Time", "--hour", "2", "--duration", "1", *MARCH, "--json")

    assert code == 0
    assert err == "Warning: timezone 'Tokyo Standard Time' is a Windows zone name; using its IANA name 'Asia/Tokyo'\n"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--timezone", "Europe/Berln", "--hour", "2", "--duration", "4"],
            ["Error: --timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'"],
        ),
        (
            ["--timezone", "UTC", "--days", "Sat,Caturday", "--hour", "2", "--duration", "4"],
            ["Error: --days: invalid day 'Caturday'; use a day name (Monday), its three-letter abbreviation (Mon) or a range (Mon-Fri)"],
        ),
        (
            ["--timezone", "UTC", "--days", "", "--hour", "2", "--duration", "4"],
            ["Error: --days: no day given; name at least one, such as 'Sat', 'Saturday' or 'Mon-Fri'"],
        ),
        (
            ["--timezone", "UTC", "--hour", "2.3333", "--duration", "4"],
            ["Error: --hour: 2.3333 is not a whole minute; use a multiple of 1/60, such as 2.25 for 02:15"],
        ),
        (
            ["--timezone", "UTC", "--hour", "2", "--duration", "30"],
            ["Error: --duration: 30.0 is out of range; use 1 to 24 hours"],
        ),
        (
            ["--timezone", "UTC", "--hour", "2", "--duration", "4", "--embargo", "2026-13-01"],
            ["Error: --embargo: '2026-13-01' is not a calendar date; check the month and day"],
        ),
        (
            ["--hour", "2"],
            [
                "Error: missing option --timezone; give a spec with --timezone, --hour and --duration, or read one with --connector FILE",
                "Error: missing option --duration; give a spec with --timezone, --hour and --duration, or read one with --connector FILE",
            ],
        ),
        (
            ["--timezone", "UTC", "--hour", "2", "--duration", "4", "--from", "yesterday"],
            ["Error: --from: invalid date or date-time 'yesterday'; use ISO 8601, such as 2026-03-08, 2026-03-08T02:30 or 2026-03-08T07:00:00Z"],
        ),
        (
            ["--timezone", "UTC", "--hour", "2", "--duration", "4", "--from", "2026-03-01", "--until", "2026-02-01"],
            ["Error: --until '2026-02-01' is not after --from; give a later --until"],
        ),
        (
            ["--timezone", "UTC", "--hour", "2", "--duration", "4", "--until", "2026-02-01", "--count", "3"],
            ["Error: --until and --count cannot be combined; give a range end or a number of windows"],
        ),
        (
            ["--connector", "missing.json", "--hour", "2"],
            ["Error: --hour cannot be combined with --connector; edit the connector file or drop --connector"],
        ),
        (
            ["--connector", "/nonexistent/connector.json"],
            ["Error: cannot read connector file '/nonexistent/connector.json': No such file or directory"],
        ),
    ],
)
def test_usage_errors(arguments: list[str], expected: list[str]) -> None:
    """Bad input exits 2 with one line per problem on stderr and no traceback."""
    code, out, err = run(*arguments)

    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start)
    assert "Traceback" not in err


def test_several_problems_each_on_a_line() -> None:
    """Every invalid value gets its own line."""
    code, _, err = run("--timezone", "Nowhere/Place", "--days", "Xyz", "--hour", "99", "--duration", "0", "--embargo", "x")

    assert code == 2
    assert [line.split(":")[1].strip() for line in err.splitlines()] == ["--timezone", "--days", "--hour", "--duration", "--embargo"]


def test_connector_file_problems(tmp_path: Path) -> None:
    """Problems in a connector file name the file and the field."""
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"timezone": "UTC", "interrupt_window_hour_of_day": 30, "interrupt_window_duration_hours": 4}))

    code, _, err = run("--connector", str(path))

    assert code == 2
    assert err == f"Error: {path}: interrupt_window_hour_of_day: 30 is out of range; use 0 <= hour < 24, the latest start being 23:59\n"


def test_connector_file_not_json(tmp_path: Path) -> None:
    """A connector file that is not JSON is named with the parser's message."""
    path = tmp_path / "connector.json"
    path.write_text("timezone: UTC\n")

    code, _, err = run("--connector", str(path))

    assert code == 2
    assert err.startswith(f"Error: connector file '{path}' is not valid JSON: ")


def test_count_beyond_search_warns() -> None:
    """Fewer windows than --count requests come with a warning naming the search limit."""
    code, out, err = run("--timezone", "UTC", "--hour", "2", "--duration", "1", "--from", "2199-12-20", "--count", "30", "--json")

    assert code == 0
    assert len(json.loads(out)["windows"]) < 30
    assert err.startswith("Warning: ")
    assert "windows found in the 800 days searched" in err


def test_conflicts_reported_together() -> None:
    """Every conflicting option is named in one run."""
    code, _, err = run("--connector", "c.json", "--timezone", "UTC", "--days", "Sun", "--until", "2027-01-01", "--count", "2")

    assert code == 2
    assert err.splitlines() == [
        "Error: --timezone cannot be combined with --connector; edit the connector file or drop --connector",
        "Error: --days cannot be combined with --connector; edit the connector file or drop --connector",
        "Error: --until and --count cannot be combined; give a range end or a number of windows",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2026-01-01", "--until", "2099-01-01"], "Error: --until '2099-01-01' is more than 3660 days after --from; ask for a shorter range"),
        (["--from", "0001-01-01"], "Error: --from: '0001-01-01' is too close to the ends of the calendar; use a date between 1900 and 2199"),
        (["--from", "9999-12-01"], "Error: --from: '9999-12-01' is outside the supported dates 1900-01-01 to 2199-12-31"),
        (["--embargo", "9999-12-31"], "Error: --embargo: 9999-12-31 is outside the supported dates 1900-01-01 to 2199-12-31"),
    ],
)
def test_range_limits(arguments: list[str], message: str) -> None:
    """Ranges too long and dates outside 1900 to 2199 exit 2 with the limit."""
    code, _, err = run("--timezone", "Asia/Tokyo", "--hour", "2", "--duration", "1", *arguments)

    assert code == 2
    assert err == message + "\n"


def test_deeply_nested_connector_file(tmp_path: Path) -> None:
    """A file nested too deeply to parse exits 2 with a message, not a traceback."""
    path = tmp_path / "connector.json"
    path.write_text("[" * 100_000 + "]" * 100_000)

    code, _, err = run("--connector", str(path))

    assert code == 2
    assert "nests JSON too deeply to read" in err


def test_table_shows_offset_seconds() -> None:
    """Historical offsets with seconds are shown in full in the table."""
    code, out, _ = run("--timezone", "Africa/Monrovia", "--hour", "2", "--duration", "1", "--from", "1960-01-01", "--count", "1")

    assert code == 0
    assert "1960-01-01 02:00 -00:44:30" in out
    assert "1960-01-01 02:44:30Z" in out
