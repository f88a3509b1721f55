"""The window spec: a connector's interrupt-window settings as one validated value."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from planner.engine.errors import Problem, SpecError
from planner.engine.zones import (
    TZ_DATABASES,
    TzDatabase,
    load_zone,
    suggest_zones,
    windows_zone_to_iana,
    zone_names,
)

# The API's order and spelling; `interrupt_window_days_of_week` is sent in this order.
DAY_NAMES: tuple[str, ...] = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
)

# Dates and instants the engine works with. The IANA database has data for these years, and the
# bounds keep every day's UTC interval far from the ends of Python's datetime range.
FIRST_SUPPORTED_DATE = date(1900, 1, 1)
LAST_SUPPORTED_DATE = date(2199, 12, 31)

# The API accepts at most this many `interrupt_window_embargo_dates`.
MAX_EMBARGO_DATES = 100

_DAY_INDEX: dict[str, int] = {}
for _index, _name in enumerate(DAY_NAMES):
    _DAY_INDEX[_name.casefold()] = _index
    _DAY_INDEX[_name[:3].casefold()] = _index

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Floats such as 1/3 hour arrive as 0.3333333333333333; anything this close to a whole minute is one.
_MINUTE_TOLERANCE = 1e-6

_API_FIELD_FOR = {
    "days_of_week": "interrupt_window_days_of_week",
    "hour_of_day": "interrupt_window_hour_of_day",
    "duration_hours": "interrupt_window_duration_hours",
    "embargo_dates": "interrupt_window_embargo_dates",
}

API_FIELDS: tuple[str, ...] = (
    "timezone",
    "interrupt_window_days_of_week",
    "interrupt_window_hour_of_day",
    "interrupt_window_duration_hours",
    "interrupt_window_embargo_dates",
)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A connector's interrupt-window settings, validated.

    The fields mirror the connectors API without the `interrupt_window_` prefix. The constructor
    accepts the forms people type and normalises them. Days can be names or three-letter
    abbreviations in any case, ranges such as "Mon-Fri" or "Fri-Mon", or a comma-separated string
    of those. Embargo dates can be `date` objects, "YYYY-MM-DD" strings or inclusive "START..END"
    ranges. Windows zone names are mapped to their IANA name with a warning. Every invalid value is
    reported at once in a `SpecError`.

    After construction `days_of_week` contains capitalised day names in the API's Sunday-to-Saturday
    order, `embargo_dates` is sorted and free of duplicates, and `timezone` is an IANA name that
    loads from `tz_database`.
    """

    timezone: str
    hour_of_day: float
    duration_hours: float
    days_of_week: tuple[str, ...] = DAY_NAMES
    embargo_dates: tuple[date, ...] = ()
    tz_database: TzDatabase = "tzdata"
    warnings: tuple[str, ...] = field(default=(), compare=False, init=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        warnings: list[str] = []

        if self.tz_database not in TZ_DATABASES:
            problems.append(
                Problem(
                    "tz_database",
                    self.tz_database,
                    f"unknown time zone database {self.tz_database!r}; use 'tzdata' or 'system'",
                )
            )
            database: TzDatabase = "tzdata"
        else:
            database = self.tz_database

        timezone = _check_timezone(self.timezone, database, problems, warnings)
        days = _check_days(self.days_of_week, problems)
        _check_hour(self.hour_of_day, problems)
        _check_duration(self.duration_hours, problems)
        embargo = _check_embargo(self.embargo_dates, problems)

        if problems:
            raise SpecError(problems)

        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "days_of_week", days)
        # Stored as whole minutes / 60, so to_api() sends the value the windows are computed from.
        object.__setattr__(self, "hour_of_day", round(self.hour_of_day * 60) / 60)
        object.__setattr__(self, "duration_hours", round(self.duration_hours * 60) / 60)
        object.__setattr__(self, "embargo_dates", embargo)
        object.__setattr__(self, "warnings", tuple(warnings))

    @classmethod
    def parse(
        cls,
        *,
        timezone: str,
        hour_of_day: float,
        duration_hours: float,
        days_of_week: Iterable[str] | str | None = None,
        embargo_dates: Iterable[str | date] | str = (),
        tz_database: TzDatabase = "tzdata",
    ) -> WindowSpec:
        """Build a spec from user input; `days_of_week=None` means every day.

        An empty list of days is an error here, because a user who typed no day most likely forgot
        one. The API's empty list is read by `from_api`, where it means every day.
        """
        days = DAY_NAMES if days_of_week is None else _as_items(days_of_week)
        embargo = _as_items(embargo_dates) if isinstance(embargo_dates, str) else tuple(embargo_dates)
        return cls(
            timezone=timezone,
            days_of_week=days,
            hour_of_day=hour_of_day,
            duration_hours=duration_hours,
            embargo_dates=embargo,  # type: ignore[arg-type]  # normalised by __post_init__
            tz_database=tz_database,
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, tz_database: TzDatabase = "tzdata") -> WindowSpec:
        """Build a spec from a connector object, alone or inside the API's response envelope.

        A missing or empty `interrupt_window_days_of_week` means every day, the API's documented
        default.
        """
        connector = _unwrap_envelope(data)
        problems = [
            Problem(name, None, f"missing field {name!r} in the connector object")
            for name in ("timezone", "interrupt_window_hour_of_day", "interrupt_window_duration_hours")
            if name not in connector
        ]
        if problems:
            raise SpecError(problems)

        days = connector.get("interrupt_window_days_of_week") or DAY_NAMES
        embargo: Any = connector.get("interrupt_window_embargo_dates") or ()
        if isinstance(embargo, str):
            embargo = (embargo,)
        try:
            return cls(
                timezone=connector["timezone"],
                days_of_week=days,
                hour_of_day=connector["interrupt_window_hour_of_day"],
                duration_hours=connector["interrupt_window_duration_hours"],
                embargo_dates=tuple(embargo),
                tz_database=tz_database,
            )
        except SpecError as error:
            # Name the fields as they appear in the connector object, which is what the user has.
            raise SpecError(
                [
                    Problem(_API_FIELD_FOR.get(problem.field, problem.field), problem.value, problem.message)
                    for problem in error.problems
                ]
            ) from None

    def to_api(self) -> dict[str, Any]:
        """Return the API's request fields for this spec, ready to be sent as JSON."""
        return {
            "timezone": self.timezone,
            "interrupt_window_days_of_week": list(self.days_of_week),
            "interrupt_window_hour_of_day": _json_number(self.hour_of_day),
            "interrupt_window_duration_hours": _json_number(self.duration_hours),
            "interrupt_window_embargo_dates": [day.isoformat() for day in self.embargo_dates],
        }

    @property
    def zone(self) -> ZoneInfo:
        """The time zone, loaded from `tz_database`."""
        return load_zone(self.timezone, self.tz_database)

    @property
    def start_minute(self) -> int:
        """The start time of day in whole minutes after local midnight."""
        return round(self.hour_of_day * 60)

    @property
    def duration(self) -> timedelta:
        """The window's length in elapsed time."""
        return timedelta(minutes=round(self.duration_hours * 60))

    @property
    def iso_weekdays(self) -> frozenset[int]:
        """The allowed days as `date.weekday()` numbers (Monday is 0)."""
        return frozenset((DAY_NAMES.index(day) - 1) % 7 for day in self.days_of_week)

    def describe(self) -> str:
        """Return a one-line summary, such as "Sat, Sun at 02:00 for 4 h (Europe/Berlin)".

        Days are listed Monday first for reading; `days_of_week` keeps the API's order.
        """
        days = _describe_days(self.days_of_week)
        hours, minutes = divmod(self.start_minute, 60)
        duration_minutes = round(self.duration_hours * 60)
        if duration_minutes % 60:
            duration = f"{duration_minutes // 60} h {duration_minutes % 60} min"
        else:
            duration = f"{duration_minutes // 60} h"
        return f"{days} at {hours:02d}:{minutes:02d} for {duration} ({self.timezone})"


def _describe_days(days: tuple[str, ...]) -> str:
    """Name the days Monday first, as people read a week, with three or more in a row as a range."""
    if len(days) == 7:
        return "every day"
    monday_first = sorted((DAY_NAMES.index(day) - 1) % 7 for day in days)
    runs: list[list[int]] = []
    for index in monday_first:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    names = [DAY_NAMES[(index + 1) % 7][:3] for index in range(7)]
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{names[run[0]]}-{names[run[-1]]}")
        else:
            parts.extend(names[index] for index in run)
    return ", ".join(parts)


def _unwrap_envelope(data: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SpecError(
            [Problem("connector", type(data).__name__, "expected a connector object (a JSON object)")]
        )
    if data.get("success") is False:
        errors = data.get("errors") or []
        detail = "; ".join(
            f"{error.get('code', '?')}: {error.get('message', '')}" if isinstance(error, Mapping) else str(error)
            for error in errors
        )
        raise SpecError(
            [
                Problem(
                    "success",
                    False,
                    f"the file holds a failed API response ({detail or 'no errors listed'}), "
                    "not a connector; fetch the connector again",
                )
            ]
        )
    if "result" in data and "timezone" not in data:
        result = data["result"]
        if not isinstance(result, Mapping):
            raise SpecError(
                [
                    Problem(
                        "result",
                        type(result).__name__,
                        "the envelope's result is not one connector object; "
                        "pass a single connector's response",
                    )
                ]
            )
        return result
    return data


def _as_items(value: Iterable[Any] | str) -> tuple[Any, ...]:
    """Split "Mon-Fri, Sun" style strings on commas; leave other iterables as they are."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return tuple(value)


def _json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _check_timezone(
    value: object, database: TzDatabase, problems: list[Problem], warnings: list[str]
) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(
            Problem("timezone", value, "must be an IANA time zone name such as 'Europe/Berlin'")
        )
        return ""
    name = value.strip()
    if name in zone_names(database):
        load_zone(name, database)
        return name

    # An IANA name in the wrong case ('utc', 'europe/berlin') gets a suggestion, not a silent
    # mapping through the Windows table, which also lists some IANA-like names.
    suggestions = suggest_zones(name, database)
    iana = windows_zone_to_iana(name)
    if iana is not None and iana in zone_names(database) and name.casefold() not in _folded_names(database):
        warnings.append(f"timezone {value!r} is a Windows zone name; using its IANA name {iana!r}")
        return iana

    if suggestions:
        hint = "did you mean " + " or ".join(repr(suggestion) for suggestion in suggestions) + "?"
    else:
        hint = "use an IANA name such as 'Europe/Berlin' or 'America/New_York'"
    problems.append(Problem("timezone", value, f"unknown time zone {value!r}; {hint}"))
    return name


def _folded_names(database: TzDatabase) -> set[str]:
    return {candidate.casefold() for candidate in zone_names(database)}


def _check_days(value: Iterable[str] | None, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:  # None, like the API's default, means every day
        return DAY_NAMES
    if isinstance(value, str):
        items: tuple[Any, ...] = _as_items(value)
    else:
        items = tuple(value)
    if not items:
        problems.append(
            Problem(
                "days_of_week",
                [],
                "no day given; name at least one, such as 'Sat', 'Saturday' or 'Mon-Fri'",
            )
        )
        return ()

    chosen: set[int] = set()
    for item in items:
        indices = _day_indices(item)
        if indices is None:
            problems.append(
                Problem(
                    "days_of_week",
                    item,
                    f"invalid day {item!r}; use a day name (Monday), its three-letter "
                    "abbreviation (Mon) or a range (Mon-Fri)",
                )
            )
        else:
            chosen.update(indices)
    return tuple(DAY_NAMES[index] for index in sorted(chosen))


def _day_indices(item: object) -> list[int] | None:
    if not isinstance(item, str):
        return None
    text = item.strip().casefold()
    if text in _DAY_INDEX:
        return [_DAY_INDEX[text]]
    first, dash, last = text.partition("-")
    if not dash or first.strip() not in _DAY_INDEX or last.strip() not in _DAY_INDEX:
        return None

    # A range runs forward through the week and may wrap: Fri-Mon is Fri, Sat, Sun, Mon.
    start, stop = _DAY_INDEX[first.strip()], _DAY_INDEX[last.strip()]
    length = (stop - start) % 7 + 1
    return [(start + offset) % 7 for offset in range(length)]


def _whole_minutes(value: float) -> bool:
    minutes = value * 60
    return abs(minutes - round(minutes)) < _MINUTE_TOLERANCE


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_hour(value: object, problems: list[Problem]) -> None:
    if not _is_number(value):
        problems.append(
            Problem(
                "hour_of_day",
                value,
                f"{value!r} is not a number; use hours from 0 up to 24, exclusive (2.5 is 02:30)",
            )
        )
        return
    assert isinstance(value, (int, float))
    if not 0 <= value < 24:
        problems.append(
            Problem(
                "hour_of_day",
                value,
                f"{value!r} is out of range; use 0 <= hour < 24, the latest start being 23:59",
            )
        )
    elif round(value * 60) >= 24 * 60:
        problems.append(
            Problem(
                "hour_of_day",
                value,
                f"{value!r} rounds to 24:00; use 0 <= hour < 24, the latest start being 23:59",
            )
        )
    elif not _whole_minutes(value):
        problems.append(
            Problem(
                "hour_of_day",
                value,
                f"{value!r} is not a whole minute; use a multiple of 1/60, such as 2.25 for 02:15",
            )
        )


def _check_duration(value: object, problems: list[Problem]) -> None:
    if not _is_number(value):
        problems.append(
            Problem("duration_hours", value, f"{value!r} is not a number; use hours from 1 to 24")
        )
        return
    assert isinstance(value, (int, float))
    if not 1 <= value <= 24:
        problems.append(
            Problem("duration_hours", value, f"{value!r} is out of range; use 1 to 24 hours")
        )
    elif not _whole_minutes(value):
        problems.append(
            Problem(
                "duration_hours",
                value,
                f"{value!r} is not a whole minute; use a multiple of 1/60, such as 1.5 for 90 minutes",
            )
        )


def _check_embargo(value: Iterable[object], problems: list[Problem]) -> tuple[date, ...]:
    if isinstance(value, (str, date)):
        value = (value,)
    dates: set[date] = set()
    for item in value:
        expanded = _embargo_item(item, problems)
        dates.update(expanded)
    if len(dates) > MAX_EMBARGO_DATES:
        problems.append(
            Problem(
                "embargo_dates",
                len(dates),
                f"{len(dates)} embargo dates after expanding ranges; the API accepts at most "
                f"{MAX_EMBARGO_DATES}, so shorten the ranges or drop past dates",
            )
        )
    return tuple(sorted(dates))


def _embargo_item(item: object, problems: list[Problem]) -> list[date]:
    if isinstance(item, date) and not isinstance(item, datetime):
        return _in_supported_years(item, item, problems)
    if not isinstance(item, str):
        problems.append(
            Problem(
                "embargo_dates",
                item,
                f"{item!r} is not a date; use 'YYYY-MM-DD' or an inclusive range 'START..END'",
            )
        )
        return []

    first, dots, last = item.strip().partition("..")
    parts = [first.strip(), last.strip()] if dots else [first.strip()]
    parsed = [_iso_date(part) for part in parts]
    for index, (part, result) in enumerate(zip(parts, parsed)):
        if isinstance(result, str) and part not in parts[:index]:
            where = f"{part!r} in range {item!r}" if dots else repr(part)
            problems.append(Problem("embargo_dates", item, f"{where} {result}"))
    if any(isinstance(result, str) for result in parsed):
        return []
    dates = [result for result in parsed if isinstance(result, date)]
    if len(dates) == 1:
        return _in_supported_years(dates[0], item, problems)

    start, stop = dates
    if stop < start:
        problems.append(
            Problem(
                "embargo_dates",
                item,
                f"range {item!r} ends before it starts; write it as "
                f"'{stop.isoformat()}..{start.isoformat()}'",
            )
        )
        return []
    span = (stop - start).days + 1
    if span > MAX_EMBARGO_DATES:
        problems.append(
            Problem(
                "embargo_dates",
                item,
                f"range {item!r} covers {span} days; the API accepts at most {MAX_EMBARGO_DATES} dates",
            )
        )
        return []
    if not _in_supported_years(start, item, problems) or not _in_supported_years(stop, item, []):
        return []
    return [start + timedelta(days=offset) for offset in range(span)]


def _iso_date(text: str) -> date | str:
    """Return the date, or the reason `text` is not one."""
    if not _ISO_DATE.fullmatch(text):
        return "is not a date; use YYYY-MM-DD or an inclusive range START..END"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return "is not a calendar date; check the month and day"


def _in_supported_years(day: date, item: object, problems: list[Problem]) -> list[date]:
    if FIRST_SUPPORTED_DATE <= day <= LAST_SUPPORTED_DATE:
        return [day]
    problems.append(
        Problem(
            "embargo_dates",
            item,
            f"{day.isoformat()} is outside the supported dates "
            f"{FIRST_SUPPORTED_DATE.isoformat()} to {LAST_SUPPORTED_DATE.isoformat()}",
        )
    )
    return []
