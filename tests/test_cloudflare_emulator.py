"""The emulator over raw HTTP: endpoints, validation, auth, quota, faults and load."""

from __future__ import annotations

import asyncio
import json
import math
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudflare_fixtures import ACCOUNT_ID, BERLIN, TOKEN, emulator_fixture, seed_connectors  # noqa: F401

from planner.cloudflare.emulator import Emulator, Faults
from planner.cloudflare.seed import generate_connectors, load_seed_file

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONNECTORS = f"/client/v4/accounts/{ACCOUNT_ID}/magic/connectors"
ONE = f"{CONNECTORS}/{BERLIN['id']}"


def call(
    server: Emulator, method: str, path: str, body: Any = None, **kwargs: Any
) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
        return http.request(method, path, json=body, headers=headers, **kwargs)


def error_codes(response: httpx.Response) -> list[int]:
    return [error["code"] for error in response.json()["errors"]]


def test_list_returns_every_connector(emulator: Emulator) -> None:
    """GET on the collection returns the full success envelope with all seeds."""
    response = call(emulator, "GET", CONNECTORS)

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == []
    assert len(body["result"]) == 6
    assert "result_info" not in body


def test_list_filters_by_device_type(emulator: Emulator) -> None:
    """device_type keeps only connectors of that type; an unknown type is a 400."""
    managed = call(emulator, "GET", CONNECTORS, params={"device_type": "MANAGED"}).json()["result"]
    wrong = call(emulator, "GET", CONNECTORS, params={"device_type": "VIRTUAL"})

    assert managed
    assert all(item["device"]["type"] == "MANAGED" for item in managed)
    assert wrong.status_code == 400


def test_license_key_not_echoed_by_default(emulator: Emulator) -> None:
    """A stored licence key stays out of reads unless echo_license_key is set."""
    result = call(emulator, "GET", ONE).json()["result"]

    assert "license_key" not in result
    assert emulator.connector(BERLIN["id"])["license_key"] == BERLIN["license_key"]  # type: ignore[index]


def test_patch_merges_and_changes_last_updated(emulator: Emulator) -> None:
    """PATCH changes only the fields sent, and every write gives a new last_updated."""
    first = call(emulator, "PATCH", ONE, {"interrupt_window_hour_of_day": 3}).json()["result"]
    second = call(emulator, "PATCH", ONE, {"interrupt_window_hour_of_day": 3}).json()["result"]

    assert first["interrupt_window_hour_of_day"] == 3
    assert first["notes"] == BERLIN["notes"]
    assert first["interrupt_window_days_of_week"] == BERLIN["interrupt_window_days_of_week"]
    assert BERLIN["last_updated"] < first["last_updated"] < second["last_updated"]


def test_put_merge_keeps_omitted_fields(emulator: Emulator) -> None:
    """In merge mode a PUT behaves like PATCH."""
    result = call(emulator, "PUT", ONE, {"interrupt_window_hour_of_day": 4}).json()["result"]

    assert result["notes"] == BERLIN["notes"]
    assert result["site_id"] == BERLIN["site_id"]


def test_put_reset_clears_omitted_fields() -> None:
    """In reset mode omitted writable fields return to defaults, site_id is dropped."""
    with Emulator(
        seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN, put_mode="reset"
    ) as server:
        result = call(server, "PUT", ONE, {"interrupt_window_hour_of_day": 4}).json()["result"]

    assert result["interrupt_window_hour_of_day"] == 4
    assert result["notes"] == ""
    assert result["activated"] is False
    assert result["timezone"] == "UTC"
    assert result["interrupt_window_days_of_week"] == []
    assert "site_id" not in result
    assert result["device"] == BERLIN["device"]


def test_provision_license_rotates_once(emulator: Emulator) -> None:
    """provision_license returns a new key once; later reads do not show it."""
    rotated = call(emulator, "PATCH", ONE, {"provision_license": True}).json()["result"]
    again = call(emulator, "GET", ONE).json()["result"]

    assert rotated["license_key"].startswith("CF-LK-")
    assert rotated["license_key"] != BERLIN["license_key"]
    assert emulator.connector(BERLIN["id"])["license_key"] == rotated["license_key"]  # type: ignore[index]
    assert "license_key" not in again


def test_create_and_delete(emulator: Emulator) -> None:
    """POST creates a connector from device options; DELETE returns and removes it."""
    created = call(
        emulator, "POST", CONNECTORS, {"device": {"provision_license": True}, "notes": "new"}
    )
    new = created.json()["result"]
    deleted = call(emulator, "DELETE", f"{CONNECTORS}/{new['id']}")
    gone = call(emulator, "GET", f"{CONNECTORS}/{new['id']}")

    assert created.status_code == 200
    assert new["notes"] == "new"
    assert new["device"]["type"] == "LICENSED"
    assert new["license_key"]
    assert deleted.json()["result"]["id"] == new["id"]
    assert gone.status_code == 404


@pytest.mark.parametrize("device", [None, {}, {"id": "a", "serial_number": "b"}, {"colour": "red"}])
def test_create_needs_exactly_one_device_option(emulator: Emulator, device: Any) -> None:
    """The device object must hold exactly one of id, serial_number, provision_license."""
    body = {"notes": "x"} if device is None else {"device": device}

    response = call(emulator, "POST", CONNECTORS, body)

    assert response.status_code == 400
    assert 1009 in error_codes(response)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"provision_license": "yes"}, "device.provision_license must be a boolean"),
        ({"id": ["x"]}, "device.id must be a non-empty string"),
        ({"serial_number": 5}, "device.serial_number must be a non-empty string"),
        ({"id": ""}, "device.id must be a non-empty string"),
    ],
)
def test_create_checks_device_option_types(
    emulator: Emulator, device: dict[str, Any], message: str
) -> None:
    """A device option of the wrong type is a coded 400 that names the option."""
    response = call(emulator, "POST", CONNECTORS, {"device": device})

    assert response.status_code == 400
    assert error_codes(response) == [1009]
    assert response.json()["errors"][0]["message"] == message
    assert len(emulator.dump_state()) == 6


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"timezone": "localtime"}, 1008),
        ({"interrupt_window_hour_of_day": -50}, 1012),
        ({"interrupt_window_hour_of_day": 1e308}, 1012),
        ({"interrupt_window_hour_of_day": 24}, 1012),
        ({"interrupt_window_days_of_week": ["Sat"]}, 1004),
        ({"interrupt_window_days_of_week": ["saturday"]}, 1004),
        ({"interrupt_window_days_of_week": "Saturday"}, 1003),
        ({"interrupt_window_duration_hours": 0.5}, 1005),
        ({"interrupt_window_duration_hours": 25}, 1005),
        ({"interrupt_window_duration_hours": "4"}, 1003),
        ({"interrupt_window_hour_of_day": True}, 1003),
        ({"interrupt_window_embargo_dates": ["2026-12-1"]}, 1007),
        ({"interrupt_window_embargo_dates": ["2026-02-30"]}, 1007),
        ({"interrupt_window_embargo_dates": ["24.12.2026"]}, 1007),
        ({"interrupt_window_embargo_dates": [f"2026-01-{d:02d}" for d in range(1, 32)] * 4}, 1006),
        ({"timezone": "Mars/Olympus"}, 1008),
        ({"timezone": 1}, 1003),
        ({"notes": None}, 1003),
        ({"primary": "yes"}, 1003),
        ({"colour": "red"}, 1002),
        ({"id": "other"}, 1002),
    ],
)
def test_schema_violation_is_coded_400(emulator: Emulator, body: dict[str, Any], code: int) -> None:
    """Every violation is a 400 failure envelope with the matching code, and nothing changes."""
    before = emulator.connector(BERLIN["id"])

    response = call(emulator, "PATCH", ONE, body)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["result"] is None
    assert code in error_codes(response)
    assert emulator.connector(BERLIN["id"]) == before


def test_body_not_json_is_400(emulator: Emulator) -> None:
    """A body that is not a JSON object is rejected."""
    for content in (b"{", b"[1]", b'{"interrupt_window_hour_of_day": NaN}'):
        response = call(
            emulator,
            "PATCH",
            ONE,
            content=content,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert error_codes(response) == [1001]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"X-Auth-Email": "a@example.com", "X-Auth-Key": "nope"},
    ],
    ids=["none", "wrong", "no-scheme", "wrong-key"],
)
def test_missing_or_wrong_credentials_are_403(emulator: Emulator, headers: dict[str, str]) -> None:
    """Every request without the right credentials gets 403 with code 10000."""
    response = call(emulator, "GET", CONNECTORS, headers=headers)

    assert response.status_code == 403
    assert error_codes(response) == [10000]


def test_email_and_api_key_are_accepted() -> None:
    """X-Auth-Email with X-Auth-Key is the other way to authenticate."""
    with Emulator(
        [BERLIN], account_id=ACCOUNT_ID, token=None, email="a@example.com", api_key="global"
    ) as server:
        response = call(
            server,
            "GET",
            CONNECTORS,
            headers={"X-Auth-Email": "a@example.com", "X-Auth-Key": "global"},
        )

    assert response.status_code == 200


def test_other_account_is_403(emulator: Emulator) -> None:
    """An account the token does not cover gets the same 403 as a bad token."""
    response = call(emulator, "GET", "/client/v4/accounts/someoneelse/magic/connectors")

    assert response.status_code == 403
    assert error_codes(response) == [10000]


def test_unknown_id_and_route_are_404(emulator: Emulator) -> None:
    """An unknown connector and an unknown route both get a 404 failure envelope."""
    unknown_id = call(emulator, "GET", f"{CONNECTORS}/does-not-exist")
    unknown_route = call(emulator, "GET", "/client/v4/zones")

    assert unknown_id.status_code == 404
    assert unknown_id.json()["result"] is None
    assert unknown_route.status_code == 404
    assert error_codes(unknown_route) == [7003]


def test_ratelimit_headers_and_quota() -> None:
    """Each response reports the quota; past it, 429 with Retry-After and nothing applied."""
    with Emulator([BERLIN], account_id=ACCOUNT_ID, token=TOKEN, quota=3, quota_window=60) as server:
        answers = [
            call(server, "PATCH", ONE, {"interrupt_window_hour_of_day": hour}) for hour in range(5)
        ]
        stored = server.connector(BERLIN["id"])

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert answers[0].headers["ratelimit"] == '"default";r=2;t=60'
    assert answers[0].headers["ratelimit-policy"] == '"burst";q=3;w=60'
    assert answers[3].headers["retry-after"] == "60"
    assert answers[3].json()["success"] is False
    assert stored["interrupt_window_hour_of_day"] == 2  # type: ignore[index]


def test_scripted_faults(emulator: Emulator) -> None:
    """fail_next plays each fault; 502 and 503 return HTML like Cloudflare's edge."""
    emulator.fail_next("error_502", method="GET")
    emulator.fail_next("malformed", method="GET")

    gateway = call(emulator, "GET", ONE)
    truncated = call(emulator, "GET", ONE)
    normal = call(emulator, "GET", ONE)

    assert gateway.status_code == 502
    assert gateway.headers["content-type"] == "text/html"
    assert gateway.headers["ratelimit-policy"] == '"burst";q=1200;w=300'
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert normal.status_code == 200
    assert [record.fault for record in emulator.request_log()] == ["error_502", "malformed", None]


@pytest.mark.parametrize(("kind", "applied"), [("reset_before", False), ("reset_after", True)])
def test_reset_before_and_after_write(emulator: Emulator, kind: str, applied: bool) -> None:
    """A reset before the write leaves the state alone; a reset after it has applied the write."""
    emulator.fail_next(kind, method="PATCH")  # type: ignore[arg-type]

    with pytest.raises(httpx.TransportError):
        call(emulator, "PATCH", ONE, {"interrupt_window_hour_of_day": 9})

    hour = emulator.connector(BERLIN["id"])["interrupt_window_hour_of_day"]  # type: ignore[index]
    assert (hour == 9) is applied
    assert emulator.request_log()[-1].status is None


def test_stall_outlasts_read_timeout(emulator: Emulator) -> None:
    """A stall delays the response past a short read timeout."""
    emulator.faults = Faults(stall_rate=1.0, stall_seconds=2.0)

    with pytest.raises(httpx.ReadTimeout):
        call(emulator, "GET", ONE, timeout=httpx.Timeout(5, read=0.2))


@pytest.mark.parametrize("count", [0, -1])
def test_fail_next_rejects_counts_below_one(emulator: Emulator, count: int) -> None:
    """A count below one is rejected instead of making the fault permanent."""
    with pytest.raises(ValueError, match=f"invalid fault count {count}"):
        emulator.fail_next("error_500", count)

    assert call(emulator, "GET", CONNECTORS).status_code == 200


def test_seeded_fault_rates_repeat() -> None:
    """The same seed draws the same faults, in about the configured shares."""
    faults = Faults(server_error_rate=0.3, malformed_rate=0.2)

    def draws(seed: int) -> list[str | None]:
        import random

        rng = random.Random(seed)
        return [faults.draw(rng) for _ in range(2000)]

    counts = Counter(draws(5))
    assert draws(5) == draws(5)
    assert 500 < counts["error_500"] + counts["error_502"] + counts["error_503"] < 700
    assert 330 < counts["malformed"] < 470


def test_invalid_fault_rates() -> None:
    """Rates below zero or adding up to more than one are rejected."""
    with pytest.raises(ValueError):
        Faults(server_error_rate=0.7, stall_rate=0.5)
    with pytest.raises(ValueError):
        Faults(malformed_rate=-0.1)


@pytest.mark.parametrize(
    "settings",
    [
        {"latency": math.inf},
        {"stall_seconds": math.nan},
        {"malformed_rate": math.nan},
    ],
)
def test_non_finite_faults_are_rejected(settings: dict[str, float]) -> None:
    """inf and nan latencies, stalls and rates are rejected."""
    with pytest.raises(ValueError, match="must be"):
        Faults(**settings)


@pytest.mark.parametrize("window", [math.inf, math.nan, 0.0])
def test_non_finite_quota_window_is_rejected(window: float) -> None:
    """A quota window must be a positive, finite number of seconds, at start and on change."""
    with pytest.raises(ValueError, match="invalid quota"):
        Emulator(quota_window=window)
    with pytest.raises(ValueError, match="invalid quota"):
        Emulator().set_quota(1, window)


def test_thousands_of_concurrent_connections() -> None:
    """2,000 clients connected at once, one PATCH each, are all answered."""
    connectors = generate_connectors(2000, seed=3)

    async def patch(port: int, connector_id: str, opened: asyncio.Event, count: list[int]) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        count[0] += 1
        if count[0] == len(connectors):
            opened.set()
        # Every connection is open before any request is sent, so all 2,000 are served at once.
        await opened.wait()
        body = b'{"interrupt_window_hour_of_day": 5}'
        writer.write(
            f"PATCH {CONNECTORS}/{connector_id} HTTP/1.1\r\nHost: emulator\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer.split(b"\r\n", 1)[0]

    async def fire(port: int) -> list[bytes]:
        opened = asyncio.Event()
        count = [0]
        return await asyncio.gather(
            *(patch(port, item["id"], opened, count) for item in connectors)
        )

    with Emulator(connectors, account_id=ACCOUNT_ID, token=TOKEN, quota=10_000) as server:
        status_lines = asyncio.run(fire(server.port))
        hours = {item["interrupt_window_hour_of_day"] for item in server.dump_state()}

    assert Counter(status_lines) == {b"HTTP/1.1 200 OK": 2000}
    assert hours == {5}


def test_generated_fleet_is_realistic() -> None:
    """Generated connectors use real zones, and HA pairs share a site with one primary."""
    connectors = generate_connectors(300, seed=11)
    sites: dict[str, list[dict[str, Any]]] = {}
    for item in connectors:
        sites.setdefault(item["site_id"], []).append(item)

    assert len(connectors) == 300
    assert len({item["id"] for item in connectors}) == 300
    assert generate_connectors(300, seed=11) == connectors
    assert all(zoneinfo.ZoneInfo(item["timezone"]) for item in connectors)
    assert any(len(members) == 2 for members in sites.values())
    for members in sites.values():
        assert len(members) in {1, 2}
        assert sum(member["primary"] for member in members) == 1


def test_seed_file(tmp_path: Path) -> None:
    """A seed file contains a list of connectors or a list envelope; anything else is named."""
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([BERLIN]), encoding="utf-8")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"success": True, "result": [BERLIN]}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": 1}', encoding="utf-8")

    assert load_seed_file(plain) == [BERLIN]
    assert load_seed_file(wrapped) == [BERLIN]
    with pytest.raises(ValueError, match="broken.json.*JSON list of connector objects"):
        load_seed_file(broken)
    with pytest.raises(ValueError, match="cannot read connectors file"):
        load_seed_file(tmp_path / "absent.json")


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\n\r\n",
        b"PATCH /client/v4 HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        b"PATCH /client/v4 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["request-line", "content-length", "chunked"],
)
def test_malformed_http_is_rejected(emulator: Emulator, head: bytes) -> None:
    """A broken request line, a bad Content-Length or a chunked body gets a 4xx and a close."""

    async def send() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(head)
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer

    status_line = asyncio.run(send()).split(b"\r\n", 1)[0]

    assert status_line in {b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 411 Length Required"}


def deep_patch() -> bytes:
    body = b"[" * 200_000
    head = (
        f"PATCH {ONE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"GET http://[::1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1011),
        ("PATCH /client/v4 HTTP/1.1\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"), 6003),
        (f"PATCH /client/v4 HTTP/1.1\r\nContent-Length: {'9' * 5000}\r\n\r\n".encode(), 6003),
        (deep_patch(), 1001),
        (b"GARBAGE\r\n\r\n", 1011),
    ],
    ids=["unclosed-ipv6-target", "superscript-length", "long-length", "deep-json", "request-line"],
)
def test_unparsable_request_gets_400_envelope(
    emulator: Emulator, request_bytes: bytes, code: int
) -> None:
    """A request the emulator cannot parse gets a coded 400 failure envelope."""

    async def send() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(request_bytes)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer

    head, _, body = asyncio.run(send()).partition(b"\r\n\r\n")
    envelope = json.loads(body)

    assert head.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request"
    assert envelope["success"] is False
    assert envelope["result"] is None
    assert [error["code"] for error in envelope["errors"]] == [code]
