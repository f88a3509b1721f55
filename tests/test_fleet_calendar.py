"""The iCalendar export of a plan, read back with independent parsers."""

from __future__ import annotations

import datetime

import icalendar
import recurring_ical_events

from planner.engine import WindowSpec, expand
from planner.fleet import Plan, make_plan, parse_fleet_file, plan_calendar

from fleet_fixtures import NOW, make_connector

FLEET = """
horizon_days = 45
[[policy]]
match = { all = true }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
embargo = ["2026-12-26"]
"""


def engine_starts(plan: Plan) -> list[datetime.datetime]:
    end = plan.created_at + datetime.timedelta(days=plan.horizon_days)
    return sorted(
        window.start
        for item in plan.connectors
        for window in expand(WindowSpec.from_api(item.desired), plan.created_at, end)
        if not window.blocked
    )


def test_calendar_has_every_desired_window() -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(number) for number in range(5)], NOW)

    export = plan_calendar(plan)
    calendar = icalendar.Calendar.from_ical(export.text)
    end = plan.created_at + datetime.timedelta(days=plan.horizon_days)
    occurrences = recurring_ical_events.of(calendar).between(plan.created_at, end)

    starts = sorted(event.decoded("DTSTART").astimezone(datetime.UTC) for event in calendar.walk("VEVENT"))
    assert starts == engine_starts(plan)
    assert sorted(event.decoded("DTSTART").astimezone(datetime.UTC) for event in occurrences) == engine_starts(plan)
    assert export.event_count == len(starts)
    assert "LICENSE-SECRET" not in export.text


def test_calendar_uses_desired_not_current_window() -> None:
    plan = make_plan(parse_fleet_file(FLEET), [make_connector(1, timezone="Europe/Berlin")], NOW)

    calendar = icalendar.Calendar.from_ical(plan_calendar(plan).text)

    local_starts = {event.decoded("DTSTART").strftime("%a %H:%M") for event in calendar.walk("VEVENT")}
    assert local_starts == {"Sat 02:00", "Sun 02:00"}
