"""The bridge from the connectors API client to what a rollout needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.cloudflare import AsyncConnectorsClient, CloudflareError
from planner.fleet._errors import RemoteError


class ClientConnectorsAPI:
    """Adapts `planner.cloudflare.AsyncConnectorsClient` to the rollout's `ConnectorsAPI`.

    Client errors, raised after the client's own retries, become RemoteError with the client's
    message, which names the connector, the HTTP status and Cloudflare's codes.
    """

    def __init__(self, client: AsyncConnectorsClient) -> None:
        self.client = client

    @property
    def max_concurrency(self) -> int:
        """The client's cap on requests in flight, which the rollout uses as its own."""
        return self.client.config.max_concurrency

    @property
    def account_id(self) -> str:
        return self.client.config.account_id

    async def list_connectors(self) -> list[dict[str, Any]]:
        try:
            connectors = await self.client.list_connectors()
        except CloudflareError as error:
            raise RemoteError(str(error), status=getattr(error, "status", None)) from error
        return [connector.to_api() for connector in connectors]

    async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        try:
            connector = await self.client.edit_window(connector_id, fields)
        except CloudflareError as error:
            raise RemoteError(str(error), status=getattr(error, "status", None)) from error
        return connector.to_api()
