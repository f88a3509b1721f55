"""Conformance with code written elsewhere: the official SDK and the published schema.

The official `cloudflare` SDK, pointed at the emulator, must parse every response. Every request
body our client sends and every response the emulator returns must validate against the OpenAPI
file in tests/data (with OpenAPI's `nullable` read as a JSON Schema null type).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cloudflare
import httpx
import pytest
from cloudflare_fixtures import (  # noqa: F401
    ACCOUNT_ID,
    BERLIN,
    TOKEN,
    emulator_fixture,  # noqa: F401
    make_client,
    request_schema,
    response_schema,
    schema_validator,
)

from planner.cloudflare.emulator import Emulator, RequestRecord
from planner.engine import WindowSpec

COLLECTION = "/accounts/{account_id}/magic/connectors"
ITEM = "/accounts/{account_id}/magic/connectors/{connector_id}"
SPEC = WindowSpec.parse(
    timezone="Australia/Adelaide",
    days_of_week=["Sun"],
    hour_of_day=1.5,
    duration_hours=2,
    embargo_dates=["2026-12-25", "2027-01-01"],
)


@pytest.fixture
def sdk(emulator: Emulator) -> Iterator[cloudflare.Cloudflare]:
    """The official SDK pointed at the emulator, without retries."""
    client = cloudflare.Cloudflare(api_token=TOKEN, base_url=emulator.base_url, max_retries=0)
    with client:
        yield client


class TestOfficialSdk:
    def test_list(self, sdk: cloudflare.Cloudflare) -> None:
        """The SDK lists and parses every connector."""
        page = sdk.magic_transit.connectors.list(account_id=ACCOUNT_ID)
        connectors = list(page)

        assert len(connectors) == 6
        assert connectors[0].id == BERLIN["id"]
        assert connectors[0].interrupt_window_days_of_week == ["Saturday", "Sunday"]

    def test_list_by_device_type(self, sdk: cloudflare.Cloudflare) -> None:
        """The device_type filter is understood."""
        connectors = list(
            sdk.magic_transit.connectors.list(
                account_id=ACCOUNT_ID, extra_query={"device_type": "LICENSED"}
            )
        )

        assert all(
            item.device is not None and item.device.type == "LICENSED" for item in connectors
        )

    def test_get(self, sdk: cloudflare.Cloudflare) -> None:
        """The SDK gets one connector with its device."""
        connector = sdk.magic_transit.connectors.get(BERLIN["id"], account_id=ACCOUNT_ID)

        assert connector.timezone == "Europe/Berlin"
        assert connector.device is not None
        assert connector.device.serial_number == BERLIN["device"]["serial_number"]

    def test_edit(self, sdk: cloudflare.Cloudflare, emulator: Emulator) -> None:
        """An SDK PATCH is applied and its response parses."""
        connector = sdk.magic_transit.connectors.edit(
            BERLIN["id"], account_id=ACCOUNT_ID, **SPEC.to_api()
        )

        assert connector.timezone == "Australia/Adelaide"
        assert connector.interrupt_window_hour_of_day == 1.5
        assert emulator.connector(BERLIN["id"])["interrupt_window_embargo_dates"] == [
            "2026-12-25",
            "2027-01-01",
        ]  # type: ignore[index]

    def test_update(self, sdk: cloudflare.Cloudflare) -> None:
        """An SDK PUT is applied and its response parses."""
        connector = sdk.magic_transit.connectors.update(
            BERLIN["id"], account_id=ACCOUNT_ID, notes="replaced", **SPEC.to_api()
        )

        assert connector.notes == "replaced"
        assert connector.interrupt_window_duration_hours == 2

    def test_create_and_delete(self, sdk: cloudflare.Cloudflare) -> None:
        """SDK create and delete round-trip through the emulator."""
        created = sdk.magic_transit.connectors.create(
            account_id=ACCOUNT_ID, device={"serial_number": "CF1999"}
        )
        deleted = sdk.magic_transit.connectors.delete(created.id, account_id=ACCOUNT_ID)

        assert created.device is not None
        assert created.device.type == "MANAGED"
        assert deleted.id == created.id

    def test_errors_map_to_sdk_exceptions(self, emulator: Emulator) -> None:
        """The SDK reads the emulator's 403, 404 and 400 as its own error classes."""
        with cloudflare.Cloudflare(
            api_token="wrong", base_url=emulator.base_url, max_retries=0
        ) as wrong:
            with pytest.raises(cloudflare.PermissionDeniedError):
                wrong.magic_transit.connectors.list(account_id=ACCOUNT_ID)
        with cloudflare.Cloudflare(
            api_token=TOKEN, base_url=emulator.base_url, max_retries=0
        ) as sdk:
            with pytest.raises(cloudflare.NotFoundError):
                sdk.magic_transit.connectors.get("missing", account_id=ACCOUNT_ID)
            with pytest.raises(cloudflare.BadRequestError):
                sdk.magic_transit.connectors.edit(
                    BERLIN["id"], account_id=ACCOUNT_ID, interrupt_window_duration_hours=48
                )


def template_of(record: RequestRecord) -> str:
    path = record.path.removeprefix("/client/v4")
    return ITEM if re.fullmatch(r"/accounts/[^/]+/magic/connectors/[^/]+", path) else COLLECTION


def exercise_everything(server: Emulator) -> None:
    """Send every operation, as our client and as raw requests, including each error."""
    with make_client(server) as client:
        client.list_connectors()
        client.list_connectors(device_type="MANAGED")
        client.get_connector(BERLIN["id"])
        client.edit_window(BERLIN["id"], SPEC)
        client.edit_window(BERLIN["id"], {"interrupt_window_hour_of_day": 4})
        client.replace_window(BERLIN["id"], SPEC)

    base = f"http://127.0.0.1:{server.port}/client/v4/accounts/{ACCOUNT_ID}/magic/connectors"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=auth) as http:
        http.patch(f"{base}/{BERLIN['id']}", json={"provision_license": True})
        created = http.post(base, json={"device": {"provision_license": True}, "notes": "n"}).json()
        http.delete(f"{base}/{created['result']['id']}")
        http.get(f"{base}/missing")
        http.patch(f"{base}/{BERLIN['id']}", json={"interrupt_window_days_of_week": ["Funday"]})
        http.put(f"{base}/{BERLIN['id']}", json={"interrupt_window_duration_hours": 0})
        http.post(base, json={"device": {}})
        http.get(base, headers={"Authorization": "Bearer wrong"})
    server.set_quota(1, 60)
    with httpx.Client(headers=auth) as http:
        http.get(base)
        http.get(base)


class TestSchema:
    def test_client_request_bodies_validate(self, emulator: Emulator) -> None:
        """Every PATCH and PUT body our client sends matches the request schema."""
        with make_client(emulator) as client:
            client.edit_window(BERLIN["id"], SPEC)
            client.edit_window(
                BERLIN["id"], {"timezone": "UTC", "interrupt_window_embargo_dates": []}
            )
            client.replace_window(BERLIN["id"], SPEC)

        writes = [record for record in emulator.request_log() if record.method in {"PATCH", "PUT"}]
        assert len(writes) == 3
        for record in writes:
            validator = schema_validator(request_schema(record.method, ITEM))
            errors = [error.message for error in validator.iter_errors(record.body)]
            assert errors == [], f"{record.method} body {record.body!r}"

    def test_every_emulator_response_validates(self, emulator: Emulator) -> None:
        """Every JSON response, success or failure, matches the schema for its status."""
        exercise_everything(emulator)

        records = emulator.request_log()
        statuses = {record.status for record in records}
        assert statuses == {200, 400, 403, 404, 429}
        for record in records:
            component = response_schema(record.method, template_of(record), record.status)  # type: ignore[arg-type]
            errors = [
                error.message for error in schema_validator(component).iter_errors(record.response)
            ]
            assert errors == [], (
                f"{record.method} {record.path} {record.status}: {record.response!r}"
            )

    def test_validator_can_fail(self) -> None:
        """The schema check rejects a connector with a bad day name and a missing field."""
        bad: dict[str, Any] = {
            "success": True,
            "errors": [],
            "messages": [],
            "result": {**BERLIN, "interrupt_window_days_of_week": ["Sat"]},
        }
        del bad["result"]["notes"]

        errors = list(schema_validator("mconn_customer_connector_response").iter_errors(bad))

        assert len(errors) >= 1
