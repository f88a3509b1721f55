"""Client units over httpx.MockTransport: envelopes, errors, retry decisions, bodies, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from planner.cloudflare import (
    WINDOW_FIELDS,
    WRITABLE_FIELDS,
    APIError,
    AsyncConnectorsClient,
    AuthenticationError,
    ClientConfig,
    Connector,
    Credentials,
    InvalidInputError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
)
from planner.engine import WindowSpec

ACCOUNT = "acc0123"
TOKEN = "unit-test-token-9f8e7d"
CONNECTOR = {
    "id": "c1",
    "notes": "fra edge",
    "activated": True,
    "primary": False,
    "site_id": "site-1",
    "last_updated": "2026-11-30T12:00:00Z",
    "timezone": "Europe/Berlin",
    "interrupt_window_days_of_week": ["Sunday"],
    "interrupt_window_hour_of_day": 2,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_embargo_dates": [],
}
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def failure(status: int, *errors: tuple[int, str], **headers: str) -> httpx.Response:
    body = {
        "success": False,
        "errors": [{"code": c, "message": m} for c, m in errors],
        "messages": [],
        "result": None,
    }
    return httpx.Response(status, json=body, headers=headers)


class Recorder:
    """A MockTransport handler that returns listed responses and records every request."""

    def __init__(self, *responses: httpx.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return answer(request) if callable(answer) else answer

    def bodies(self) -> list[Any]:
        return [
            json.loads(request.content) if request.content else None for request in self.requests
        ]


def run(
    recorder: Recorder,
    operation: Callable[[AsyncConnectorsClient], Any],
    *,
    retry: RetryPolicy | None = None,
    sleeps: list[float] | None = None,
) -> Any:
    """Run one client operation against the recorder with instant, recorded sleeps."""
    waits = sleeps if sleeps is not None else []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> Any:
        config = ClientConfig(
            account_id=ACCOUNT,
            credentials=Credentials(token=TOKEN),
            base_url="http://api.test/client/v4",
            retry=retry or RetryPolicy(),
            rate_limit=None,
        )
        client = AsyncConnectorsClient(
            config, transport=httpx.MockTransport(recorder), rng=random.Random(1), sleep=fake_sleep
        )
        async with client:
            return await operation(client)

    return asyncio.run(main())


def test_list_parses_connectors() -> None:
    """A list envelope becomes Connector objects with the API's field names."""
    recorder = Recorder(httpx.Response(200, json=envelope([CONNECTOR])))

    connectors = run(recorder, lambda client: client.list_connectors())

    assert connectors == [Connector.from_api(CONNECTOR)]
    assert recorder.requests[0].url.path == f"/client/v4/accounts/{ACCOUNT}/magic/connectors"
    assert recorder.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_list_follows_result_info_pages() -> None:
    """A list whose result_info announces more pages is read to the end."""
    second = {**CONNECTOR, "id": "c2"}
    recorder = Recorder(
        httpx.Response(
            200, json={**envelope([CONNECTOR]), "result_info": {"page": 1, "total_pages": 2}}
        ),
        httpx.Response(
            200, json={**envelope([second]), "result_info": {"page": 2, "total_pages": 2}}
        ),
    )

    connectors = run(recorder, lambda client: client.list_connectors(device_type="MANAGED"))

    assert [item.id for item in connectors] == ["c1", "c2"]
    assert recorder.requests[1].url.params["page"] == "2"
    assert recorder.requests[1].url.params["device_type"] == "MANAGED"


def test_list_stops_when_page_repeats() -> None:
    """A result_info that keeps saying page 1 of 5000 fails on the first repeat."""
    recorder = Recorder(
        httpx.Response(
            200, json={**envelope([CONNECTOR]), "result_info": {"page": 1, "total_pages": 5000}}
        )
    )

    with pytest.raises(ProtocolError, match="announces a page already read"):
        run(recorder, lambda client: client.list_connectors())

    assert len(recorder.requests) == 2


def test_list_rejects_unknown_device_type() -> None:
    """An unknown device_type is rejected before any request."""
    recorder = Recorder(httpx.Response(200, json=envelope([])))

    with pytest.raises(InvalidInputError, match="'VIRTUAL'"):
        run(recorder, lambda client: client.list_connectors(device_type="VIRTUAL"))
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("response", "error_class", "codes"),
    [
        (failure(401, (9109, "Invalid access token")), AuthenticationError, (9109,)),
        (failure(403, (10000, "Authentication error")), AuthenticationError, (10000,)),
        (failure(404, (1100, "connector not found")), NotFoundError, (1100,)),
        (failure(400, (1005, "duration out of range")), InvalidRequestError, (1005,)),
        (failure(422, (1003, "wrong type")), InvalidRequestError, (1003,)),
    ],
)
def test_status_maps_to_error_class(
    response: httpx.Response, error_class: type[Exception], codes: tuple[int, ...]
) -> None:
    """Each failure status raises its class, with the codes, and is not retried."""
    recorder = Recorder(response)

    with pytest.raises(error_class) as caught:
        run(recorder, lambda client: client.get_connector("c1"))

    assert caught.value.codes == codes  # type: ignore[attr-defined]
    assert caught.value.status == response.status_code  # type: ignore[attr-defined]
    assert len(recorder.requests) == 1


def test_error_message_names_id_status_codes_and_fix() -> None:
    """The message names the connector id, the status, the codes and the permission to add."""
    recorder = Recorder(failure(403, (10000, "Authentication error"), **{"cf-ray": "8f00aa-FRA"}))

    with pytest.raises(AuthenticationError) as caught:
        run(recorder, lambda client: client.edit_window("c1", {"interrupt_window_hour_of_day": 3}))

    message = str(caught.value)
    assert "PATCH connector 'c1' failed" in message
    assert "HTTP 403" in message
    assert "10000 Authentication error" in message
    assert "Magic WAN Write" in message
    assert "cf-ray 8f00aa-FRA" in message


def test_failure_envelope_without_messages_or_result() -> None:
    """A 403 with only success and errors, as Cloudflare sometimes sends, still parses."""
    body = {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
    recorder = Recorder(httpx.Response(403, json=body))

    with pytest.raises(AuthenticationError) as caught:
        run(recorder, lambda client: client.list_connectors())

    assert caught.value.codes == (10000,)
    assert caught.value.messages == ()


def test_failure_body_not_json() -> None:
    """An HTML 502 page becomes a ServerError without codes."""
    recorder = Recorder(httpx.Response(502, text="<html>Bad gateway</html>"))

    with pytest.raises(ServerError) as caught:
        run(recorder, lambda client: client.list_connectors(), retry=RetryPolicy(max_attempts=1))

    assert caught.value.status == 502
    assert caught.value.errors == ()


def test_success_false_on_200_is_protocol_error() -> None:
    """success: false with HTTP 200 is a protocol error naming the envelope's errors."""
    body = {
        "success": False,
        "errors": [{"code": 1000, "message": "odd"}],
        "messages": [],
        "result": None,
    }
    recorder = Recorder(httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match="success=False with errors: 1000 odd"):
        run(recorder, lambda client: client.get_connector("c1"))
    assert len(recorder.requests) == 1


def test_envelope_without_success_is_not_retried() -> None:
    """An object without `success` is a protocol error that would repeat, so no retry."""
    recorder = Recorder(httpx.Response(200, json={"result": CONNECTOR}))

    with pytest.raises(ProtocolError, match="no 'success' field"):
        run(recorder, lambda client: client.get_connector("c1"))
    assert len(recorder.requests) == 1


def test_body_not_json_is_retried() -> None:
    """A truncated JSON body on a 200 is retried, and the next good response is used."""
    recorder = Recorder(
        httpx.Response(200, text='{"success": true, "res'),
        httpx.Response(200, json=envelope(CONNECTOR)),
    )

    connector = run(recorder, lambda client: client.get_connector("c1"))

    assert connector.id == "c1"
    assert len(recorder.requests) == 2


def test_result_without_id_is_protocol_error() -> None:
    """A result that is not a connector object raises ProtocolError naming the problem."""
    recorder = Recorder(httpx.Response(200, json=envelope({"notes": "x"})))

    with pytest.raises(ProtocolError, match="without a string 'id'"):
        run(recorder, lambda client: client.get_connector("c1"))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_status_is_retried(status: int) -> None:
    """408, 409, 429 and 5xx are retried, and a later success is returned."""
    recorder = Recorder(
        failure(status, (1000, "transient")), httpx.Response(200, json=envelope(CONNECTOR))
    )

    connector = run(recorder, lambda client: client.get_connector("c1"))

    assert connector.id == "c1"
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422])
def test_other_client_status_is_not_retried(status: int) -> None:
    """Any other 4xx fails at once."""
    recorder = Recorder(failure(status, (1000, "no")))

    with pytest.raises(APIError) as caught:
        run(recorder, lambda client: client.get_connector("c1"))
    assert caught.value.status == status
    assert len(recorder.requests) == 1


def test_transport_error_is_retried() -> None:
    """A connection reset is retried."""
    calls = {"count": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["count"] += 1
        if calls["count"] == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(200, json=envelope(CONNECTOR))

    recorder = Recorder(flaky)

    assert run(recorder, lambda client: client.get_connector("c1")).id == "c1"
    assert calls["count"] == 2


def test_undecodable_body_is_retried() -> None:
    """A gzip body that does not decode is retried like a truncated one."""
    recorder = Recorder(
        httpx.Response(
            200, stream=httpx.ByteStream(b"not gzip"), headers={"content-encoding": "gzip"}
        ),
        httpx.Response(200, json=envelope(CONNECTOR)),
    )

    assert run(recorder, lambda client: client.get_connector("c1")).id == "c1"
    assert len(recorder.requests) == 2


def test_attempts_are_bounded() -> None:
    """After max_attempts failures the last error is raised with the attempt count."""
    recorder = Recorder(failure(503, (1000, "down")))
    sleeps: list[float] = []

    with pytest.raises(ServerError, match="failed after 3 attempts") as caught:
        run(
            recorder,
            lambda client: client.get_connector("c1"),
            retry=RetryPolicy(max_attempts=3),
            sleeps=sleeps,
        )

    assert caught.value.attempts == 3
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2


def test_backoff_is_exponential_capped_and_jittered() -> None:
    """Waits double from wait_initial, stop at wait_max, and add at most wait_jitter."""
    policy = RetryPolicy(max_attempts=10, wait_initial=0.5, wait_max=4.0, wait_jitter=0.25)
    rng = random.Random(3)

    waits = [policy.wait(retry, None, rng) for retry in range(1, 8)]

    for wait, base in zip(waits, [0.5, 1, 2, 4, 4, 4, 4], strict=True):
        assert base <= wait <= base + 0.25


def test_retry_after_is_honoured() -> None:
    """A 429 waits at least Retry-After seconds before the next attempt."""
    recorder = Recorder(
        failure(429, (1015, "rate limited"), **{"retry-after": "7"}),
        httpx.Response(200, json=envelope(CONNECTOR)),
    )
    sleeps: list[float] = []

    run(recorder, lambda client: client.get_connector("c1"), sleeps=sleeps)

    assert len(sleeps) == 1
    assert 7 <= sleeps[0] <= 8


def test_retry_after_above_limit_raises_at_once() -> None:
    """A Retry-After longer than retry_after_max is not waited for."""
    recorder = Recorder(failure(429, (1015, "rate limited"), **{"retry-after": "300"}))

    with pytest.raises(RateLimitedError, match="Wait 300 s") as caught:
        run(
            recorder,
            lambda client: client.get_connector("c1"),
            retry=RetryPolicy(retry_after_max=60),
        )

    assert caught.value.retry_after == 300
    assert len(recorder.requests) == 1


def test_patch_sends_only_window_fields() -> None:
    """An edit from a spec sends exactly the five window fields, never provision_license."""
    recorder = Recorder(httpx.Response(200, json=envelope(CONNECTOR)))
    spec = WindowSpec.parse(
        timezone="Asia/Tokyo",
        days_of_week=["Sat"],
        hour_of_day=1.5,
        duration_hours=3,
        embargo_dates=["2026-12-31"],
    )

    run(recorder, lambda client: client.edit_window("c1", spec))

    (body,) = recorder.bodies()
    assert recorder.requests[0].method == "PATCH"
    assert set(body) == set(WINDOW_FIELDS)
    assert body == spec.to_api()


def test_patch_with_partial_mapping() -> None:
    """A mapping sends only the fields it names."""
    recorder = Recorder(httpx.Response(200, json=envelope(CONNECTOR)))

    run(recorder, lambda client: client.edit_window("c1", {"interrupt_window_hour_of_day": 23}))

    assert recorder.bodies() == [{"interrupt_window_hour_of_day": 23}]


@pytest.mark.parametrize(
    "change", [{"provision_license": True}, {"notes": "x"}, {}], ids=["license", "notes", "empty"]
)
def test_edit_rejects_other_fields(change: dict[str, Any]) -> None:
    """A change with a non-window field, or none at all, is rejected before sending."""
    recorder = Recorder(httpx.Response(200, json=envelope(CONNECTOR)))

    with pytest.raises(InvalidInputError):
        run(recorder, lambda client: client.edit_window("c1", change))
    assert recorder.requests == []


@pytest.mark.parametrize("connector_id", ["", "  ", ".."])
def test_invalid_connector_id(connector_id: str) -> None:
    """An empty or dot-segment id is rejected before sending."""
    recorder = Recorder(httpx.Response(200, json=envelope(CONNECTOR)))

    with pytest.raises(InvalidInputError):
        run(recorder, lambda client: client.get_connector(connector_id))
    assert recorder.requests == []


def test_connector_id_is_quoted() -> None:
    """An id with a slash stays one path segment."""
    recorder = Recorder(httpx.Response(200, json=envelope(CONNECTOR)))

    run(recorder, lambda client: client.get_connector("a/b"))

    assert recorder.requests[0].url.raw_path.endswith(b"/connectors/a%2Fb")


def test_put_is_read_modify_write() -> None:
    """replace_window reads the connector, then PUTs every writable field with the new window."""
    stored = {**CONNECTOR, "license_key": "LK-SECRET", "device": {"id": "d1"}, "future_field": 1}
    recorder = Recorder(
        httpx.Response(200, json=envelope(stored)),
        httpx.Response(200, json=envelope(stored)),
    )

    run(recorder, lambda client: client.replace_window("c1", {"interrupt_window_hour_of_day": 5}))

    get, put = recorder.requests
    body = recorder.bodies()[1]
    assert (get.method, put.method) == ("GET", "PUT")
    assert set(body) == set(WRITABLE_FIELDS)
    assert body["interrupt_window_hour_of_day"] == 5
    assert body["notes"] == "fra edge"
    assert body["primary"] is False
    assert body["site_id"] == "site-1"
    assert "provision_license" not in body
    assert "license_key" not in body


def test_logging_per_request_and_retry(caplog: pytest.LogCaptureFixture) -> None:
    """INFO carries method, path, status and cf-ray; WARNING carries attempt, cause and wait."""
    recorder = Recorder(
        failure(503, (1000, "down"), **{"cf-ray": "ray-1"}),
        httpx.Response(200, json=envelope(CONNECTOR), headers={"cf-ray": "ray-2"}),
    )

    with caplog.at_level(logging.DEBUG, logger="planner.cloudflare"):
        run(recorder, lambda client: client.get_connector("c1"))

    records = [record for record in caplog.records if record.name == "planner.cloudflare"]
    infos = [record.getMessage() for record in records if record.levelno == logging.INFO]
    warnings = [record.getMessage() for record in records if record.levelno == logging.WARNING]
    path = f"/accounts/{ACCOUNT}/magic/connectors/c1"
    assert len(infos) == 2
    assert infos[0].startswith(f"GET {path} 503 ")
    assert infos[0].endswith("cf-ray=ray-1")
    assert infos[1].endswith("cf-ray=ray-2")
    assert len(warnings) == 1
    assert "attempt 1 of 5" in warnings[0]
    assert "HTTP 503" in warnings[0]
    assert "waiting" in warnings[0]
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(("method", "warned"), [("GET", False), ("PATCH", True), ("PUT", True)])
def test_write_caveat_only_for_writes(method: str, warned: bool) -> None:
    """A failed write says it may have landed; a failed read does not."""
    recorder = Recorder(failure(503, (1000, "down")))

    async def operation(client: AsyncConnectorsClient) -> Any:
        if method == "GET":
            return await client.get_connector("c1")
        if method == "PATCH":
            return await client.edit_window("c1", {"interrupt_window_hour_of_day": 1})
        return await client.replace_window("c1", {"interrupt_window_hour_of_day": 1})

    # The PUT path reads first, so its GET must succeed for the PUT to fail.
    if method == "PUT":
        recorder = Recorder(
            httpx.Response(200, json=envelope(CONNECTOR)), failure(503, (1000, "down"))
        )

    with pytest.raises(ServerError) as caught:
        run(recorder, operation, retry=RetryPolicy(max_attempts=1))

    assert ("may have been applied" in str(caught.value)) is warned


def test_truncated_write_response_carries_caveat() -> None:
    """A truncated 200 after a PATCH carries the caveat that the change may have landed."""
    recorder = Recorder(httpx.Response(200, text='{"success": true, "res'))

    with pytest.raises(ProtocolError) as caught:
        run(
            recorder,
            lambda client: client.edit_window("c1", {"interrupt_window_hour_of_day": 1}),
            retry=RetryPolicy(max_attempts=2),
        )

    assert len(recorder.requests) == 2
    assert "may have been applied" in str(caught.value)


def test_conflict_after_retries_advises_waiting() -> None:
    """A 409 on every attempt is called transient, not a problem with the values sent."""
    recorder = Recorder(failure(409, (1000, "conflict")))

    with pytest.raises(InvalidRequestError) as caught:
        run(recorder, lambda client: client.get_connector("c1"), retry=RetryPolicy(max_attempts=2))

    assert len(recorder.requests) == 2
    assert "transient state" in str(caught.value)
    assert "Fix the values" not in str(caught.value)


def test_redirect_is_not_retried() -> None:
    """A 301 names the base URL as the likely fault and is sent only once."""
    recorder = Recorder(
        httpx.Response(301, headers={"location": "https://example.test/client/v4/x"})
    )

    with pytest.raises(ProtocolError) as caught:
        run(recorder, lambda client: client.edit_window("c1", {"interrupt_window_hour_of_day": 1}))

    message = str(caught.value)
    assert len(recorder.requests) == 1
    assert "HTTP 301" in message
    assert "redirected to 'https://example.test/client/v4/x'" in message
    assert "base URL is probably wrong" in message
    assert "may have been applied" not in message


def test_no_content_is_not_retried() -> None:
    """A 204 without a body is not a garbled response, so it is not sent again."""
    recorder = Recorder(httpx.Response(204))

    with pytest.raises(ProtocolError, match="HTTP 204, the response body is not JSON"):
        run(recorder, lambda client: client.get_connector("c1"))

    assert len(recorder.requests) == 1


@pytest.mark.parametrize("value", ["1e11", "inf", "nan", "-3"])
def test_odd_retry_after_is_ignored(value: str) -> None:
    """A Retry-After that is not a plausible delay is ignored, and no wait is named."""
    recorder = Recorder(failure(429, (1015, "rate limited"), **{"retry-after": value}))

    with pytest.raises(RateLimitedError) as caught:
        run(recorder, lambda client: client.get_connector("c1"), retry=RetryPolicy(max_attempts=1))

    assert caught.value.retry_after is None
    assert "Wait a few minutes" in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8787/client/v4", "http://127.8.9.10/client/v4", "http://localhost:8787/client/v4", "http://[::1]:8787/client/v4"],
)
def test_loopback_never_uses_proxy(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment is never used for the emulator on this machine."""
    from planner.cloudflare.client import _environment_proxy

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert _environment_proxy(base_url) is None


def test_remote_host_uses_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-loopback base URL still honours HTTPS_PROXY."""
    from planner.cloudflare.client import _environment_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    assert _environment_proxy("https://api.example.invalid/client/v4") == "http://127.0.0.1:9"
