"""The connectors API client: an async httpx core and a thin synchronous facade.

Each request goes through the same steps: wait for the rate limiter, send under the concurrency
cap, log one line, read the envelope, and on a retryable failure wait and send again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from planner.cloudflare.config import ClientConfig, ClientOptions
from planner.cloudflare.envelope import describe_cause, read_envelope, transport_error
from planner.cloudflare.errors import (
    CloudflareError,
    InvalidInputError,
    ProtocolError,
    RateLimitedError,
)
from planner.cloudflare.models import Connector, window_request_fields
from planner.cloudflare.ratelimit import (
    QuotaWaitTooLongError,
    RateLimiter,
    parse_ratelimit_headers,
)
from planner.cloudflare.retry import is_retryable
from planner.cloudflare.transport import PooledTransport

if TYPE_CHECKING:
    from planner.engine import WindowSpec

logger = logging.getLogger("planner.cloudflare")

DEVICE_TYPES = ("MANAGED", "LICENSED")

# A list that keeps announcing more pages is cut off here rather than looping forever.
_MAX_PAGES = 1000

_T = TypeVar("_T")


class AsyncConnectorsClient:
    """Async client for one account's connectors; use it as an async context manager."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._limiter = RateLimiter(config.rate_limit, sleep=sleep) if config.rate_limit else None
        self._base_path = f"/accounts/{quote(config.account_id, safe='')}/magic/connectors"
        self.request_count = 0

        from planner import __version__

        # Requests go straight to the transport. The client needs none of httpx.AsyncClient's
        # redirects, cookies or auth flows, and in bulk runs those layers took about a third of
        # the client's CPU time per request (cProfile, httpx 0.29.0).
        self._transport = transport or _default_transport(config)
        self._timeout = config.timeout.as_dict()
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"planner/{__version__}",
            **config.credentials.headers(),
        }

    async def __aenter__(self) -> AsyncConnectorsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._transport.aclose()

    async def list_connectors(self, *, device_type: str | None = None) -> list[Connector]:
        """Return every connector of the account, optionally only one `device_type`.

        The API sends one page today; if a response carries `result_info` announcing more pages,
        they are requested too.
        """
        params: dict[str, str] = {}
        if device_type is not None:
            if device_type not in DEVICE_TYPES:
                raise InvalidInputError(
                    f"invalid device type {device_type!r}; use one of {', '.join(DEVICE_TYPES)}"
                )
            params["device_type"] = device_type

        connectors: list[Connector] = []
        requested = {frozenset(params.items())}
        for _ in range(_MAX_PAGES):
            envelope = await self._request("GET", self._base_path, params=params)
            result = envelope.get("result")
            if not isinstance(result, list):
                raise ProtocolError(
                    f"expected a list of connectors in 'result', got {type(result).__name__}",
                    method="GET",
                    path=self._base_path,
                )
            connectors.extend(
                self._parse_connector(item, "GET", self._base_path) for item in result
            )

            next_params = _next_page(envelope.get("result_info"), params)
            if next_params is None:
                return connectors
            # A result_info that does not advance would repeat the same page until _MAX_PAGES.
            if frozenset(next_params.items()) in requested:
                raise ProtocolError(
                    f"result_info announces a page already read ({next_params}), so the list "
                    "does not advance",
                    method="GET",
                    path=self._base_path,
                )
            requested.add(frozenset(next_params.items()))
            params = next_params

        raise ProtocolError(
            f"the list announced more than {_MAX_PAGES} pages", method="GET", path=self._base_path
        )

    async def get_connector(self, connector_id: str) -> Connector:
        """Return one connector."""
        path = self._connector_path(connector_id)
        envelope = await self._request("GET", path, connector_id=connector_id)
        return self._parse_connector(envelope.get("result"), "GET", path, connector_id)

    async def edit_window(
        self, connector_id: str, window: WindowSpec | Mapping[str, Any]
    ) -> Connector:
        """Change a connector's window with PATCH, sending only window fields and `timezone`.

        `window` is an engine spec (all five fields are sent) or a mapping with any subset of
        `WINDOW_FIELDS`. Returns the connector as the API stored it.
        """
        path = self._connector_path(connector_id)
        body = window_request_fields(window)
        envelope = await self._request("PATCH", path, connector_id=connector_id, json=body)
        return self._parse_connector(envelope.get("result"), "PATCH", path, connector_id)

    async def replace_window(
        self, connector_id: str, window: WindowSpec | Mapping[str, Any]
    ) -> Connector:
        """Change a connector's window with PUT, as a read-modify-write.

        What PUT does with omitted fields is not documented, so the body carries every writable
        field the connector has (read just before), with the window fields replaced. A change
        made by someone else between the read and the write is overwritten.
        """
        current = await self.get_connector(connector_id)
        body = current.with_window(window).writable_fields()

        path = self._connector_path(connector_id)
        envelope = await self._request("PUT", path, connector_id=connector_id, json=body)
        return self._parse_connector(envelope.get("result"), "PUT", path, connector_id)

    def _connector_path(self, connector_id: str) -> str:
        if not isinstance(connector_id, str) or not connector_id.strip():
            raise InvalidInputError(f"invalid connector id {connector_id!r}; it must not be empty")
        if connector_id in {".", ".."}:
            raise InvalidInputError(f"invalid connector id {connector_id!r}")
        return f"{self._base_path}/{quote(connector_id, safe='')}"

    @staticmethod
    def _parse_connector(
        data: Any, method: str, path: str, connector_id: str | None = None
    ) -> Connector:
        try:
            return Connector.from_api(data)
        except ValueError as error:
            raise ProtocolError(
                f"the result is not a connector object: {error}",
                method=method,
                path=path,
                connector_id=connector_id,
            ) from None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        connector_id: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request with retries; return the success envelope."""
        policy = self.config.retry
        attempt = 1
        while True:
            try:
                return await self._send_once(method, path, connector_id, json, params)
            except CloudflareError as error:
                retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
                give_up = (
                    attempt >= policy.max_attempts
                    or not is_retryable(error)
                    or (retry_after is not None and retry_after > policy.retry_after_max)
                    or (isinstance(error, RateLimitedError) and not error.sent)
                )
                if give_up:
                    _set_attempts(error, attempt)
                    raise

                wait = policy.wait(attempt, retry_after, self._rng)
                logger.warning(
                    "retry scheduled: %s %s, attempt %d of %d failed with %s; waiting %.2f s",
                    method,
                    path,
                    attempt,
                    policy.max_attempts,
                    describe_cause(error),
                    wait,
                )
                await self._sleep(wait)
                attempt += 1

    async def _send_once(
        self,
        method: str,
        path: str,
        connector_id: str | None,
        json: Any,
        params: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        if self._limiter is not None:
            try:
                await self._limiter.acquire()
            except QuotaWaitTooLongError as error:
                raise RateLimitedError(
                    retry_after=error.wait,
                    sent=False,
                    method=method,
                    path=path,
                    status=429,
                    connector_id=connector_id,
                ) from None

        async with self._semaphore:
            started = time.perf_counter()
            self.request_count += 1
            try:
                response = await self._send_http(method, path, json, params)
            except httpx.TransportError as error:
                elapsed = time.perf_counter() - started
                logger.info(
                    "%s %s failed after %.0f ms: %s",
                    method,
                    path,
                    elapsed * 1000,
                    type(error).__name__,
                )
                raise transport_error(error, method, path, connector_id) from error
            except httpx.DecodingError as error:
                # A body whose Content-Encoding does not decode: garbled on the way, so retried.
                raise ProtocolError(
                    f"the response body cannot be decoded: {error}",
                    retryable=True,
                    method=method,
                    path=path,
                    connector_id=connector_id,
                ) from error
            elapsed = time.perf_counter() - started

        cf_ray = response.headers.get("cf-ray")
        logger.info(
            "%s %s %d %.0f ms cf-ray=%s",
            method,
            path,
            response.status_code,
            elapsed * 1000,
            cf_ray or "-",
        )
        if self._limiter is not None:
            self._limiter.observe(parse_ratelimit_headers(response.headers))
        return read_envelope(response, method, path, connector_id)

    async def _send_http(
        self, method: str, path: str, json: Any, params: Mapping[str, str] | None
    ) -> httpx.Response:
        request = httpx.Request(
            method,
            self.config.base_url + path,
            params=params,
            json=json,
            headers=self._headers,
            extensions={"timeout": self._timeout},
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response


class ConnectorsClient:
    """Synchronous facade over `AsyncConnectorsClient` for scripts and the CLI.

    It runs the async client on a private event loop, so it must not be used from inside a
    running event loop (use `AsyncConnectorsClient` there) nor shared between threads.
    """

    def __init__(
        self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._runner = asyncio.Runner()
        self._async = self._runner.run(_make_async_client(config, transport))
        self.config = config

    def __enter__(self) -> ConnectorsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and the private event loop."""
        try:
            self._runner.run(self._async.aclose())
        finally:
            self._runner.close()

    @property
    def request_count(self) -> int:
        """The number of HTTP requests sent so far, retries included."""
        return self._async.request_count

    def list_connectors(self, *, device_type: str | None = None) -> list[Connector]:
        """Return every connector of the account; see `AsyncConnectorsClient.list_connectors`."""
        return self._runner.run(self._async.list_connectors(device_type=device_type))

    def get_connector(self, connector_id: str) -> Connector:
        """Return one connector."""
        return self._runner.run(self._async.get_connector(connector_id))

    def edit_window(self, connector_id: str, window: WindowSpec | Mapping[str, Any]) -> Connector:
        """Change a connector's window with PATCH; see `AsyncConnectorsClient.edit_window`."""
        return self._runner.run(self._async.edit_window(connector_id, window))

    def replace_window(
        self, connector_id: str, window: WindowSpec | Mapping[str, Any]
    ) -> Connector:
        """Change a connector's window with a read-modify-write PUT."""
        return self._runner.run(self._async.replace_window(connector_id, window))


async def _make_async_client(
    config: ClientConfig, transport: httpx.AsyncBaseTransport | None
) -> AsyncConnectorsClient:
    # Created inside the runner's loop so its semaphore and lock belong to that loop.
    return AsyncConnectorsClient(config, transport=transport)


def client_from_options(
    options: ClientOptions | None = None, env: Mapping[str, str] | None = None
) -> ConnectorsClient:
    """Build a synchronous client from option values and the environment (see `ClientConfig`)."""
    return ConnectorsClient(ClientConfig.from_options(options, env))


def async_client_from_options(
    options: ClientOptions | None = None, env: Mapping[str, str] | None = None
) -> AsyncConnectorsClient:
    """Build an async client from option values and the environment (see `ClientConfig`)."""
    return AsyncConnectorsClient(ClientConfig.from_options(options, env))


def _default_transport(config: ClientConfig) -> httpx.AsyncBaseTransport:
    """Return the pooled transport, or httpx's own when the environment names a proxy."""
    proxy = _environment_proxy(config.base_url)
    if proxy is None:
        return PooledTransport(
            max_connections=config.max_concurrency, ssl_context=httpx.create_ssl_context()
        )
    limits = httpx.Limits(
        max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency
    )
    return httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)


def _environment_proxy(base_url: str) -> str | None:
    """Return the proxy that HTTP(S)_PROXY, ALL_PROXY and NO_PROXY give for `base_url`.

    A loopback host never goes through a proxy, whatever NO_PROXY contains, because the emulator
    on this machine must not be reached, token included, by way of another host.
    """
    url = httpx.URL(base_url)
    if _is_loopback(url.host) or urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(url.scheme) or proxies.get("all")


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _set_attempts(error: CloudflareError, attempts: int) -> None:
    # Request errors build their message when printed, so the count shows up there too.
    if hasattr(error, "attempts"):
        error.attempts = attempts


def _next_page(info: Any, params: Mapping[str, str]) -> dict[str, str] | None:
    """Return the query for the next page that `result_info` announces, or None."""
    if not isinstance(info, dict):
        return None

    cursor = info.get("cursor")
    if isinstance(cursor, str) and cursor and cursor != params.get("cursor"):
        return {**params, "cursor": cursor}

    page, total_pages = info.get("page"), info.get("total_pages")
    if isinstance(page, int) and isinstance(total_pages, int) and page < total_pages:
        return {**params, "page": str(page + 1)}
    return None
