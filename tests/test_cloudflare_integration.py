"""The client against the emulator over real sockets: each error class and each retry path."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from cloudflare_fixtures import (  # noqa: F401
    ACCOUNT_ID,
    BERLIN,
    TOKEN,
    emulator_fixture,  # noqa: F401
    make_client,
    make_config,
    seed_connectors,
)

from planner.cloudflare import (
    AsyncConnectorsClient,
    AuthenticationError,
    ConnectionFailedError,
    Credentials,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimit,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
)
from planner.cloudflare.emulator import Emulator, Faults
from planner.engine import WindowSpec

BERLIN_ID = BERLIN["id"]
SPEC = WindowSpec.parse(
    timezone="America/Chicago",
    days_of_week=["Tue", "Wed"],
    hour_of_day=23,
    duration_hours=3,
    embargo_dates=["2026-12-31"],
)


def patches(server: Emulator) -> list[tuple[int | None, str | None]]:
    return [
        (record.status, record.fault) for record in server.request_log() if record.method == "PATCH"
    ]


class TestOperations:
    def test_list_and_get(self, emulator: Emulator) -> None:
        """list returns every seed; get returns one with its window as a spec."""
        with make_client(emulator) as client:
            connectors = client.list_connectors()
            berlin = client.get_connector(BERLIN_ID)

        assert len(connectors) == 6
        assert berlin.window_spec().timezone == "Europe/Berlin"
        assert berlin.notes == BERLIN["notes"]

    def test_edit_window_from_spec(self, emulator: Emulator) -> None:
        """PATCH stores the spec's fields and leaves the others alone."""
        with make_client(emulator) as client:
            result = client.edit_window(BERLIN_ID, SPEC)

        stored = emulator.connector(BERLIN_ID)
        assert result.window_spec() == SPEC
        assert stored is not None
        assert stored["timezone"] == "America/Chicago"
        assert stored["notes"] == BERLIN["notes"]
        assert stored["license_key"] == BERLIN["license_key"]
        assert emulator.request_log()[-1].body == SPEC.to_api()

    def test_replace_window_survives_reset_put(self) -> None:
        """A read-modify-write PUT keeps every field even when PUT resets omitted ones."""
        with Emulator(
            seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN, put_mode="reset"
        ) as server:
            with make_client(server) as client:
                result = client.replace_window(BERLIN_ID, SPEC)
            stored = server.connector(BERLIN_ID)

        assert result.window_spec() == SPEC
        assert stored is not None
        assert stored["notes"] == BERLIN["notes"]
        assert stored["site_id"] == BERLIN["site_id"]
        assert stored["activated"] is True
        assert stored["primary"] is True

    def test_bulk_edit_under_concurrency_cap(self) -> None:
        """300 concurrent edits with a cap of 8 all land, with one request each."""
        from planner.cloudflare.seed import generate_connectors

        connectors = generate_connectors(300, seed=5)

        async def edit_all(server: Emulator) -> int:
            config = make_config(server, max_concurrency=8)
            async with AsyncConnectorsClient(config) as client:
                listed = await client.list_connectors()
                await asyncio.gather(*(client.edit_window(item.id, SPEC) for item in listed))
                return client.request_count

        with Emulator(
            connectors, account_id=ACCOUNT_ID, token=TOKEN, faults=Faults(latency=0.005)
        ) as server:
            requests = asyncio.run(edit_all(server))
            zones = {item["timezone"] for item in server.dump_state()}

        assert requests == 301
        assert zones == {"America/Chicago"}


class TestErrors:
    def test_wrong_token_is_authentication_error(self, emulator: Emulator) -> None:
        """A wrong token gets 403 code 10000, is not retried, and the message names the fix."""
        with make_client(emulator, credentials=Credentials(token="wrong")) as client:
            with pytest.raises(AuthenticationError) as caught:
                client.edit_window(BERLIN_ID, SPEC)

        assert caught.value.status == 403
        assert caught.value.codes == (10000,)
        assert "Magic WAN Write" in str(caught.value)
        assert len(emulator.request_log()) == 1

    def test_unknown_id_is_not_found(self, emulator: Emulator) -> None:
        """An unknown id raises NotFoundError naming the id."""
        with make_client(emulator) as client:
            with pytest.raises(NotFoundError, match="GET connector 'no-such-id' failed: HTTP 404"):
                client.get_connector("no-such-id")

    def test_schema_violation_is_invalid_request(self, emulator: Emulator) -> None:
        """A duration of 30 hours comes back as a 400 with the emulator's code."""
        with make_client(emulator) as client:
            with pytest.raises(InvalidRequestError) as caught:
                client.edit_window(BERLIN_ID, {"interrupt_window_duration_hours": 30})

        assert caught.value.status == 400
        assert caught.value.codes == (1005,)
        assert "must be 1 to 24, got 30" in str(caught.value)

    def test_quota_exceeded_is_rate_limited(self) -> None:
        """Past the quota, a Retry-After above the client's maximum raises at once."""
        with Emulator(
            [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, quota=2, quota_window=120
        ) as server:
            retry = RetryPolicy(max_attempts=3, wait_initial=0.01, retry_after_max=5)
            with make_client(server, retry=retry, rate_limit=None) as client:
                client.get_connector(BERLIN_ID)
                client.get_connector(BERLIN_ID)
                with pytest.raises(RateLimitedError) as caught:
                    client.get_connector(BERLIN_ID)

        assert caught.value.retry_after == 120
        assert "Wait 120 s" in str(caught.value)

    def test_quota_reset_far_away_fails_fast(self) -> None:
        """A Ratelimit header with no quota left for a day fails the next request unsent."""
        with Emulator(
            [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, quota=1, quota_window=86_400
        ) as server:
            with make_client(server) as client:
                client.get_connector(BERLIN_ID)
                started = time.monotonic()
                with pytest.raises(RateLimitedError) as caught:
                    client.get_connector(BERLIN_ID)
                elapsed = time.monotonic() - started
            requests = len(server.request_log())

        assert requests == 1
        assert elapsed < 5
        assert caught.value.sent is False
        assert caught.value.retry_after == pytest.approx(86_400, abs=5)
        assert "not sent" in str(caught.value)
        assert "Wait 864" in str(caught.value)

    def test_server_errors_exhaust_attempts(self, emulator: Emulator) -> None:
        """Five 503s in a row exhaust four attempts and raise ServerError."""
        emulator.fail_next("error_503", count=5)

        with make_client(emulator) as client:
            with pytest.raises(ServerError, match="failed after 4 attempts: HTTP 503"):
                client.get_connector(BERLIN_ID)

    def test_refused_connection(self) -> None:
        """A closed port raises ConnectionFailedError after the retries."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = Emulator(port=port)  # never started: only its base URL is used

        with make_client(server) as client:
            with pytest.raises(
                ConnectionFailedError, match="failed after 4 attempts: ConnectError"
            ):
                client.list_connectors()

    def test_stall_every_time_is_timeout(self, emulator: Emulator) -> None:
        """A server that stalls longer than the read timeout on every attempt times out."""
        emulator.faults = Faults(stall_rate=1.0, stall_seconds=3.0)

        with make_client(emulator, read_timeout=0.2) as client:
            with pytest.raises(RequestTimeoutError, match="failed after 4 attempts: ReadTimeout"):
                client.get_connector(BERLIN_ID)


class TestRetries:
    @pytest.mark.parametrize("kind", ["error_500", "error_502", "error_503", "malformed"])
    def test_transient_answer_then_success(self, emulator: Emulator, kind: str) -> None:
        """A 5xx or a truncated body is retried, and the edit lands."""
        emulator.fail_next(kind, method="PATCH")  # type: ignore[arg-type]

        with make_client(emulator) as client:
            result = client.edit_window(BERLIN_ID, SPEC)

        assert result.timezone == "America/Chicago"
        assert [fault for _, fault in patches(emulator)] == [kind, None]

    def test_reset_before_write(self, emulator: Emulator) -> None:
        """A reset before the write is retried; the write lands once."""
        emulator.fail_next("reset_before", method="PATCH")

        with make_client(emulator) as client:
            client.edit_window(BERLIN_ID, SPEC)

        assert patches(emulator) == [(None, "reset_before"), (200, None)]
        assert emulator.connector(BERLIN_ID)["timezone"] == "America/Chicago"  # type: ignore[index]

    def test_reset_after_write(self, emulator: Emulator) -> None:
        """A reset after the write is retried; the repeated PATCH leaves the same state."""
        emulator.fail_next("reset_after", method="PATCH")

        with make_client(emulator) as client:
            result = client.edit_window(BERLIN_ID, SPEC)

        stored = emulator.connector(BERLIN_ID)
        assert patches(emulator) == [(None, "reset_after"), (200, None)]
        assert stored is not None
        assert {name: stored[name] for name in SPEC.to_api()} == SPEC.to_api()
        assert result.window_spec() == SPEC

    def test_malformed_write_response_every_time(self, emulator: Emulator) -> None:
        """A write applied but given a truncated body warns that it may have landed."""
        emulator.fail_next("malformed", count=4, method="PATCH")

        with make_client(emulator) as client, pytest.raises(ProtocolError) as caught:
            client.edit_window(BERLIN_ID, {"interrupt_window_hour_of_day": 7})

        assert "may have been applied" in str(caught.value)
        assert emulator.connector(BERLIN_ID)["interrupt_window_hour_of_day"] == 7

    def test_stall_then_success(self, emulator: Emulator) -> None:
        """A stall longer than the read timeout is retried on a new connection."""
        emulator.faults = Faults(stall_seconds=2.0)
        emulator.fail_next("stall", method="PATCH")

        with make_client(emulator, read_timeout=0.3) as client:
            started = time.monotonic()
            result = client.edit_window(BERLIN_ID, SPEC)
            elapsed = time.monotonic() - started

        assert result.window_spec() == SPEC
        assert elapsed < 2.0
        assert emulator.connector(BERLIN_ID)["timezone"] == "America/Chicago"  # type: ignore[index]

    def test_rate_limited_then_success(self) -> None:
        """A 429 with a short Retry-After is waited out and the request succeeds."""
        with Emulator(
            [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, quota=1, quota_window=1
        ) as server:
            with make_client(server, rate_limit=None) as client:
                client.get_connector(BERLIN_ID)
                client.get_connector(BERLIN_ID)
            statuses = [record.status for record in server.request_log()]

        assert statuses == [200, 429, 200]

    def test_low_quota_header_avoids_429(self) -> None:
        """Pacing on the Ratelimit header keeps a sequential client under the quota."""
        with Emulator(
            [BERLIN], account_id=ACCOUNT_ID, token=TOKEN, quota=3, quota_window=1
        ) as server:
            with make_client(server, rate_limit=RateLimit(requests=1000, period=1)) as client:
                for _ in range(6):
                    client.get_connector(BERLIN_ID)
            statuses = [record.status for record in server.request_log()]

        assert statuses == [200] * 6

    def test_random_faults_still_converge(self) -> None:
        """Under seeded random faults of every kind, every edit lands."""
        from planner.cloudflare.seed import generate_connectors

        connectors = generate_connectors(60, seed=9)
        faults = Faults(
            server_error_rate=0.1,
            reset_before_rate=0.05,
            reset_after_rate=0.05,
            malformed_rate=0.05,
            stall_rate=0.02,
            stall_seconds=1.0,
        )
        retry = RetryPolicy(max_attempts=8, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01)

        async def edit_all(server: Emulator) -> None:
            async with AsyncConnectorsClient(
                make_config(server, retry=retry, read_timeout=0.3)
            ) as client:
                await asyncio.gather(*(client.edit_window(item["id"], SPEC) for item in connectors))

        with Emulator(
            connectors, account_id=ACCOUNT_ID, token=TOKEN, faults=faults, seed=4
        ) as server:
            asyncio.run(edit_all(server))
            zones = {item["timezone"] for item in server.dump_state()}
            faulted = [record.fault for record in server.request_log() if record.fault]

        assert zones == {"America/Chicago"}
        assert len(faulted) > 5
