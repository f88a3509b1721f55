"""The subscription feed server, over real sockets on 127.0.0.1."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ical_fixtures import connector_object, parse_with_ical, parse_with_icalendar, utc

from planner.ical import ExportOptions, FeedConfigError, fleet_calendar
from planner.ical.feed import FeedServer, FeedSettings, read_token_file, snapshot_source

TOKEN = "s3cret-token-value"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Source:
    """A connector source whose content or failure the test sets."""

    def __init__(self, connectors: list[dict[str, Any]]) -> None:
        self.connectors = connectors
        self.error: Exception | None = None
        self.calls = 0

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.connectors


def _fleet() -> list[dict[str, Any]]:
    return [
        connector_object(id="berlin-1", site_id="site-a"),
        connector_object(id="berlin-2", site_id="site-a", primary=False, interrupt_window_hour_of_day=8),
        connector_object(
            id="new-york-1",
            site_id="site-b",
            notes="New York <core>",
            timezone="America/New_York",
            interrupt_window_days_of_week=["Sunday"],
        ),
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 12, 4, 12))


@pytest.fixture
def source() -> Source:
    return Source(_fleet())


def _start(source: Source, clock: Clock, **settings: Any) -> FeedServer:
    server = FeedServer(
        source,
        FeedSettings(refresh_seconds=3600, **settings),
        host="127.0.0.1",
        port=0,
        clock=clock,
    )
    server.start()
    return server


@pytest.fixture
def server(source: Source, clock: Clock) -> Iterator[FeedServer]:
    server = _start(source, clock)
    yield server
    server.stop()


def _request(
    server: FeedServer, path: str, method: str = "GET", headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_fleet_calendar_served(server: FeedServer) -> None:
    status, headers, body = _request(server, "/calendars/fleet.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    text = body.decode("utf-8")
    assert parse_with_ical(text).prodid.startswith("-//planner//")
    assert len(parse_with_icalendar(text).walk("VTIMEZONE")) == 2


def test_fleet_body_equals_library_export(server: FeedServer, clock: Clock) -> None:
    """The feed serves what fleet_calendar builds for the feed's range, byte for byte."""
    _, _, body = _request(server, "/calendars/fleet.ics")
    options = ExportOptions(start=utc(2026, 11, 27), end=utc(2027, 3, 4))
    assert body == fleet_calendar(_fleet(), options).to_bytes()


def test_connector_and_site_calendars(server: FeedServer) -> None:
    _, _, site = _request(server, "/calendars/sites/site-a.ics")
    site_ids = {str(event["UID"]).split("-2026")[0].split("-2027")[0] for event in parse_with_icalendar(site.decode()).walk("VEVENT")}
    assert site_ids == {"berlin-1", "berlin-2"}

    status, _, one = _request(server, "/calendars/connectors/new-york-1.ics")
    assert status == 200
    calendar = parse_with_icalendar(one.decode())
    assert str(calendar["X-WR-CALNAME"]) == "Interrupt windows: New York <core>"
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["America/New_York"]


@pytest.mark.parametrize(
    "path",
    [
        "/calendars/connectors/unknown.ics",
        "/calendars/sites/unknown.ics",
        "/calendars/fleet.ics/",
        "/calendars/../../etc/passwd",
        "/calendars/connectors/..%2F..%2Fetc%2Fpasswd.ics",
        "/favicon.ico",
        "/calendars/connectors/berlin-1",
    ],
)
def test_unknown_path_not_found(server: FeedServer, path: str) -> None:
    status, _, body = _request(server, path)
    assert status == 404
    assert body == b"not found\n"


def test_ids_with_reserved_characters(source: Source, clock: Clock) -> None:
    """Ids with "/", spaces and non-ASCII letters get encoded links that the server resolves."""
    source.connectors = [connector_object(id="zürich 1/a", site_id="HQ/2 west")]
    server = _start(source, clock)
    try:
        _, _, page = _request(server, "/")
        assert "/calendars/connectors/z%C3%BCrich%201%2Fa.ics" in page.decode()
        assert "/calendars/sites/HQ%2F2%20west.ics" in page.decode()
        assert _request(server, "/calendars/connectors/z%C3%BCrich%201%2Fa.ics")[0] == 200
        assert _request(server, "/calendars/sites/HQ%2F2%20west.ics")[0] == 200
    finally:
        server.stop()


def test_etag_and_if_none_match(server: FeedServer) -> None:
    _, headers, _ = _request(server, "/calendars/fleet.ics")
    etag = headers["ETag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")

    status, again, body = _request(server, "/calendars/fleet.ics", headers={"If-None-Match": etag})
    assert status == 304
    assert body == b""
    assert again["ETag"] == etag

    for header in (f'"other", {etag}', f"W/{etag}", "*"):
        assert _request(server, "/calendars/fleet.ics", headers={"If-None-Match": header})[0] == 304
    assert _request(server, "/calendars/fleet.ics", headers={"If-None-Match": '"other"'})[0] == 200


def test_if_none_match_wins_over_if_modified_since(server: FeedServer) -> None:
    _, headers, _ = _request(server, "/calendars/fleet.ics")
    status, _, _ = _request(
        server,
        "/calendars/fleet.ics",
        headers={"If-None-Match": '"other"', "If-Modified-Since": headers["Last-Modified"]},
    )
    assert status == 200


def test_last_modified_and_if_modified_since(server: FeedServer) -> None:
    _, headers, _ = _request(server, "/calendars/fleet.ics")
    last_modified = email.utils.parsedate_to_datetime(headers["Last-Modified"])
    assert last_modified == utc(2026, 12, 4, 12)

    same = {"If-Modified-Since": headers["Last-Modified"]}
    assert _request(server, "/calendars/fleet.ics", headers=same)[0] == 304
    earlier = {"If-Modified-Since": email.utils.format_datetime(last_modified - timedelta(seconds=1), usegmt=True)}
    assert _request(server, "/calendars/fleet.ics", headers=earlier)[0] == 200
    assert _request(server, "/calendars/fleet.ics", headers={"If-Modified-Since": "yesterday"})[0] == 200


def test_refresh_moves_validators_forward(
    server: FeedServer, source: Source, clock: Clock
) -> None:
    _, first, _ = _request(server, "/calendars/connectors/berlin-1.ics")
    _, other_first, _ = _request(server, "/calendars/connectors/new-york-1.ics")

    # The clock steps backwards, as a wall clock may, and Last-Modified must not follow it.
    clock.now = utc(2026, 12, 4, 11)
    source.connectors = _fleet()
    source.connectors[0]["interrupt_window_hour_of_day"] = 5
    source.connectors[0]["last_updated"] = "2026-12-04T11:00:00Z"
    assert server.feed.refresh()

    _, second, _ = _request(server, "/calendars/connectors/berlin-1.ics")
    assert second["ETag"] != first["ETag"]
    before = email.utils.parsedate_to_datetime(first["Last-Modified"])
    after = email.utils.parsedate_to_datetime(second["Last-Modified"])
    assert after > before
    assert _request(
        server, "/calendars/connectors/berlin-1.ics", headers={"If-Modified-Since": first["Last-Modified"]}
    )[0] == 200

    # An unchanged calendar keeps its validators across the refresh.
    _, other_second, _ = _request(server, "/calendars/connectors/new-york-1.ics")
    assert other_second["ETag"] == other_first["ETag"]
    assert other_second["Last-Modified"] == other_first["Last-Modified"]


def test_head_sends_headers_only(server: FeedServer) -> None:
    _, get_headers, get_body = _request(server, "/calendars/fleet.ics")
    status, headers, body = _request(server, "/calendars/fleet.ics", method="HEAD")
    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(get_body))
    assert headers["ETag"] == get_headers["ETag"]


def test_gzip_when_asked(server: FeedServer) -> None:
    _, plain_headers, plain = _request(server, "/calendars/fleet.ics")
    status, headers, body = _request(server, "/calendars/fleet.ics", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == plain
    assert headers["ETag"] != plain_headers["ETag"]
    assert _request(server, "/calendars/fleet.ics", headers={"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})[0] == 304

    for refusal in ("gzip;q=0", "*, gzip;q=0", "identity", "br"):
        _, refused, _ = _request(server, "/calendars/fleet.ics", headers={"Accept-Encoding": refusal})
        assert "Content-Encoding" not in refused, refusal
    _, star, _ = _request(server, "/calendars/fleet.ics", headers={"Accept-Encoding": "*"})
    assert star["Content-Encoding"] == "gzip"


def test_token_required_for_calendars(source: Source, clock: Clock) -> None:
    server = _start(source, clock, token=TOKEN)
    try:
        assert _request(server, "/calendars/fleet.ics")[0] == 403
        assert _request(server, "/calendars/fleet.ics?token=wrong")[0] == 403
        assert _request(server, f"/calendars/fleet.ics?token={TOKEN}x")[0] == 403
        assert _request(server, "/?token=")[0] == 403
        assert _request(server, f"/calendars/fleet.ics?token={TOKEN}")[0] == 200
        assert _request(server, f"/calendars/sites/site-b.ics?token={TOKEN}")[0] == 200
        assert _request(server, "/healthz")[0] == 200
        assert _request(server, f"/calendars/connectors/unknown.ics?token={TOKEN}")[0] == 404

        # Without the token, unknown and known ids get the same status.
        assert _request(server, "/calendars/connectors/unknown.ics")[0] == 403
        assert _request(server, "/calendars/connectors/new-york-1.ics")[0] == 403
    finally:
        server.stop()


def test_token_never_logged(source: Source, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="planner")
    server = _start(source, clock, token=TOKEN)
    try:
        _request(server, f"/calendars/fleet.ics?token={TOKEN}")
        _request(server, f"/nothing?token={TOKEN}")
        # A malformed request line makes http.server report an error that quotes the line.
        with socket.create_connection((server.host, server.port), timeout=10) as raw:
            raw.sendall(f"GET /?token={TOKEN} HTTP/1.1 junk\r\n\r\n".encode())
            assert b"400" in raw.recv(4096)
    finally:
        server.stop()
    assert any("GET /calendars/fleet.ics 200" in record.getMessage() for record in caplog.records)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in repr(server.settings)


def test_index_page_links_and_windows(source: Source, clock: Clock) -> None:
    server = _start(source, clock, token=TOKEN, public_url="https://calendars.example.test/planner")
    try:
        status, headers, body = _request(server, f"/?token={TOKEN}")
    finally:
        server.stop()
    page = body.decode("utf-8")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert (
        f'href="webcal://calendars.example.test/planner/calendars/fleet.ics?token={TOKEN}"' in page
    )
    assert (
        f'href="https://calendars.example.test/planner/calendars/sites/site-a.ics?token={TOKEN}"'
        in page
    )
    assert "New York &lt;core&gt;" in page
    assert "<core>" not in page
    assert "Sat 2026-12-05 02:00 CET (2026-12-05 01:00 UTC), 4 h" in page


def test_source_failure_keeps_last_good_calendars(
    server: FeedServer, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    _, before, body_before = _request(server, "/calendars/fleet.ics")
    source.error = ConnectionError("API unreachable")
    with caplog.at_level(logging.ERROR, logger="planner.ical.feed"):
        assert not server.feed.refresh()
        assert not server.feed.refresh()

    status, after, body_after = _request(server, "/calendars/fleet.ics")
    assert status == 200
    assert body_after == body_before
    assert after["ETag"] == before["ETag"]
    messages = [record.getMessage() for record in caplog.records]
    assert "(2 in a row)" in messages[-1]
    assert "ConnectionError: API unreachable" in messages[-1]

    status, _, health = _request(server, "/healthz")
    assert status == 200
    assert json.loads(health)["status"] == "stale"
    assert json.loads(health)["failed_refreshes"] == 2
    assert b"unreachable" not in health

    source.error = None
    assert server.feed.refresh()
    assert json.loads(_request(server, "/healthz")[2])["status"] == "ok"


def test_unavailable_until_first_refresh(source: Source, clock: Clock) -> None:
    source.error = RuntimeError("not yet")
    server = _start(source, clock)
    try:
        assert _request(server, "/calendars/fleet.ics")[0] == 503
        assert _request(server, "/healthz")[0] == 503
        source.error = None
        assert server.feed.refresh()
        assert _request(server, "/calendars/fleet.ics")[0] == 200
    finally:
        server.stop()


def test_invalid_connector_skipped(
    source: Source, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source.connectors = [*_fleet(), connector_object(id="broken", timezone="Mars/Olympus")]
    with caplog.at_level(logging.WARNING, logger="planner.ical.feed"):
        server = _start(source, clock)
    try:
        assert _request(server, "/calendars/connectors/berlin-1.ics")[0] == 200
        assert _request(server, "/calendars/connectors/broken.ics")[0] == 404
    finally:
        server.stop()
    assert any("'broken'" in record.getMessage() for record in caplog.records)


def test_refresh_loop_picks_up_snapshot_changes(tmp_path: Path, clock: Clock) -> None:
    snapshot = tmp_path / "connectors.json"
    snapshot.write_text(json.dumps({"success": True, "errors": [], "messages": [], "result": _fleet()}))
    server = FeedServer(
        snapshot_source(snapshot), FeedSettings(refresh_seconds=0.05), port=0, clock=clock
    )
    server.start()
    try:
        assert _request(server, "/calendars/connectors/extra.ics")[0] == 404
        snapshot.write_text(json.dumps([*_fleet(), connector_object(id="extra")]))
        refreshed = threading.Event()
        for _ in range(200):
            if _request(server, "/calendars/connectors/extra.ics")[0] == 200:
                refreshed.set()
                break
            refreshed.wait(0.02)
        assert refreshed.is_set()
    finally:
        server.stop()


def test_concurrent_clients(server: FeedServer, source: Source) -> None:
    _, headers, expected = _request(server, "/calendars/fleet.ics")
    paths = ["/calendars/fleet.ics", "/calendars/sites/site-a.ics", "/calendars/connectors/berlin-2.ics"]

    def fetch(number: int) -> tuple[int, bytes]:
        path = paths[number % len(paths)]
        if number % 2:
            return _request(server, path, headers={"If-None-Match": headers["ETag"]})[0], b""
        status, _, body = _request(server, path)
        return status, body if path == paths[0] else expected

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(fetch, range(240)))
    for number, (status, body) in enumerate(results):
        if number % 2 == 0:
            assert status == 200
            assert body == expected
        elif number % 3 == 0:
            assert status == 304
        else:
            assert status == 200

    # Every response came from the calendars built by the one refresh at start.
    assert source.calls == 1


def test_keep_alive_serves_several_requests(server: FeedServer) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/calendars/fleet.ics")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
    finally:
        connection.close()


def test_binds_loopback_by_default(source: Source) -> None:
    server = FeedServer(source, FeedSettings(), port=0)
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.stop()


def test_settings_reject_bad_values() -> None:
    with pytest.raises(FeedConfigError, match="token is empty"):
        FeedSettings(token="")
    with pytest.raises(FeedConfigError, match="must be an absolute http"):
        FeedSettings(public_url="calendars.example.test")
    with pytest.raises(FeedConfigError, match="positive number of seconds"):
        FeedSettings(refresh_seconds=0)


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    assert read_token_file(path) == TOKEN
    path.write_text("\n")
    with pytest.raises(FeedConfigError, match="one non-empty line"):
        read_token_file(path)
    with pytest.raises(FeedConfigError, match="cannot read token file"):
        read_token_file(tmp_path / "missing")


def test_disconnect_is_logged_not_traced(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    """A client that hangs up mid-response costs one log line, not a traceback on stderr."""
    from planner.ical.feed import FeedHTTPServer

    server = FeedHTTPServer(("127.0.0.1", 0))
    try:
        with caplog.at_level(logging.INFO, logger="planner.ical.feed"):
            for _ in range(3):
                try:
                    raise BrokenPipeError(32, "Broken pipe")
                except BrokenPipeError:
                    server.handle_error(None, ("127.0.0.1", 50000))
    finally:
        server.server_close()

    assert capsys.readouterr().err == ""
    assert [record.getMessage() for record in caplog.records] == [
        "client 127.0.0.1 disconnected mid-response (1 so far): [Errno 32] Broken pipe"
    ]
