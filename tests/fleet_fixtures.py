"""Shared helpers for the fleet tests: sample connectors and an in-memory connectors API."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

from planner.fleet import RemoteError

NOW = datetime.datetime(2026, 12, 4, 20, 0, tzinfo=datetime.UTC)

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Sydney", "UTC")


def make_connector(number: int, **fields: Any) -> dict[str, Any]:
    """Return a connector object as the API lists it, numbered for a stable id and notes."""
    connector: dict[str, Any] = {
        "id": f"conn-{number:04d}",
        "notes": f"branch-{number:04d}",
        "activated": True,
        "last_updated": "2026-11-01T00:00:00Z",
        "timezone": ZONES[number % len(ZONES)],
        "interrupt_window_days_of_week": ["Tuesday"],
        "interrupt_window_hour_of_day": 14,
        "interrupt_window_duration_hours": 2,
        "interrupt_window_embargo_dates": [],
        "primary": number % 2 == 0,
        "site_id": f"site-{number // 2:04d}",
        "device": {"id": f"dev-{number:04d}", "type": "MANAGED"},
        "license_key": f"LICENSE-SECRET-{number:04d}",
    }
    connector.update(fields)
    return connector


class FakeConnectorsAPI:
    """An in-memory stand-in for the connectors API, for unit tests of the rollout logic.

    `fail` maps a connector id to the number of PATCH requests for it that fail before one succeeds.
    """

    def __init__(self, connectors: list[dict[str, Any]]) -> None:
        self.connectors = {connector["id"]: copy.deepcopy(connector) for connector in connectors}
        self.fail: dict[str, int] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.lists = 0

    async def list_connectors(self) -> list[dict[str, Any]]:
        self.lists += 1
        return [copy.deepcopy(connector) for connector in self.connectors.values()]

    async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        self.patches.append((connector_id, dict(fields)))
        if self.fail.get(connector_id, 0) > 0:
            self.fail[connector_id] -= 1
            raise RemoteError(f"connector {connector_id}: HTTP 500 from the fake", status=500)
        if connector_id not in self.connectors:
            raise RemoteError(f"connector {connector_id} not found", status=404)
        self.connectors[connector_id].update(copy.deepcopy(dict(fields)))
        return copy.deepcopy(self.connectors[connector_id])
