"""The pooled transport: keep-alive reuse, the connection cap, errors and the proxy fallback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cloudflare_fixtures import (
    ACCOUNT_ID,
    BERLIN,
    TOKEN,
    emulator_fixture,  # noqa: F401
    make_config,
)

from planner.cloudflare.client import _default_transport, _environment_proxy
from planner.cloudflare.emulator import Emulator, Faults
from planner.cloudflare.transport import PooledTransport

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def one_url(server: Emulator) -> str:
    return f"{server.base_url}/accounts/{ACCOUNT_ID}/magic/connectors/{BERLIN['id']}"


async def fetch(server: Emulator, count: int, *, max_connections: int) -> list[httpx.Response]:
    transport = PooledTransport(max_connections=max_connections)
    async with httpx.AsyncClient(transport=transport, headers=AUTH) as http:
        return await asyncio.gather(*(http.get(one_url(server)) for _ in range(count)))


def test_sequential_requests_reuse_one_connection(emulator: Emulator) -> None:
    """Keep-alive: ten requests in a row travel over a single connection."""

    async def run() -> list[int]:
        transport = PooledTransport(max_connections=4)
        async with httpx.AsyncClient(transport=transport, headers=AUTH) as http:
            return [(await http.get(one_url(emulator))).status_code for _ in range(10)]

    assert asyncio.run(run()) == [200] * 10
    assert emulator.connections_opened == 1


def test_connection_cap_holds(emulator: Emulator) -> None:
    """Forty concurrent requests with a cap of three never open more than three connections."""
    emulator.faults = Faults(latency=0.02)

    responses = asyncio.run(fetch(emulator, 40, max_connections=3))

    assert [response.status_code for response in responses] == [200] * 40
    assert emulator.connections_opened <= 3
    assert emulator.peak_connections <= 3


def test_body_and_headers_arrive_intact(emulator: Emulator) -> None:
    """A PATCH body sent through the pool reaches the server and the response parses."""

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=PooledTransport(max_connections=1), headers=AUTH
        ) as http:
            return await http.patch(one_url(emulator), json={"interrupt_window_hour_of_day": 7})

    response = asyncio.run(run())

    assert response.json()["result"]["interrupt_window_hour_of_day"] == 7
    assert response.headers["ratelimit-policy"] == '"burst";q=1200;w=300'
    assert emulator.request_log()[-1].body == {"interrupt_window_hour_of_day": 7}


def test_reset_connection_is_not_reused(emulator: Emulator) -> None:
    """After a reset the next request opens a new connection and succeeds."""
    emulator.fail_next("reset_before")

    async def run() -> int:
        async with httpx.AsyncClient(
            transport=PooledTransport(max_connections=1), headers=AUTH
        ) as http:
            with pytest.raises(httpx.TransportError):
                await http.get(one_url(emulator))
            return (await http.get(one_url(emulator))).status_code

    assert asyncio.run(run()) == 200
    assert emulator.connections_opened == 2


def test_stalled_response_raises_read_timeout(emulator: Emulator) -> None:
    """A response that stalls past the read timeout raises httpx.ReadTimeout."""
    emulator.faults = Faults(stall_rate=1.0, stall_seconds=1.0)

    async def run() -> None:
        transport = PooledTransport(max_connections=1)
        timeout = httpx.Timeout(5, read=0.1)
        async with httpx.AsyncClient(transport=transport, headers=AUTH, timeout=timeout) as http:
            await http.get(one_url(emulator))

    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(run())


def test_full_pool_raises_pool_timeout(emulator: Emulator) -> None:
    """With the only connection busy, a second request raises httpx.PoolTimeout."""
    emulator.faults = Faults(stall_rate=1.0, stall_seconds=1.0)

    async def run() -> None:
        transport = PooledTransport(max_connections=1)
        timeout = httpx.Timeout(5, pool=0.05)
        async with httpx.AsyncClient(transport=transport, headers=AUTH, timeout=timeout) as http:
            busy = asyncio.ensure_future(http.get(one_url(emulator)))
            await asyncio.sleep(0.02)
            try:
                await http.get(one_url(emulator))
            finally:
                # Cancel the stalled request here, so its connection closes inside this loop.
                busy.cancel()
                await asyncio.gather(busy, return_exceptions=True)

    with pytest.raises(httpx.PoolTimeout):
        asyncio.run(run())


def test_refused_connection_is_connect_error() -> None:
    """Nothing listening raises httpx.ConnectError."""
    server = Emulator(port=1)  # never started; port 1 on loopback refuses connections

    with pytest.raises(httpx.ConnectError):
        asyncio.run(fetch(server, 1, max_connections=1))


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_proxy_environment_selects_httpx_transport(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """A proxy in the environment makes the client use httpx's own transport, unless NO_PROXY."""
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    config = make_config(Emulator(port=1), base_url="https://api.example.test/client/v4")
    assert isinstance(_default_transport(config), PooledTransport)

    monkeypatch.setenv(variable, "http://127.0.0.1:3128")
    assert _environment_proxy(config.base_url) == "http://127.0.0.1:3128"
    assert isinstance(_default_transport(config), httpx.AsyncHTTPTransport)

    monkeypatch.setenv("NO_PROXY", "api.example.test")
    assert _environment_proxy(config.base_url) is None


def test_tls_connections_are_pooled() -> None:
    """Over TLS the transport verifies the server certificate and reuses the connection."""
    import ssl

    import trustme

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def run(server: Emulator) -> list[int]:
        transport = PooledTransport(max_connections=2, ssl_context=client_context)
        # A generous timeout: a TLS handshake on a busy machine can take seconds.
        async with httpx.AsyncClient(transport=transport, headers=AUTH, timeout=30) as http:
            return [(await http.get(one_url(server))).status_code for _ in range(3)]

    with Emulator(
        [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, ssl_context=server_context
    ) as server:
        statuses = asyncio.run(run(server))

        assert server.base_url.startswith("https://127.0.0.1:")
        assert statuses == [200, 200, 200]
        assert server.connections_opened == 1


def test_tls_rejects_untrusted_certificate() -> None:
    """A certificate from an unknown authority fails the handshake with ConnectError."""
    import ssl

    import trustme

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)

    with Emulator(
        [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, ssl_context=server_context
    ) as server:
        with pytest.raises(httpx.ConnectError):
            asyncio.run(fetch(server, 1, max_connections=1))


def test_failures_do_not_shrink_the_pool(emulator: Emulator) -> None:
    """After ten failed requests on a pool of two, new requests still find free connections."""
    emulator.fail_next("reset_before", count=10)

    async def run() -> list[int]:
        transport = PooledTransport(max_connections=2)
        timeout = httpx.Timeout(5, pool=1)
        async with httpx.AsyncClient(transport=transport, headers=AUTH, timeout=timeout) as http:
            for _ in range(10):
                with pytest.raises(httpx.TransportError):
                    await http.get(one_url(emulator))
            responses = await asyncio.gather(*(http.get(one_url(emulator)) for _ in range(6)))
        return [response.status_code for response in responses]

    assert asyncio.run(run()) == [200] * 6
