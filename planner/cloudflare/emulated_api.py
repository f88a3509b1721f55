"""The emulator's connector store: routing, validation and the API's response envelopes.

This module contains no HTTP: `ConnectorStore.handle` takes a method, a path below `/client/v4`,
the query and the body, and returns a status with an envelope. The store follows
Cloudflare where a behaviour is documented. Where it is not (PUT with omitted fields, validation
codes, 404 codes), the store picks one behaviour, and for PUT it can play both.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import random
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from planner.engine import ZoneNotFoundError, load_zone

PutMode = Literal["merge", "reset"]
PUT_MODES: tuple[PutMode, ...] = ("merge", "reset")

DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MAX_EMBARGO_DATES = 100

# Codes documented by Cloudflare.
CODE_AUTHENTICATION = 10000
CODE_NO_ROUTE = 7003
CODE_RATE_LIMITED = 1015
CODE_INVALID_HEADERS = 6003

# NOTE: Cloudflare does not document the codes of connector validation errors, of an unknown
# connector id or of a wrong method; these are the emulator's own, all >= 1000 like real codes.
CODE_INVALID_JSON = 1001
CODE_UNKNOWN_FIELD = 1002
CODE_WRONG_TYPE = 1003
CODE_INVALID_DAY = 1004
CODE_DURATION_RANGE = 1005
CODE_TOO_MANY_EMBARGO_DATES = 1006
CODE_INVALID_EMBARGO_DATE = 1007
CODE_INVALID_TIMEZONE = 1008
CODE_INVALID_DEVICE = 1009
CODE_INVALID_QUERY = 1010
CODE_INVALID_REQUEST_LINE = 1011
CODE_HOUR_RANGE = 1012
CODE_NOT_FOUND = 1100
CODE_METHOD_NOT_ALLOWED = 7001
CODE_INTERNAL = 1000

_WINDOW_FIELDS = (
    "timezone",
    "interrupt_window_days_of_week",
    "interrupt_window_hour_of_day",
    "interrupt_window_duration_hours",
    "interrupt_window_embargo_dates",
)
_WRITABLE_FIELDS = ("activated", "notes", "primary", "site_id", *_WINDOW_FIELDS)

# The values a `reset` PUT gives to omitted fields, and the defaults of a created connector.
# An empty day list means every day, the API's documented default.
FIELD_DEFAULTS: Mapping[str, Any] = {
    "activated": False,
    "notes": "",
    "primary": True,
    "timezone": "UTC",
    "interrupt_window_days_of_week": [],
    "interrupt_window_hour_of_day": 0,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_embargo_dates": [],
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ACCOUNT_PATH = re.compile(r"^/accounts/([^/]+)/magic/connectors(?:/([^/]+))?/?$")


@dataclass(frozen=True, slots=True)
class Reply:
    """A status and a JSON envelope, before any fault touches them."""

    status: int
    envelope: dict[str, Any]
    wrote: bool = False


def success(result: Any) -> dict[str, Any]:
    """Return a success envelope."""
    return {"success": True, "errors": [], "messages": [], "result": result}


def failure(*errors: tuple[int, str]) -> dict[str, Any]:
    """Return a failure envelope with one entry per (code, message)."""
    return {
        "success": False,
        "errors": [{"code": code, "message": message} for code, message in errors],
        "messages": [],
        "result": None,
    }


class ConnectorStore:
    """The connectors of one account, and the API's responses to requests about them."""

    def __init__(
        self,
        connectors: Iterable[Mapping[str, Any]] = (),
        *,
        account_id: str,
        put_mode: PutMode = "merge",
        echo_license_key: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        if put_mode not in PUT_MODES:
            raise ValueError(f"invalid PUT mode {put_mode!r}; use one of {', '.join(PUT_MODES)}")
        self.account_id = account_id
        self.put_mode: PutMode = put_mode
        self.echo_license_key = echo_license_key
        self._rng = rng or random.Random(0)
        self._last_updated = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        self._connectors: dict[str, dict[str, Any]] = {}
        for item in connectors:
            if "id" not in item:
                raise ValueError(f"seed connector without an 'id': {dict(item)!r}")
            self._connectors[str(item["id"])] = copy.deepcopy(dict(item))

    def dump(self) -> list[dict[str, Any]]:
        """Return a deep copy of every stored connector, licence keys included."""
        return [copy.deepcopy(item) for item in self._connectors.values()]

    def get(self, connector_id: str) -> dict[str, Any] | None:
        """Return a deep copy of one stored connector, or None."""
        item = self._connectors.get(connector_id)
        return copy.deepcopy(item) if item is not None else None

    def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> Reply:
        """Return the response to one authenticated request; `path` is below `/client/v4`."""
        match = _ACCOUNT_PATH.match(path)
        if match is None or match.group(1) != self.account_id:
            # Cloudflare returns an auth error for an account the credentials do not cover.
            if match is not None:
                return Reply(403, failure((CODE_AUTHENTICATION, "Authentication error")))
            return Reply(404, failure((CODE_NO_ROUTE, "No route for the URI")))

        connector_id = match.group(2)
        if connector_id is None:
            if method == "GET":
                return self._list(query)
            if method == "POST":
                return self._create(body)
        else:
            if method in {"GET", "PATCH", "PUT", "DELETE"} and connector_id not in self._connectors:
                return Reply(404, failure((CODE_NOT_FOUND, f"connector {connector_id} not found")))
            if method == "GET":
                return Reply(200, success(self._public(self._connectors[connector_id])))
            if method == "PATCH":
                return self._write(connector_id, body, reset=False)
            if method == "PUT":
                return self._write(connector_id, body, reset=self.put_mode == "reset")
            if method == "DELETE":
                deleted = self._connectors.pop(connector_id)
                return Reply(200, success(self._public(deleted)), wrote=True)
        return Reply(405, failure((CODE_METHOD_NOT_ALLOWED, f"method {method} not allowed here")))

    def _list(self, query: Mapping[str, str]) -> Reply:
        device_type = query.get("device_type")
        if device_type is not None and device_type not in {"MANAGED", "LICENSED"}:
            return Reply(
                400,
                failure(
                    (
                        CODE_INVALID_QUERY,
                        f"device_type must be MANAGED or LICENSED, not {device_type!r}",
                    )
                ),
            )
        result = [
            self._public(item)
            for item in self._connectors.values()
            if device_type is None or (item.get("device") or {}).get("type") == device_type
        ]
        return Reply(200, success(result))

    def _create(self, body: bytes) -> Reply:
        data, problems = _parse_object(body)
        if data is not None:
            problems = validate_fields(data, allowed=(*_WRITABLE_FIELDS, "device"))
            problems += _validate_device_options(data.get("device"))
        if problems:
            return Reply(400, failure(*problems))
        assert data is not None

        options = data.pop("device")
        connector = {**copy.deepcopy(dict(FIELD_DEFAULTS)), **data}
        connector["id"] = self._new_id()
        device: dict[str, Any] = {"id": options.get("id") or self._new_id()}
        if "serial_number" in options:
            device.update(serial_number=options["serial_number"], type="MANAGED")
        else:
            device["type"] = "LICENSED"
        connector["device"] = device
        connector["last_updated"] = self._next_timestamp()
        self._connectors[connector["id"]] = connector

        result = self._public(connector)
        if options.get("provision_license") is True:
            connector["license_key"] = result["license_key"] = self._new_license_key()
        return Reply(200, success(result), wrote=True)

    def _write(self, connector_id: str, body: bytes, *, reset: bool) -> Reply:
        data, problems = _parse_object(body)
        if data is not None:
            problems = validate_fields(data, allowed=(*_WRITABLE_FIELDS, "provision_license"))
        if problems:
            return Reply(400, failure(*problems))
        assert data is not None

        connector = self._connectors[connector_id]
        rotate = data.pop("provision_license", False) is True
        if reset:
            for name in _WRITABLE_FIELDS:
                if name not in data:
                    if name in FIELD_DEFAULTS:
                        connector[name] = copy.deepcopy(FIELD_DEFAULTS[name])
                    else:
                        connector.pop(name, None)
        connector.update(copy.deepcopy(data))
        connector["last_updated"] = self._next_timestamp()

        result = self._public(connector)
        if rotate:
            # The previous key is revoked at once; the new one is returned only in this response.
            connector["license_key"] = result["license_key"] = self._new_license_key()
        return Reply(200, success(result), wrote=True)

    def _public(self, connector: Mapping[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(dict(connector))
        if not self.echo_license_key:
            result.pop("license_key", None)
        return result

    def _next_timestamp(self) -> str:
        # Strictly increasing, so every write changes `last_updated` even within one microsecond.
        now = dt.datetime.now(dt.UTC)
        if now <= self._last_updated:
            now = self._last_updated + dt.timedelta(microseconds=1)
        self._last_updated = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _new_id(self) -> str:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    def _new_license_key(self) -> str:
        return "CF-LK-" + uuid.UUID(int=self._rng.getrandbits(128), version=4).hex.upper()


def _parse_object(body: bytes) -> tuple[dict[str, Any] | None, list[tuple[int, str]]]:
    try:
        data = json.loads(body or b"null", parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        return None, [(CODE_INVALID_JSON, f"the request body is not valid JSON: {error}")]
    except RecursionError:
        return None, [(CODE_INVALID_JSON, "the request body nests JSON too deeply")]
    if not isinstance(data, dict):
        return None, [(CODE_INVALID_JSON, "the request body must be a JSON object")]
    return data, []


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def validate_fields(data: Mapping[str, Any], *, allowed: Iterable[str]) -> list[tuple[int, str]]:
    """Return a (code, message) for every schema violation in a request body."""
    allowed = set(allowed)
    problems: list[tuple[int, str]] = []
    for name in sorted(set(data) - allowed):
        problems.append((CODE_UNKNOWN_FIELD, f"unknown field {name!r}"))

    for name in ("activated", "primary", "provision_license"):
        if name in data and not isinstance(data[name], bool):
            problems.append((CODE_WRONG_TYPE, f"{name} must be a boolean"))
    for name in ("notes", "site_id", "timezone"):
        if name in data and not isinstance(data[name], str):
            problems.append((CODE_WRONG_TYPE, f"{name} must be a string"))

    if "timezone" in data and isinstance(data["timezone"], str):
        problems += _validate_timezone(data["timezone"])
    if "interrupt_window_days_of_week" in data:
        problems += _validate_days(data["interrupt_window_days_of_week"])
    if "interrupt_window_hour_of_day" in data:
        problems += _validate_hour(data["interrupt_window_hour_of_day"])
    if "interrupt_window_duration_hours" in data:
        problems += _validate_duration(data["interrupt_window_duration_hours"])
    if "interrupt_window_embargo_dates" in data:
        problems += _validate_embargo_dates(data["interrupt_window_embargo_dates"])
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate_timezone(name: str) -> list[tuple[int, str]]:
    # NOTE: the API does not document the timezone format; the dashboard offers IANA names only.
    # The names come from the tzdata package, so machine-local files such as "localtime" in
    # the system database do not count.
    try:
        load_zone(name)
    except ZoneNotFoundError:
        return [(CODE_INVALID_TIMEZONE, f"timezone {name!r} is not an IANA time zone name")]
    return []


def _validate_hour(hour: Any) -> list[tuple[int, str]]:
    # NOTE: the schema sets no bounds on the hour; the dashboard offers the hours 0 to 23.
    if not _is_number(hour):
        return [(CODE_WRONG_TYPE, "interrupt_window_hour_of_day must be a number")]
    if not 0 <= hour < 24:
        return [
            (
                CODE_HOUR_RANGE,
                f"interrupt_window_hour_of_day must be at least 0 and below 24, got {hour}",
            )
        ]
    return []


def _validate_days(days: Any) -> list[tuple[int, str]]:
    if not isinstance(days, list):
        return [(CODE_WRONG_TYPE, "interrupt_window_days_of_week must be an array")]
    return [
        (CODE_INVALID_DAY, f"invalid day of week {day!r}; use one of {', '.join(DAY_NAMES)}")
        for day in days
        if day not in DAY_NAMES
    ]


def _validate_duration(hours: Any) -> list[tuple[int, str]]:
    if not _is_number(hours):
        return [(CODE_WRONG_TYPE, "interrupt_window_duration_hours must be a number")]
    if not 1 <= hours <= 24:
        return [
            (CODE_DURATION_RANGE, f"interrupt_window_duration_hours must be 1 to 24, got {hours}")
        ]
    return []


def _validate_embargo_dates(dates: Any) -> list[tuple[int, str]]:
    if not isinstance(dates, list):
        return [(CODE_WRONG_TYPE, "interrupt_window_embargo_dates must be an array")]
    problems = []
    if len(dates) > MAX_EMBARGO_DATES:
        problems.append(
            (
                CODE_TOO_MANY_EMBARGO_DATES,
                f"interrupt_window_embargo_dates has {len(dates)} dates; at most "
                f"{MAX_EMBARGO_DATES} are allowed",
            )
        )
    for day in dates:
        if not isinstance(day, str) or not _DATE.match(day) or not _is_calendar_date(day):
            problems.append(
                (CODE_INVALID_EMBARGO_DATE, f"invalid embargo date {day!r}; use YYYY-MM-DD")
            )
    return problems


def _is_calendar_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _validate_device_options(options: Any) -> list[tuple[int, str]]:
    if not isinstance(options, dict):
        return [(CODE_INVALID_DEVICE, "device is required and must be an object")]
    given = [name for name in ("id", "serial_number", "provision_license") if name in options]
    if len(given) != 1 or len(options) != 1:
        return [
            (
                CODE_INVALID_DEVICE,
                "device must contain exactly one of id, serial_number or provision_license",
            )
        ]

    name, value = given[0], options[given[0]]
    if name == "provision_license" and not isinstance(value, bool):
        return [(CODE_INVALID_DEVICE, "device.provision_license must be a boolean")]
    if name != "provision_license" and (not isinstance(value, str) or not value):
        return [(CODE_INVALID_DEVICE, f"device.{name} must be a non-empty string")]
    return []
