"""Shared pieces of the connectors API tests: the emulator fixture, clients and schema checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from planner.cloudflare import ClientConfig, ConnectorsClient, Credentials, RetryPolicy
from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, Emulator
from planner.cloudflare.seed import generate_connectors

ACCOUNT_ID = DEFAULT_ACCOUNT_ID
TOKEN = DEFAULT_TOKEN
LICENSE_KEY = "CF-LK-SEEDED-0123456789ABCDEF"
SCHEMA_PATH = Path(__file__).parent / "data" / "connectors-openapi.json"

# Retries wait milliseconds, not seconds, so the retry paths stay fast over real sockets.
FAST_RETRY = RetryPolicy(max_attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)

BERLIN = {
    "id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "notes": "fra-0001-1 primary",
    "activated": True,
    "primary": True,
    "site_id": "5f0c6e1a2b3c4d5e6f708192a3b4c5d6",
    "last_updated": "2026-11-30T12:00:00.000000Z",
    "timezone": "Europe/Berlin",
    "interrupt_window_days_of_week": ["Saturday", "Sunday"],
    "interrupt_window_hour_of_day": 2,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_embargo_dates": ["2026-12-24"],
    "device": {
        "id": "9d8c7b6a5f4e3d2c1b0a998877665544",
        "serial_number": "CF1000000001",
        "type": "MANAGED",
    },
    "license_key": LICENSE_KEY,
}


def seed_connectors() -> list[dict[str, Any]]:
    """Return one hand-written connector followed by five generated ones."""
    return [copy.deepcopy(BERLIN), *generate_connectors(5, seed=7)]


@pytest.fixture(name="emulator")
def emulator_fixture() -> Iterator[Emulator]:
    """A running emulator with the seed connectors, on an ephemeral port."""
    with Emulator(seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN) as server:
        yield server


def make_config(server: Emulator, **overrides: Any) -> ClientConfig:
    """Return a client configuration for `server` with fast retries and short timeouts."""
    settings: dict[str, Any] = {
        "account_id": ACCOUNT_ID,
        "credentials": Credentials(token=TOKEN),
        "base_url": server.base_url,
        "retry": FAST_RETRY,
        "read_timeout": 5.0,
    }
    settings.update(overrides)
    return ClientConfig(**settings)


def make_client(server: Emulator, **overrides: Any) -> ConnectorsClient:
    """Return a synchronous client for `server`; see `make_config`."""
    return ConnectorsClient(make_config(server, **overrides))


def _openapi_to_json_schema(node: Any) -> Any:
    # OpenAPI 3.0 writes "may be null" as `nullable: true`; JSON Schema writes it as a type list.
    if isinstance(node, dict):
        converted = {key: _openapi_to_json_schema(value) for key, value in node.items()}
        if converted.pop("nullable", False) and "type" in converted:
            converted["type"] = [converted["type"], "null"]
        return converted
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    return node


_DOCUMENT = _openapi_to_json_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def schema_validator(component: str) -> jsonschema.Draft202012Validator:
    """Return a validator for one schema under `components/schemas` of the OpenAPI file."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": _DOCUMENT["components"]}
    return jsonschema.Draft202012Validator(schema)


def response_schema(method: str, path_template: str, status: int) -> str:
    """Return the component name that the OpenAPI file declares for one response."""
    operation = _DOCUMENT["paths"][path_template][method.lower()]
    reference = operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]
    return str(reference.rsplit("/", 1)[1])


def request_schema(method: str, path_template: str) -> str:
    """Return the component name that the OpenAPI file declares for a request body."""
    operation = _DOCUMENT["paths"][path_template][method.lower()]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return str(reference.rsplit("/", 1)[1])
