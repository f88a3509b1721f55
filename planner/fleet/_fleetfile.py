"""Fleet files: TOML that sets the window each group of connectors should have.

    horizon_days = 180          # days ahead that plans, yearly embargoes and staggering cover
    prune_past = true           # drop embargo dates before today (the connector's local date)

    [[policy]]                  # policies apply in order; the first that matches wins
    name = "branches"
    match = { notes = "branch-*" }   # or ids, site_id, timezone (glob), device_type, all = true
    days = ["Saturday", "Sunday"]    # unset keys keep each connector's current value
    hour = 2
    duration = 4
    timezone = "Europe/Berlin"
    embargo = ["2027-01-15", "2027-11-26..2027-11-29"]   # replaces the connector's own dates
    yearly = ["12-24..12-26", "12-20..01-05"]
    holidays = ["US", "DE-BY"]

    [stagger]
    max_concurrent = 10         # at most 10 selected connectors in an open window at any instant
    ha = "disjoint"             # connectors sharing a site_id never have overlapping windows
    start_hours = "22-04"       # start hours staggering may move a window into, from 22:00 up to 04:00

Parsing collects every problem with its location (table and key) before raising, so a user fixes
the whole file in one pass.
"""

from __future__ import annotations

import datetime
import difflib
import fnmatch
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import holidays as holidays_package

from planner.engine import SpecError, WindowSpec
from planner.fleet._errors import FileProblem, FleetFileError

DEFAULT_HORIZON_DAYS = 180
MAX_HORIZON_DAYS = 3660

_TOP_KEYS = ("horizon_days", "prune_past", "policy", "stagger")
_POLICY_KEYS = ("name", "match", "timezone", "days", "hour", "duration", "embargo", "yearly", "holidays")
_MATCH_KEYS = ("notes", "ids", "site_id", "timezone", "device_type", "all")
_STAGGER_KEYS = ("max_concurrent", "ha", "start_hours")
_DEVICE_TYPES = ("MANAGED", "LICENSED")

# Fleet-file keys for the engine's field names.
_SPEC_KEYS = {"timezone": "timezone", "days_of_week": "days", "hour_of_day": "hour", "duration_hours": "duration"}
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_START_HOURS = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")


@dataclass(frozen=True, slots=True)
class Selector:
    """The `match` table of a policy. Every key given must hold for a connector to match."""

    notes: str | None = None
    ids: frozenset[str] | None = None
    site_id: str | None = None
    timezone: str | None = None
    device_type: str | None = None
    all: bool = False

    def matches(self, connector: Mapping[str, Any]) -> bool:
        """Return whether the connector object (API field names) satisfies every key of this selector."""
        # Globs are case-sensitive (fnmatchcase) so a match does not depend on the platform.
        if self.notes is not None and not fnmatch.fnmatchcase(str(connector.get("notes") or ""), self.notes):
            return False
        if self.ids is not None and connector.get("id") not in self.ids:
            return False
        if self.site_id is not None and connector.get("site_id") != self.site_id:
            return False
        if self.timezone is not None and not fnmatch.fnmatchcase(str(connector.get("timezone") or ""), self.timezone):
            return False
        if self.device_type is not None:
            device = connector.get("device") or {}
            if not isinstance(device, Mapping) or device.get("type") != self.device_type:
                return False
        return True


@dataclass(frozen=True, slots=True)
class YearlyRange:
    """A month-day range repeated every year; `first` after `last` means it runs across the new year."""

    first: tuple[int, int]
    last: tuple[int, int]


@dataclass(frozen=True, slots=True)
class HolidayRegion:
    """A country (ISO 3166-1 alpha-2) and optional subdivision known to the `holidays` package."""

    country: str
    subdivision: str | None = None

    def __str__(self) -> str:
        return self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"


@dataclass(frozen=True, slots=True)
class EmbargoSources:
    """The embargo sources of a policy: explicit dates, yearly ranges and public holidays."""

    dates: tuple[datetime.date, ...] = ()
    yearly: tuple[YearlyRange, ...] = ()
    holidays: tuple[HolidayRegion, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    """One `[[policy]]` table. A field left as None keeps each matching connector's current value."""

    name: str
    selector: Selector
    timezone: str | None = None
    days_of_week: tuple[str, ...] | None = None
    hour_of_day: float | None = None
    duration_hours: float | None = None
    embargo: EmbargoSources | None = None


@dataclass(frozen=True, slots=True)
class StartHours:
    """The band of local start hours staggering may move a window into, half-open: [first, last).

    `first` greater than `last` means the band runs across midnight (22-04 is 22:00 to 04:00).
    """

    first: int
    last: int

    def contains(self, hour: float) -> bool:
        """Return whether a start hour (0 <= hour < 24) lies in the band."""
        if self.first < self.last:
            return self.first <= hour < self.last
        return hour >= self.first or hour < self.last

    def hours(self) -> tuple[int, ...]:
        """Return the whole hours in the band, from its first hour on."""
        length = (self.last - self.first) % 24 or 24
        return tuple((self.first + offset) % 24 for offset in range(length))

    def __str__(self) -> str:
        return f"{self.first:02d}-{self.last:02d}"


@dataclass(frozen=True, slots=True)
class Stagger:
    """The `[stagger]` table: limits on how windows of the selected connectors may coincide."""

    max_concurrent: int | None = None
    ha_disjoint: bool = False
    start_hours: StartHours | None = None


@dataclass(frozen=True, slots=True)
class FleetFile:
    """A parsed, valid fleet file."""

    policies: tuple[Policy, ...]
    horizon_days: int = DEFAULT_HORIZON_DAYS
    prune_past: bool = True
    stagger: Stagger | None = None
    path: str = "<string>"

    def match(self, connector: Mapping[str, Any]) -> Policy | None:
        """Return the first policy whose selector matches the connector, or None."""
        for policy in self.policies:
            if policy.selector.matches(connector):
                return policy
        return None


def load_fleet_file(path: str | Path) -> FleetFile:
    """Read and parse a fleet file; raise FleetFileError listing every problem, or OSError."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FleetFileError(str(path), [FileProblem("file", f"not valid UTF-8 ({error.reason} at byte {error.start})")]) from None
    return parse_fleet_file(text, path=str(path))


def parse_fleet_file(text: str, *, path: str = "<string>") -> FleetFile:
    """Parse fleet file text; raise FleetFileError listing every problem with its table and key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FleetFileError(path, [FileProblem("file", f"not valid TOML: {error}")]) from None

    parser = _Parser()
    fleet = parser.fleet(document, path)
    if parser.problems:
        raise FleetFileError(path, parser.problems)
    assert fleet is not None
    return fleet


@dataclass
class _Parser:
    """Walks a TOML document, collecting problems instead of stopping at the first."""

    problems: list[FileProblem] = field(default_factory=list)

    def report(self, location: str, message: str) -> None:
        self.problems.append(FileProblem(location, message))

    def unknown_keys(self, table: Mapping[str, Any], known: Sequence[str], location: str, prefix: str = "") -> None:
        for key in table:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(known)}"
            self.report(_at(location, prefix + key), f"unknown key {key!r}{hint}")

    def fleet(self, document: Mapping[str, Any], path: str) -> FleetFile | None:
        top = "top level"
        self.unknown_keys(document, _TOP_KEYS, top)

        horizon_days = document.get("horizon_days", DEFAULT_HORIZON_DAYS)
        if not _is_int(horizon_days) or not 1 <= horizon_days <= MAX_HORIZON_DAYS:
            self.report(_at(top, "horizon_days"), f"expected a whole number of days from 1 to {MAX_HORIZON_DAYS}, got {horizon_days!r}")
            horizon_days = DEFAULT_HORIZON_DAYS

        prune_past = document.get("prune_past", True)
        if not isinstance(prune_past, bool):
            self.report(_at(top, "prune_past"), f"expected true or false, got {prune_past!r}")
            prune_past = True

        policies: list[Policy] = []
        raw_policies = document.get("policy")
        if raw_policies is None:
            self.report(_at(top, "policy"), "missing; add at least one [[policy]] table")
        elif not isinstance(raw_policies, list) or not all(isinstance(item, dict) for item in raw_policies):
            self.report(_at(top, "policy"), "expected an array of tables, written as [[policy]]")
        else:
            for number, raw in enumerate(raw_policies, start=1):
                policy = self.policy(raw, number)
                if policy is not None:
                    policies.append(policy)
            self.duplicate_names(raw_policies)

        stagger = None
        raw_stagger = document.get("stagger")
        if raw_stagger is not None:
            if isinstance(raw_stagger, dict):
                stagger = self.stagger(raw_stagger)
            else:
                self.report(_at(top, "stagger"), "expected a table, written as [stagger]")

        if self.problems:
            return None
        return FleetFile(tuple(policies), horizon_days, prune_past, stagger, path)

    def duplicate_names(self, raw_policies: list[dict[str, Any]]) -> None:
        seen: dict[str, int] = {}
        for number, raw in enumerate(raw_policies, start=1):
            name = raw.get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                self.report(_policy_at(number, raw, "name"), f"duplicate policy name {name!r}, already used by policy #{seen[name]}")
            else:
                seen[name] = number

    def policy(self, raw: Mapping[str, Any], number: int) -> Policy | None:
        before = len(self.problems)
        where = _policy_location(number, raw)
        self.unknown_keys(raw, _POLICY_KEYS, where)

        name = raw.get("name", f"policy #{number}")
        if not isinstance(name, str) or not name.strip():
            self.report(_at(where, "name"), f"expected a non-empty string, got {name!r}")

        selector = None
        raw_match = raw.get("match")
        if raw_match is None:
            self.report(_at(where, "match"), 'missing; say which connectors this policy is for, for example match = { notes = "branch-*" } or match = { all = true }')
        elif not isinstance(raw_match, dict):
            self.report(_at(where, "match"), f"expected an inline table such as {{ notes = \"branch-*\" }}, got {raw_match!r}")
        else:
            selector = self.selector(raw_match, where)

        timezone, days, hour, duration = self.window_fields(raw, where)
        embargo = self.embargo(raw, where)

        if len(self.problems) > before or selector is None:
            return None
        return Policy(str(name), selector, timezone, days, hour, duration, embargo)

    def selector(self, raw: Mapping[str, Any], where: str) -> Selector | None:
        before = len(self.problems)
        self.unknown_keys(raw, _MATCH_KEYS, where, "match.")
        if not raw:
            self.report(_at(where, "match"), 'empty; give at least one of notes, ids, site_id, timezone, device_type or all = true')

        for key in ("notes", "site_id", "timezone"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key]):
                self.report(_at(where, f"match.{key}"), f"expected a non-empty string, got {raw[key]!r}")
        ids = raw.get("ids")
        if ids is not None and (not isinstance(ids, list) or not ids or not all(isinstance(item, str) and item for item in ids)):
            self.report(_at(where, "match.ids"), f"expected a non-empty array of connector id strings, got {ids!r}")
        device_type = raw.get("device_type")
        if device_type is not None and device_type not in _DEVICE_TYPES:
            self.report(_at(where, "match.device_type"), f"expected one of {', '.join(_DEVICE_TYPES)}, got {device_type!r}")
        if "all" in raw and raw["all"] is not True:
            self.report(_at(where, "match.all"), f"expected true (leave the key out otherwise), got {raw['all']!r}")

        if len(self.problems) > before:
            return None
        return Selector(
            notes=raw.get("notes"),
            ids=frozenset(ids) if ids is not None else None,
            site_id=raw.get("site_id"),
            timezone=raw.get("timezone"),
            device_type=device_type,
            all=raw.get("all", False),
        )

    def window_fields(
        self, raw: Mapping[str, Any], where: str
    ) -> tuple[str | None, tuple[str, ...] | None, float | None, float | None]:
        """Check the window keys a policy sets with the engine's rules, filling in neutral values for the rest."""
        window_values = {field: raw[key] for field, key in _SPEC_KEYS.items() if key in raw}
        before = len(self.problems)
        # The engine would read true as 1 and an empty list as "every day", so catch both here.
        for name in ("hour_of_day", "duration_hours"):
            if isinstance(window_values.get(name), bool):
                self.report(_at(where, _SPEC_KEYS[name]), f"expected a number of hours, got {window_values.pop(name)!r}")
        if isinstance(window_values.get("days_of_week"), list) and not window_values["days_of_week"]:
            self.report(_at(where, "days"), 'empty; name at least one day, such as ["Saturday", "Sunday"] or ["Mon-Fri"]')
            window_values.pop("days_of_week")
        try:
            spec = WindowSpec.parse(
                timezone=window_values.get("timezone", "UTC"),
                days_of_week=window_values.get("days_of_week"),
                hour_of_day=window_values.get("hour_of_day", 0),
                duration_hours=window_values.get("duration_hours", 1),
            )
        except SpecError as error:
            for problem in error.problems:
                key = _SPEC_KEYS.get(problem.field, problem.field)
                self.report(_at(where, key), problem.message)
            return None, None, None, None
        except TypeError:
            # A value of the wrong TOML type, such as a table where a list belongs, fails before validation.
            for field, value in window_values.items():
                self.report(_at(where, _SPEC_KEYS[field]), f"value of the wrong type: {value!r}")
            return None, None, None, None
        if len(self.problems) > before:
            return None, None, None, None
        return (
            spec.timezone if "timezone" in window_values else None,
            spec.days_of_week if "days_of_week" in window_values else None,
            spec.hour_of_day if "hour_of_day" in window_values else None,
            spec.duration_hours if "duration_hours" in window_values else None,
        )

    def embargo(self, raw: Mapping[str, Any], where: str) -> EmbargoSources | None:
        if not any(key in raw for key in ("embargo", "yearly", "holidays")):
            return None
        dates = self.explicit_dates(raw.get("embargo", []), _at(where, "embargo"))
        yearly = self.yearly(raw.get("yearly", []), _at(where, "yearly"))
        regions = self.holiday_regions(raw.get("holidays", []), _at(where, "holidays"))
        return EmbargoSources(dates, yearly, regions)

    def explicit_dates(self, value: Any, where: str) -> tuple[datetime.date, ...]:
        if not isinstance(value, list):
            self.report(where, f"expected an array of dates (YYYY-MM-DD) or ranges (YYYY-MM-DD..YYYY-MM-DD), got {value!r}")
            return ()
        dates: set[datetime.date] = set()
        for item in value:
            # TOML has a date type, so both `2027-01-15` and `"2027-01-15"` are accepted.
            if isinstance(item, datetime.date) and not isinstance(item, datetime.datetime):
                dates.add(item)
                continue
            span = _parse_date_range(item) if isinstance(item, str) else None
            if span is None:
                self.report(where, f"invalid date or range {item!r}; expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD with the first date not after the last")
                continue
            first, last = span
            dates.update(first + datetime.timedelta(days=offset) for offset in range((last - first).days + 1))
        return tuple(sorted(dates))

    def yearly(self, value: Any, where: str) -> tuple[YearlyRange, ...]:
        if not isinstance(value, list):
            self.report(where, f"expected an array of month-days (MM-DD) or ranges (MM-DD..MM-DD), got {value!r}")
            return ()
        ranges: list[YearlyRange] = []
        for item in value:
            parsed = _parse_yearly(item) if isinstance(item, str) else None
            if parsed is None:
                self.report(where, f"invalid yearly date or range {item!r}; expected MM-DD or MM-DD..MM-DD, such as '12-24' or '12-20..01-05'")
                continue
            ranges.append(parsed)
        return tuple(ranges)

    def holiday_regions(self, value: Any, where: str) -> tuple[HolidayRegion, ...]:
        if not isinstance(value, list):
            self.report(where, f"expected an array of country codes with an optional subdivision, such as [\"US\", \"DE-BY\"], got {value!r}")
            return ()
        supported = holidays_package.list_supported_countries()
        regions: list[HolidayRegion] = []
        for item in value:
            if not isinstance(item, str) or not item:
                self.report(where, f"expected a country code string such as 'US' or 'DE-BY', got {item!r}")
                continue
            country, _, subdivision = item.partition("-")
            country = country.upper()
            if country not in supported:
                self.report(where, f"no public holidays known for country {country!r} (from {item!r}); use an ISO 3166-1 alpha-2 code supported by the holidays package")
                continue
            if subdivision and subdivision.upper() not in supported[country]:
                known = ", ".join(supported[country]) or "none"
                self.report(where, f"unknown subdivision {subdivision!r} of {country} (from {item!r}); known subdivisions: {known}")
                continue
            regions.append(HolidayRegion(country, subdivision.upper() or None))
        return tuple(regions)

    def stagger(self, raw: Mapping[str, Any]) -> Stagger | None:
        before = len(self.problems)
        where = "[stagger]"
        self.unknown_keys(raw, _STAGGER_KEYS, where)
        if not raw:
            self.report(where, "empty; give max_concurrent, ha or start_hours, or remove the table")

        max_concurrent = raw.get("max_concurrent")
        if max_concurrent is not None and (not _is_int(max_concurrent) or max_concurrent < 1):
            self.report(_at(where, "max_concurrent"), f"expected a whole number of connectors, at least 1, got {max_concurrent!r}")
        ha = raw.get("ha")
        if ha is not None and ha != "disjoint":
            self.report(_at(where, "ha"), f"expected \"disjoint\" (connectors sharing a site_id never have overlapping windows), got {ha!r}")

        start_hours = None
        if "start_hours" in raw:
            start_hours = _parse_start_hours(raw["start_hours"])
            if start_hours is None:
                self.report(_at(where, "start_hours"), f"expected a band of start hours \"HH-HH\" such as \"22-04\" (from 22:00 up to 04:00), two different hours from 0 to 24, got {raw['start_hours']!r}")

        if len(self.problems) > before:
            return None
        return Stagger(max_concurrent, ha == "disjoint", start_hours)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _at(where: str, key: str) -> str:
    return f"{where}, key {key!r}"


def _policy_location(number: int, raw: Mapping[str, Any]) -> str:
    name = raw.get("name")
    return f"[[policy]] #{number} ({name!r})" if isinstance(name, str) else f"[[policy]] #{number}"


def _policy_at(number: int, raw: Mapping[str, Any], key: str) -> str:
    return _at(_policy_location(number, raw), key)


def _parse_date_range(text: str) -> tuple[datetime.date, datetime.date] | None:
    first_text, separator, last_text = text.partition("..")
    try:
        first = datetime.date.fromisoformat(first_text.strip())
        last = datetime.date.fromisoformat(last_text.strip()) if separator else first
    except ValueError:
        return None
    if len(first_text.strip()) != 10 or (separator and len(last_text.strip()) != 10) or first > last:
        return None
    return first, last


def _parse_month_day(text: str) -> tuple[int, int] | None:
    found = _MONTH_DAY.match(text.strip())
    if found is None:
        return None
    month, day = int(found.group(1)), int(found.group(2))
    try:
        datetime.date(2000, month, day)  # 2000 is a leap year, so 02-29 is accepted.
    except ValueError:
        return None
    return month, day


def _parse_yearly(text: str) -> YearlyRange | None:
    first_text, separator, last_text = text.partition("..")
    first = _parse_month_day(first_text)
    last = _parse_month_day(last_text) if separator else first
    if first is None or last is None:
        return None
    return YearlyRange(first, last)


def _parse_start_hours(value: Any) -> StartHours | None:
    found = _START_HOURS.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    first, last = int(found.group(1)), int(found.group(2))
    if not (0 <= first <= 23 and 0 <= last <= 24):
        return None
    if last == 24 and first != 0:
        last = 0
    if first == last:
        return None
    return StartHours(first, last)
