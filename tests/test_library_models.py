"""The API client's Connector models feed the plan and the calendar functions directly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from planner import Connector, ExportOptions, fleet_calendar, make_plan
from planner.fleet import parse_fleet_file

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CONNECTORS = json.loads((SAMPLES / "connectors.json").read_text(encoding="utf-8"))["result"]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_make_plan_accepts_client_models() -> None:
    """A plan from Connector models equals the plan from the API's objects."""
    fleet = parse_fleet_file((SAMPLES / "fleet.toml").read_text(encoding="utf-8"))
    models = [Connector.from_api(connector) for connector in CONNECTORS]

    from_models = make_plan(fleet, models, NOW)
    from_objects = make_plan(fleet, CONNECTORS, NOW)

    # The models hold numbers as floats (2.0 for 2), which JSON and so the content hash spell
    # differently; the values themselves are equal.
    without_hash = {key: value for key, value in from_models.to_json().items() if key != "content_hash"}
    assert without_hash == {key: value for key, value in from_objects.to_json().items() if key != "content_hash"}


def test_fleet_calendar_accepts_client_models() -> None:
    """A fleet calendar from Connector models equals the one from the API's objects."""
    options = ExportOptions(start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2027, 2, 1, tzinfo=UTC))
    models = [Connector.from_api(connector) for connector in CONNECTORS[:6]]

    assert fleet_calendar(models, options).text == fleet_calendar(CONNECTORS[:6], options).text
