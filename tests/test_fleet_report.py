"""Plan reports: the text table, CSV and the Markdown change record."""

from __future__ import annotations

import importlib.metadata

import csv
import io

from planner.fleet import Plan, make_plan, parse_fleet_file, plan_from_json
from planner.fleet._report import describe_window, plan_csv, plan_markdown, plan_table

from fleet_fixtures import NOW, make_connector

FLEET = """
[[policy]]
name = "weekend"
match = { notes = "branch-000*" }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
embargo = ["2026-12-24..2026-12-26"]
"""


def sample_plan() -> Plan:
    connectors = [
        make_connector(1, timezone="Europe/Berlin"),
        make_connector(2, timezone="Europe/Berlin", interrupt_window_days_of_week=["Sunday", "Saturday"],
                       interrupt_window_hour_of_day=2, interrupt_window_duration_hours=4,
                       interrupt_window_embargo_dates=["2026-12-24", "2026-12-25", "2026-12-26"]),
        make_connector(30, notes="hq | main"),
    ]
    return make_plan(parse_fleet_file(FLEET, path="fleet.toml"), connectors, NOW)


def test_describe_window() -> None:
    assert describe_window(make_connector(1, timezone="UTC")) == "Tue at 14:00 for 2 h (UTC)"
    assert describe_window({**make_connector(1, timezone="UTC"), "interrupt_window_embargo_dates": ["2027-01-01"]}) == (
        "Tue at 14:00 for 2 h (UTC), 1 embargo date"
    )
    assert describe_window({**make_connector(1), "timezone": "Nowhere/Else"}).startswith("invalid window")


def test_table_lists_changes_warnings_and_unmatched() -> None:
    text = plan_table(sample_plan())
    lines = text.splitlines()

    assert lines[0] == "Plan from fleet.toml at 2026-12-04T20:00+00:00, horizon 180 days, tzdata " + sample_plan().tzdata_version
    assert lines[2].split()[:3] == ["CONNECTOR", "POLICY", "CHANGES"]
    row = next(line for line in lines if line.startswith("branch-0001"))
    assert "days, hour, duration, embargo" in row
    assert "Tue at 14:00 for 2 h (Europe/Berlin)" in row
    assert "Sat, Sun at 02:00 for 4 h (Europe/Berlin), 3 embargo dates" in row
    assert "Tue 12-08 14:00" in row
    assert "Sat 12-05 02:00" in row
    unchanged = next(line for line in lines if line.startswith("branch-0002"))
    assert " none " in unchanged
    assert "Left alone, no policy matches (1):" in lines
    assert "  hq | main (conn-0030)" in lines
    assert lines[-1] == "2 selected: 1 to change, 1 already as desired; 1 left alone."


def test_csv_round_trips_through_reader() -> None:
    rows = list(csv.DictReader(io.StringIO(plan_csv(sample_plan()))))

    assert [row["id"] for row in rows] == ["conn-0001", "conn-0002"]
    assert rows[0]["current_hour"] == "14"
    assert rows[0]["desired_hour"] == "2"
    assert rows[0]["desired_days"] == "Sunday Saturday"
    assert rows[0]["desired_embargo"] == "2026-12-24 2026-12-25 2026-12-26"
    assert rows[0]["changes"].split() == [
        "interrupt_window_days_of_week", "interrupt_window_hour_of_day",
        "interrupt_window_duration_hours", "interrupt_window_embargo_dates",
    ]
    assert len(rows[0]["next_windows_after"].split()) == 3
    assert rows[1]["changes"] == ""


def test_markdown_change_record() -> None:
    plan = sample_plan()
    text = plan_markdown(plan)

    assert text.startswith("# Change record: connector interrupt windows\n")
    assert f"- Plan content hash: `{plan.content_hash}`" in text
    assert f"public holidays: holidays {importlib.metadata.version('holidays')}" in text
    assert "- Connectors: 2 selected, 1 to change, 1 already as desired, 1 left alone" in text
    assert "| branch-0001 (conn-0001) | weekend | Tue at 14:00 for 2 h (Europe/Berlin) |" in text
    assert "### branch-0001 (conn-0001)" in text
    assert "### branch-0002" not in text
    assert "  - Sat 2026-12-05 02:00 +0100 to 06:00 +0100 (2026-12-05 01:00 UTC)" in text
    assert "- hq \\| main (conn-0030)" in text
    assert "`planner rollback RUN_ID`" in text


def test_policy_matching_nothing_warned() -> None:
    fleet = parse_fleet_file(FLEET + '\n[[policy]]\nname = "europe"\nmatch = { timezone = "Europa/*" }\nhour = 3\n',
                             path="fleet.toml")
    plan = make_plan(fleet, [make_connector(30, timezone="Europe/Berlin")], NOW)

    text = plan_markdown(plan)
    warning = "policy 'europe' matches no connectors; check its match table"
    risks = text[text.index("## Risks and warnings"):text.index("## Out of scope")]

    assert plan.warnings == ("policy 'weekend' matches no connectors; check its match table", warning)
    assert f"- fleet file: {warning}" in risks
    assert f"  fleet file: {warning}" in plan_table(plan).splitlines()
    assert plan_from_json(plan.to_json()).warnings == plan.warnings


def test_markdown_end_date_and_rounded_hours() -> None:
    fleet = parse_fleet_file('[[policy]]\nmatch = { all = true }\ndays = ["Sunday"]\nhour = 23\nduration = 3\n')
    plan = make_plan(fleet, [make_connector(1, timezone="Asia/Tokyo", interrupt_window_duration_hours=61 / 60)], NOW)

    text = plan_markdown(plan)
    (item,) = plan.connectors

    assert "  - Sun 2026-12-06 23:00 +0900 to Mon 2026-12-07 02:00 +0900 (2026-12-06 14:00 UTC)" in text
    assert item.coverage_after is not None
    assert f"{item.coverage_after['open_hours']:.1f} after" in text
    assert item.coverage_before is not None
    assert f"- Open hours over the horizon: {item.coverage_before['open_hours']:.1f} now" in text
    assert f"{item.coverage_before['open_hours']:g}" != f"{item.coverage_before['open_hours']:.1f}"
