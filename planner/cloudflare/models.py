"""The connector object, parsed tolerantly from API responses.

Unknown fields are kept in `Connector.extra`, and any field the schema calls optional (or even
required) may be missing, so a newer or older API version still parses. The `license_key` is a
secret: it never appears in a repr, in `to_api()` output or in logs, at any depth of the object;
`REDACTED` stands in its place.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from planner.cloudflare.errors import InvalidInputError

if TYPE_CHECKING:
    from planner.engine import WindowSpec

REDACTED = "<redacted>"

# The window fields and `timezone`: the only fields an edit sends.
WINDOW_FIELDS: tuple[str, ...] = (
    "timezone",
    "interrupt_window_days_of_week",
    "interrupt_window_hour_of_day",
    "interrupt_window_duration_hours",
    "interrupt_window_embargo_dates",
)

# Every field a PUT accepts except `provision_license`, which rotates the licence key.
WRITABLE_FIELDS: tuple[str, ...] = ("activated", "notes", "primary", "site_id", *WINDOW_FIELDS)

_KNOWN_FIELDS = frozenset(
    {
        *WRITABLE_FIELDS,
        "id",
        "device",
        "last_updated",
        "last_heartbeat",
        "last_seen_version",
        "license_key",
    }
)


@dataclass(frozen=True, slots=True)
class Device:
    """The appliance behind a connector: `type` is MANAGED (hardware) or LICENSED (virtual)."""

    id: str | None = None
    serial_number: str | None = None
    type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Device:
        """Build a device from the API's `device` object, keeping unknown fields."""
        known = {"id", "serial_number", "type"}
        return cls(
            id=_optional_str(data.get("id")),
            serial_number=_optional_str(data.get("serial_number")),
            type=_optional_str(data.get("type")),
            extra=MappingProxyType({k: v for k, v in data.items() if k not in known}),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the device as the API spells it, without fields that were missing.

        A `license_key` among the unknown fields, at any depth, is redacted.
        """
        data: dict[str, Any] = redact_license_keys(dict(self.extra))
        for name in ("id", "serial_number", "type"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@dataclass(frozen=True, slots=True, repr=False)
class Connector:
    """A Magic WAN Connector as the API returns it; fields keep the API's names."""

    id: str
    notes: str | None = None
    activated: bool | None = None
    primary: bool | None = None
    site_id: str | None = None
    timezone: str | None = None
    interrupt_window_days_of_week: tuple[str, ...] | None = None
    interrupt_window_hour_of_day: float | None = None
    interrupt_window_duration_hours: float | None = None
    interrupt_window_embargo_dates: tuple[str, ...] | None = None
    last_updated: str | None = None
    last_heartbeat: str | None = None
    last_seen_version: str | None = None
    device: Device | None = None
    license_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Connector:
        """Build a connector from the API's connector object.

        Raises ValueError when `data` is not an object or has no string `id`; every other field
        may be missing. Values of the wrong type are kept as sent, so nothing is lost.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a connector object, got {type(data).__name__}")
        connector_id = data.get("id")
        if not isinstance(connector_id, str) or not connector_id:
            raise ValueError(f"connector object without a string 'id': id={connector_id!r}")

        device = data.get("device")
        return cls(
            id=connector_id,
            notes=data.get("notes"),
            activated=data.get("activated"),
            primary=data.get("primary"),
            site_id=data.get("site_id"),
            timezone=data.get("timezone"),
            interrupt_window_days_of_week=_optional_tuple(
                data.get("interrupt_window_days_of_week")
            ),
            interrupt_window_hour_of_day=_optional_number(data.get("interrupt_window_hour_of_day")),
            interrupt_window_duration_hours=_optional_number(
                data.get("interrupt_window_duration_hours")
            ),
            interrupt_window_embargo_dates=_optional_tuple(
                data.get("interrupt_window_embargo_dates")
            ),
            last_updated=data.get("last_updated"),
            last_heartbeat=data.get("last_heartbeat"),
            last_seen_version=data.get("last_seen_version"),
            device=Device.from_api(device) if isinstance(device, Mapping) else None,
            license_key=data.get("license_key"),
            extra=MappingProxyType(
                {
                    name: value
                    for name, value in data.items()
                    # A `device` that is not an object is kept as sent, among the unknown fields.
                    if name not in _KNOWN_FIELDS
                    or (name == "device" and not isinstance(value, Mapping))
                }
            ),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the connector as the API spells it, with `license_key` redacted if present.

        Fields that were missing in the response stay missing; unknown fields come back as sent,
        except that a `license_key` inside them, at any depth, is redacted too.
        """
        data: dict[str, Any] = redact_license_keys(dict(self.extra))
        for item in dataclasses.fields(self):
            if item.name == "extra":
                continue
            value = getattr(self, item.name)
            if value is None:
                continue
            if item.name == "license_key":
                value = REDACTED
            elif item.name == "device":
                value = value.to_api()
            elif isinstance(value, tuple):
                value = list(value)
            data[item.name] = value
        return data

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.to_api().items())
        return f"Connector({shown})"

    def window_fields(self) -> dict[str, Any]:
        """Return the window fields and `timezone` that the connector has, as JSON values."""
        data = self.to_api()
        return {name: data[name] for name in WINDOW_FIELDS if name in data}

    def writable_fields(self) -> dict[str, Any]:
        """Return every writable field that the connector has, for a full PUT body.

        `provision_license` is never part of it, so sending this body keeps the licence key.
        """
        data = self.to_api()
        return {name: data[name] for name in WRITABLE_FIELDS if name in data}

    def window_spec(self) -> WindowSpec:
        """Return the connector's window as an engine spec; raises `SpecError` if it is invalid."""
        from planner.engine import WindowSpec

        return WindowSpec.from_api(self.window_fields())

    def with_window(self, window: WindowSpec | Mapping[str, Any]) -> Connector:
        """Return a copy with the window fields from `window` in place of the current ones."""
        fields = window_request_fields(window)
        return dataclasses.replace(
            self,
            timezone=fields.get("timezone", self.timezone),
            interrupt_window_days_of_week=_optional_tuple(
                fields.get("interrupt_window_days_of_week", self.interrupt_window_days_of_week)
            ),
            interrupt_window_hour_of_day=_optional_number(
                fields.get("interrupt_window_hour_of_day", self.interrupt_window_hour_of_day)
            ),
            interrupt_window_duration_hours=_optional_number(
                fields.get("interrupt_window_duration_hours", self.interrupt_window_duration_hours)
            ),
            interrupt_window_embargo_dates=_optional_tuple(
                fields.get("interrupt_window_embargo_dates", self.interrupt_window_embargo_dates)
            ),
        )


def window_request_fields(window: WindowSpec | Mapping[str, Any]) -> dict[str, Any]:
    """Return the request fields for a window change: a spec's five fields, or a mapping's.

    A mapping may hold any non-empty subset of `WINDOW_FIELDS`; any other key, such as
    `provision_license`, raises `InvalidInputError`, because an edit must not touch other fields.
    """
    if not isinstance(window, Mapping):
        return window.to_api()

    unknown = sorted(set(window) - set(WINDOW_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"a window change may only contain {', '.join(WINDOW_FIELDS)}; "
            f"remove {', '.join(repr(name) for name in unknown)}"
        )
    if not window:
        raise InvalidInputError("the window change is empty; give at least one window field")

    fields = {name: _json_value(value) for name, value in window.items()}
    for name, value in fields.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"invalid {name} {value!r}; use finite numbers, strings and lists of strings"
            ) from None
    return fields


def redact_license_keys(value: Any) -> Any:
    """Return a copy of a JSON value with every `license_key` value, at any depth, redacted."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if key == "license_key" else redact_license_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_license_keys(item) for item in value]
    return value


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _optional_tuple(value: Any) -> Any:
    # Lists become tuples so the frozen connector stays immutable; other values stay as sent.
    return tuple(value) if isinstance(value, list | tuple) else value


def _optional_number(value: Any) -> Any:
    # The SDKs read both numbers as floats; booleans are ints in Python but not numbers in JSON.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
