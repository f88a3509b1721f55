"""Helpers for fleet tests against the connectors API emulator over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cloudflare_fixtures import make_config

from planner.cloudflare import AsyncConnectorsClient, ClientConfig, RetryPolicy
from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, Emulator
from planner.fleet import ClientConnectorsAPI

T = TypeVar("T")

# Every connector the generator makes gets a weekend window, and HA pairs get disjoint ones.
FLEET_TEXT = """
horizon_days = 60

[[policy]]
name = "weekend"
match = { all = true }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
yearly = ["12-24..12-26"]

[stagger]
ha = "disjoint"
start_hours = "20-08"
"""

# Retries wait milliseconds, not seconds, so fault paths stay fast over real sockets.
FAST_RETRY = RetryPolicy(max_attempts=10, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)


def client_config(server: Emulator, **overrides: Any) -> ClientConfig:
    """Return the client tests' configuration with more retries: faults here hit every request."""
    return make_config(server, **{"retry": FAST_RETRY, "read_timeout": 2.0, "max_concurrency": 8, **overrides})


def run_with_api(server: Emulator, scenario: Callable[[ClientConnectorsAPI], Awaitable[T]], **overrides: Any) -> T:
    """Run `scenario` with a rollout API backed by a real client talking to `server`."""

    async def main() -> T:
        async with AsyncConnectorsClient(client_config(server, **overrides)) as client:
            return await scenario(ClientConnectorsAPI(client))

    return asyncio.run(main())


def comparable(state: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return stored connectors by id without `last_updated`, which every write changes."""
    return {connector["id"]: {key: value for key, value in connector.items() if key != "last_updated"} for connector in state}


def cli_env(server: Emulator) -> dict[str, str]:
    return {
        "CLOUDFLARE_BASE_URL": server.base_url,
        "CLOUDFLARE_ACCOUNT_ID": DEFAULT_ACCOUNT_ID,
        "CLOUDFLARE_API_TOKEN": DEFAULT_TOKEN,
    }
