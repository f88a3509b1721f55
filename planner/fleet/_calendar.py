"""The iCalendar export of a plan: every planned connector's desired windows over the horizon."""

from __future__ import annotations

import datetime

from planner.fleet._plan import Plan
from planner.ical import CalendarExport, ExportOptions, fleet_calendar

PLAN_CALENDAR_NAME = "Planned interrupt windows"


def plan_calendar(plan: Plan) -> CalendarExport:
    """Build a calendar of the windows each planned connector will have, from the plan's instant over its horizon."""
    connectors = [{**item.before, **item.desired} for item in plan.connectors]
    options = ExportOptions(start=plan.created_at, end=plan.created_at + datetime.timedelta(days=plan.horizon_days))
    return fleet_calendar(connectors, options, name=PLAN_CALENDAR_NAME)
