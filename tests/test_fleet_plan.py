"""Plans: desired fields, unmatched connectors, windows, coverage and the saved JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.engine import tzdata_version
from planner.fleet import PlanError, load_plan, make_plan, parse_fleet_file, save_plan

from fleet_fixtures import NOW, make_connector

FLEET = """
horizon_days = 90
[[policy]]
name = "weekend"
match = { notes = "branch-000*" }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
embargo = ["2026-12-24..2026-12-26"]

[[policy]]
name = "hour only"
match = { notes = "branch-001*" }
hour = 3
"""


def test_unset_fields_keep_current_values() -> None:
    connector = make_connector(10, timezone="Asia/Kathmandu", interrupt_window_embargo_dates=["2027-01-01"])

    plan = make_plan(parse_fleet_file(FLEET), [connector], NOW)

    (item,) = plan.connectors
    assert item.policy == "hour only"
    assert item.desired == {
        "timezone": "Asia/Kathmandu",
        "interrupt_window_days_of_week": ["Tuesday"],
        "interrupt_window_hour_of_day": 3,
        "interrupt_window_duration_hours": 2,
        "interrupt_window_embargo_dates": ["2027-01-01"],
    }
    assert item.changes == ("interrupt_window_hour_of_day",)


def test_unmatched_connectors_listed_and_left_alone() -> None:
    connectors = [make_connector(1), make_connector(25), make_connector(26, notes="")]

    plan = make_plan(parse_fleet_file(FLEET), connectors, NOW)

    assert [item.connector_id for item in plan.connectors] == ["conn-0001"]
    assert [(item.connector_id, item.label) for item in plan.unmatched] == [
        ("conn-0025", "branch-0025 (conn-0025)"),
        ("conn-0026", "conn-0026"),
    ]


def test_windows_before_and_after() -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(0, timezone="Europe/Berlin")], NOW)

    (item,) = plan.connectors
    # Friday 4 December 2026, 21:00 in Berlin: the current Tuesday 14:00 windows come next week,
    # the new ones this weekend.
    assert [window.local_start.isoformat() for window in item.windows_before] == [
        "2026-12-08T14:00:00+01:00",
        "2026-12-15T14:00:00+01:00",
        "2026-12-22T14:00:00+01:00",
    ]
    assert [window.local_start.isoformat() for window in item.windows_after] == [
        "2026-12-05T02:00:00+01:00",
        "2026-12-06T02:00:00+01:00",
        "2026-12-12T02:00:00+01:00",
    ]
    assert item.coverage_after is not None
    assert item.coverage_before is not None
    # Of the embargoed 24-26 December (Thursday to Saturday) only Saturday 26 has a window.
    assert item.coverage_after["blocked_count"] == 1
    assert item.coverage_before["window_count"] == 13


def test_secrets_never_in_plan() -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(1), make_connector(40)], NOW)

    text = json.dumps(plan.to_json())

    assert "LICENSE-SECRET" not in text
    assert "license_key" not in text


def test_saved_plan_round_trip(tmp_path: Path) -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(number) for number in range(12)], NOW)
    path = tmp_path / "plan.json"

    save_plan(plan, path)
    loaded = load_plan(path)
    data = json.loads(path.read_text())

    assert loaded == plan
    assert data["tzdata_version"] == tzdata_version()
    assert data["content_hash"] == plan.content_hash
    assert data["content_hash"].startswith("sha256:")
    assert data["connectors"][0]["before"]["interrupt_window_hour_of_day"] == 14


def test_edited_plan_rejected(tmp_path: Path) -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(1)], NOW)
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    data = json.loads(path.read_text())
    data["connectors"][0]["desired"]["interrupt_window_hour_of_day"] = 5
    path.write_text(json.dumps(data))

    with pytest.raises(PlanError, match="was changed after it was made"):
        load_plan(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "is not a planner plan"),
        ('{"format": "planner-fleet-plan", "version": 9}', "is a plan of version 9"),
        ("{", "is not valid JSON"),
    ],
)
def test_invalid_plan_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)

    with pytest.raises(PlanError, match=message):
        load_plan(path)


def test_invalid_current_window_is_a_warning() -> None:
    connector = make_connector(1, timezone="Mars/Olympus_Mons")
    fleet = parse_fleet_file('[[policy]]\nmatch = { all = true }\ntimezone = "UTC"\n')

    plan = make_plan(fleet, [connector], NOW)

    (item,) = plan.connectors
    assert item.windows_before == ()
    assert item.coverage_before is None
    assert any("current window is invalid" in warning for warning in item.warnings)
    assert item.changes == ("timezone",)


def test_invalid_desired_window_is_an_error() -> None:
    connector = make_connector(1, timezone="Mars/Olympus_Mons")
    fleet = parse_fleet_file("[[policy]]\nmatch = { all = true }\nhour = 3\n")

    with pytest.raises(PlanError, match=r"connector branch-0001 \(conn-0001\): policy 'policy #1' gives an invalid window"):
        make_plan(fleet, [connector], NOW)


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        make_plan(parse_fleet_file(FLEET), [], NOW.replace(tzinfo=None))
