"""The planning engine: window specs, occurrence expansion, embargoes and coverage.

The engine is pure: every instant and range comes in as an argument, and it neither reads the
clock, nor logs, nor does I/O beyond loading zone files from the IANA database.
"""

from __future__ import annotations

from planner.engine.coverage import Coverage, coverage, coverage_of
from planner.engine.errors import Problem, SpecError
from planner.engine.instants import parse_instant
from planner.engine.occurrences import (
    EMBARGO_RULES,
    FIRST_INSTANT,
    LAST_INSTANT,
    SEARCH_LIMIT_DAYS,
    EmbargoRule,
    Window,
    day_exists,
    expand,
    next_open_window,
    next_windows,
    resolve_local,
    window_at,
)
from planner.engine.spec import (
    API_FIELDS,
    DAY_NAMES,
    FIRST_SUPPORTED_DATE,
    LAST_SUPPORTED_DATE,
    MAX_EMBARGO_DATES,
    WindowSpec,
)
from planner.engine.zones import (
    TZ_DATABASES,
    TzDatabase,
    ZoneNotFoundError,
    load_zone,
    tzdata_version,
)

__all__ = [
    "API_FIELDS",
    "Coverage",
    "DAY_NAMES",
    "EMBARGO_RULES",
    "EmbargoRule",
    "FIRST_INSTANT",
    "FIRST_SUPPORTED_DATE",
    "LAST_INSTANT",
    "LAST_SUPPORTED_DATE",
    "MAX_EMBARGO_DATES",
    "Problem",
    "SEARCH_LIMIT_DAYS",
    "SpecError",
    "TZ_DATABASES",
    "TzDatabase",
    "Window",
    "WindowSpec",
    "ZoneNotFoundError",
    "coverage",
    "coverage_of",
    "day_exists",
    "expand",
    "load_zone",
    "next_open_window",
    "next_windows",
    "parse_instant",
    "resolve_local",
    "tzdata_version",
    "window_at",
]
