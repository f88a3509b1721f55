"""The window fields of a connector object, and how two sets of them are compared."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.engine import API_FIELDS, DAY_NAMES


def window_fields(connector: Mapping[str, Any]) -> dict[str, Any]:
    """Return the window fields (`timezone` and the `interrupt_window_*` fields) present in a connector object."""
    return {name: connector[name] for name in API_FIELDS if name in connector}


def differing_fields(current: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the names of the window fields in `desired` whose value differs from `current`.

    Values are compared as the API means them: 2 equals 2.0, and the order of days and embargo
    dates does not matter. An empty days list differs from a list of all seven days, because
    sending one in place of the other changes what the connector stores.
    """
    return tuple(
        name
        for name in API_FIELDS
        if name in desired and (name not in current or _normal(name, current[name]) != _normal(name, desired[name]))
    )


def _normal(name: str, value: Any) -> Any:
    if name == "interrupt_window_days_of_week" and isinstance(value, list):
        return tuple(sorted(set(map(str, value)), key=lambda day: (DAY_NAMES.index(day) if day in DAY_NAMES else 7, day)))
    if name == "interrupt_window_embargo_dates" and isinstance(value, list):
        return tuple(sorted(set(map(str, value))))
    if name in ("interrupt_window_hour_of_day", "interrupt_window_duration_hours") and isinstance(value, (int, float)):
        return float(value)
    return value
