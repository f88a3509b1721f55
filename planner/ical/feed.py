"""An HTTP server that calendar clients subscribe to.

Routes: `/` (an index page with subscribe links and each connector's next windows),
`/calendars/fleet.ics`, `/calendars/connectors/{id}.ics`, `/calendars/sites/{site_id}.ics` and
`/healthz`. Paths are only ever looked up in the table built at the last refresh, so no request
reaches the file system.

The connectors come from a source: any callable that returns the API's connector objects, such
as `snapshot_source(path)` or a function that lists them through the API client. The feed calls
it every `refresh_seconds`, rebuilds every calendar once, and keeps serving the last good
calendars when the source fails.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import itertools
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from planner.ical._connector import read_snapshot
from planner.ical._feedbuild import (
    FeedContent,
    FeedResource,
    FeedSettings,
    build_content,
    read_connectors,
)
from planner.ical.errors import FeedConfigError

if TYPE_CHECKING:
    from planner.cloudflare import ConnectorsClient

__all__ = [
    "CalendarFeed",
    "Clock",
    "ConnectorSource",
    "FeedContent",
    "FeedHTTPServer",
    "FeedResource",
    "FeedServer",
    "FeedSettings",
    "api_source",
    "read_token_file",
    "snapshot_source",
]

logger = logging.getLogger("planner.ical.feed")

# Interval in seconds at which the listener checks for stop(). A short poll keeps shutdown quick.
_SHUTDOWN_POLL_SECONDS = 0.05

ConnectorSource = Callable[[], Iterable[Mapping[str, Any]]]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def snapshot_source(path: str | Path) -> ConnectorSource:
    """Return a source that reads the snapshot file at `path` on every refresh."""
    snapshot = Path(path)

    def read() -> list[Mapping[str, Any]]:
        return read_snapshot(snapshot)

    return read


def api_source(client: ConnectorsClient) -> ConnectorSource:
    """Return a source that lists the connectors through the API on every refresh.

    A failed request raises, so the server keeps its last good calendars and logs the error.
    """

    def read() -> list[Mapping[str, Any]]:
        return [connector.to_api() for connector in client.list_connectors()]

    return read


def read_token_file(path: str | Path) -> str:
    """Read the token that `path` contains, or raise `FeedConfigError` if it is missing or empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FeedConfigError(f"cannot read token file {str(path)!r}: {error}") from error
    token = text.strip()
    if not token or "\n" in token:
        raise FeedConfigError(
            f"token file {str(path)!r} must hold one non-empty line, the token"
        )
    return token


class CalendarFeed:
    """The feed's current content, replaced as a whole by each successful refresh."""

    def __init__(
        self,
        source: ConnectorSource,
        settings: FeedSettings,
        base_url: str,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        self.source = source
        self.settings = settings
        self.base_url = settings.public_url or base_url
        self.clock = clock
        self._content: FeedContent | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.consecutive_failures = 0

    @property
    def content(self) -> FeedContent | None:
        """The content of the last successful refresh, or None before the first one."""
        return self._content

    def refresh(self) -> bool:
        """Read the source and rebuild every calendar, and return whether that worked.

        On failure the error is logged and the previous content stays in place.
        """
        with self._lock:
            now = self.clock()
            try:
                connectors = read_connectors(self.source())
                content = build_content(
                    connectors, self.settings, self.base_url, now, self._content
                )
            except Exception as error:  # noqa: BLE001 - a source may fail in any way, and serving goes on
                self.consecutive_failures += 1
                self.last_error = f"{type(error).__name__}: {error}"
                logger.error(
                    "feed refresh failed (%d in a row), serving the calendars from %s: %s",
                    self.consecutive_failures,
                    self._content.built_at.isoformat() if self._content else "no earlier refresh",
                    self.last_error,
                )
                return False

            self._content = content
            self.last_error = None
            self.consecutive_failures = 0
            logger.info(
                "feed refreshed: %d connectors, %d resources",
                content.connector_count,
                len(content.resources),
            )
            return True

    def health(self) -> tuple[int, dict[str, Any]]:
        """Return the /healthz status code and body: 503 until the first refresh succeeds.

        The body leaves out the error text, which only the log carries, because /healthz needs
        no token.
        """
        content = self._content
        body: dict[str, Any] = {
            "status": "ok",
            "connectors": content.connector_count if content else 0,
            "built_at": content.built_at.isoformat() if content else None,
            "failed_refreshes": self.consecutive_failures,
        }
        if content is None:
            body["status"] = "unavailable"
            return 503, body
        if self.consecutive_failures:
            body["status"] = "stale"
        return 200, body


def _accepts_gzip(header: str | None) -> bool:
    """Return whether Accept-Encoding allows gzip. A gzip entry overrides "*" (RFC 9110 12.5.3)."""
    if not header:
        return False
    qualities: dict[str, float] = {}
    for item in header.split(","):
        coding, _, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.strip().lower()] = quality
    quality = qualities.get("gzip", qualities.get("*", 0.0))
    return quality > 0


def _etag_matches(header: str, etag: str) -> bool:
    """Compare If-None-Match with weak comparison, as RFC 9110 section 13.1.2 requires."""
    if header.strip() == "*":
        return True
    candidates = (item.strip().removeprefix("W/") for item in header.split(","))
    return etag.removeprefix("W/") in candidates


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


class _Handler(BaseHTTPRequestHandler):
    """Request handler that serves GET and HEAD from the feed's current content."""

    protocol_version = "HTTP/1.1"
    server: FeedHTTPServer

    # Without these, the headers and the body leave in separate small writes, and Nagle's
    # algorithm with delayed ACKs delays each keep-alive response by tens of milliseconds.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    server_version = "planner-feed"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        feed = self.server.feed
        url = urlsplit(self.path)
        path = unquote(url.path)

        if path == "/healthz":
            status, health = feed.health()
            self._send_plain(status, json.dumps(health) + "\n", "application/json", send_body)
            return

        # The token is checked before the lookup, so that 404 against 403 does not tell a
        # caller without the token which connector and site ids exist.
        if (path == "/" or path.startswith("/calendars/")) and not self._token_ok(url.query):
            self._send_plain(403, "forbidden: add the feed's ?token= to the URL\n", None, send_body)
            return

        content = feed.content
        if content is None:
            self._send_plain(503, "no calendars yet: the first refresh has not succeeded\n", None, send_body)
            return
        resource = content.resources.get(path)
        if resource is None:
            self._send_plain(404, "not found\n", None, send_body)
            return
        self._send_resource(resource, send_body)

    def _token_ok(self, query: str) -> bool:
        token = self.server.feed.settings.token
        if token is None:
            return True
        given = parse_qs(query).get("token", [""])[0]
        return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))

    def _send_resource(self, resource: FeedResource, send_body: bool) -> None:
        use_gzip = _accepts_gzip(self.headers.get("Accept-Encoding"))
        etag = resource.gzip_etag if use_gzip else resource.etag
        body = resource.gzip_body if use_gzip else resource.body

        # If-None-Match takes precedence: If-Modified-Since is only read without it
        # (RFC 9110 section 13.2.2).
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            not_modified = _etag_matches(if_none_match, etag)
        elif if_modified_since is not None:
            not_modified = _not_modified_since(if_modified_since, resource.last_modified)
        else:
            not_modified = False

        status = HTTPStatus.NOT_MODIFIED if not_modified else HTTPStatus.OK
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.format_datetime(resource.last_modified, usegmt=True))
        self.send_header("Cache-Control", "private, no-cache")
        self.send_header("Vary", "Accept-Encoding")
        if not_modified:
            self.end_headers()
            return
        self.send_header("Content-Type", resource.content_type)
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _send_plain(self, status: int, text: str, content_type: str | None, send_body: bool) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type or "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The query is left out because it carries the token. A malformed request has no
        # command or path yet.
        command = getattr(self, "command", None) or "-"
        path = urlsplit(getattr(self, "path", "") or "").path or "-"
        logger.debug("%s %s %s", command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        # The base class calls this for malformed requests. Its message quotes the raw request
        # line, query and token included, so only the status code is logged.
        code = args[0] if args and isinstance(args[0], int) else "-"
        logger.debug("rejected a request from %s with status %s", self.client_address[0], code)


class FeedHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server with the feed that its handlers read from."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], feed: CalendarFeed | None = None) -> None:
        super().__init__(address, _Handler)
        self.feed: CalendarFeed = feed  # type: ignore[assignment]  # set right after binding
        self._disconnects = itertools.count(1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a request that failed; a client that hung up mid-response is counted, not traced."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            # Calendar clients drop connections routinely; one line per thousand is enough.
            count = next(self._disconnects)
            if count % 1000 == 1:
                logger.info("client %s disconnected mid-response (%d so far): %s", client_address[0], count, error)
            return
        logger.error("request from %s failed", client_address[0], exc_info=error)


class FeedServer:
    """The subscription server: an HTTP listener plus a thread that refreshes the feed.

    Use it as a context manager or call `start()` and `stop()`. It binds 127.0.0.1 unless `host`
    is given. Port 0 picks a free port, readable from `port` afterwards.
    """

    def __init__(
        self,
        source: ConnectorSource,
        settings: FeedSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        clock: Clock = _utc_now,
    ) -> None:
        self.settings = settings or FeedSettings()
        self.httpd = FeedHTTPServer((host, port))
        bound = self.httpd.socket.getsockname()
        self.host: str = bound[0]
        self.port: int = bound[1]
        url_host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{url_host}:{self.port}"
        self.feed = CalendarFeed(source, self.settings, self.url, clock=clock)
        self.httpd.feed = self.feed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> bool:
        """Refresh once, then serve and refresh in background threads.

        Returns whether the first refresh worked. The server returns 503 until one does.
        """
        first = self.feed.refresh()
        serve = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_SECONDS},
            name="feed-http",
            daemon=True,
        )
        refresh = threading.Thread(target=self._refresh_loop, name="feed-refresh", daemon=True)
        self._threads = [serve, refresh]
        for thread in self._threads:
            thread.start()
        logger.info("feed serving on http://%s:%d", self.host, self.port)
        return first

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.settings.refresh_seconds):
            self.feed.refresh()

    def stop(self) -> None:
        """Stop serving and refreshing, and close the listening socket."""
        self._stop.set()
        if self._threads:
            self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        logger.info("feed stopped")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
