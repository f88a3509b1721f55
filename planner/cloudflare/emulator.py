"""A local emulator of the connectors API: a real HTTP/1.1 server on 127.0.0.1.

It serves `/client/v4/accounts/{account_id}/magic/connectors[/{id}]` from a `ConnectorStore`,
checks credentials, counts a rate-limit quota, and injects seeded faults. Tests run it in a
background thread (`with Emulator(...) as emulator:`); `planner emulator` runs it in the
foreground. The server is a small asyncio HTTP/1.1 parser with keep-alive, so thousands of
concurrent connections cost one task each; given an `ssl_context`, it serves HTTPS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from planner.cloudflare.emulated_api import (
    CODE_AUTHENTICATION,
    CODE_INTERNAL,
    CODE_INVALID_HEADERS,
    CODE_INVALID_JSON,
    CODE_INVALID_REQUEST_LINE,
    CODE_NO_ROUTE,
    CODE_RATE_LIMITED,
    ConnectorStore,
    PutMode,
    Reply,
    failure,
)

logger = logging.getLogger("planner.cloudflare.emulator")

API_PREFIX = "/client/v4"
DEFAULT_ACCOUNT_ID = "023e105f4ecef8ad9ca31a8372d0c353"
DEFAULT_TOKEN = "emulator-token"

FaultKind = Literal[
    "error_500", "error_502", "error_503", "reset_before", "reset_after", "malformed", "stall"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "error_500",
    "error_502",
    "error_503",
    "reset_before",
    "reset_after",
    "malformed",
    "stall",
)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_BODY = 1 << 20
MAX_LOGGED_REQUESTS = 100_000


@dataclass(frozen=True, slots=True)
class Faults:
    """Seeded random faults; each rate is the share of requests that get that fault.

    `server_error_rate` is split evenly between 500, 502 and 503. `reset_before_rate` closes
    the connection with a TCP reset before the request is applied, `reset_after_rate` after a
    write is applied, `malformed_rate` applies the request and responds 200 with a truncated
    JSON body, and `stall_rate` waits `stall_seconds` before handling the request.
    `latency` (seconds) is added to every response.
    """

    latency: float = 0.0
    server_error_rate: float = 0.0
    reset_before_rate: float = 0.0
    reset_after_rate: float = 0.0
    malformed_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 30.0

    def __post_init__(self) -> None:
        rates = (
            self.server_error_rate,
            self.reset_before_rate,
            self.reset_after_rate,
            self.malformed_rate,
            self.stall_rate,
        )
        # Written as "not inside the range" so that nan fails every check.
        if not all(0 <= rate <= 1 for rate in rates) or not sum(rates) <= 1:
            raise ValueError(f"fault rates must be >= 0 and add up to at most 1, got {rates}")
        if not 0 <= self.latency < math.inf or not 0 <= self.stall_seconds < math.inf:
            raise ValueError(
                "latency and stall_seconds must be finite numbers of seconds >= 0, got "
                f"{self.latency!r} and {self.stall_seconds!r}"
            )

    def draw(self, rng: random.Random) -> FaultKind | None:
        """Pick the fault for one request, or None."""
        roll = rng.random()
        third = self.server_error_rate / 3
        for kind, rate in (
            ("error_500", third),
            ("error_502", third),
            ("error_503", third),
            ("reset_before", self.reset_before_rate),
            ("reset_after", self.reset_after_rate),
            ("malformed", self.malformed_rate),
            ("stall", self.stall_rate),
        ):
            if roll < rate:
                return kind  # type: ignore[return-value]
            roll -= rate
        return None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator received it, and its response.

    `body` and `response` are the parsed JSON bodies (None when empty or not JSON); `status` is
    None when the connection was reset instead.
    """

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int | None
    response: Any
    fault: FaultKind | None
    time: float

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON object."""
        return asdict(self)


@dataclass(slots=True)
class _ScriptedFault:
    kind: FaultKind
    remaining: int
    method: str | None


@dataclass(slots=True)
class _Quota:
    """A fixed-window request counter, as Cloudflare counts its 5-minute quota."""

    limit: int
    window: float
    started: float = -math.inf
    used: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1 or not 0 < self.window < math.inf:
            raise ValueError(
                f"invalid quota {self.limit!r} per {self.window!r} s; give at least 1 request "
                "per finite, positive number of seconds"
            )

    def take(self, now: float) -> bool:
        """Count one request; return whether the quota allowed it."""
        if now >= self.started + self.window:
            self.started, self.used = now, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def reset_seconds(self, now: float) -> int:
        """Return the whole seconds until the quota resets (a full window if none is running)."""
        if now >= self.started + self.window:
            return math.ceil(self.window)
        return max(1, math.ceil(self.started + self.window - now))

    def headers(self, now: float) -> dict[str, str]:
        """Return the `Ratelimit` and `Ratelimit-Policy` headers for the current state."""
        running = now < self.started + self.window
        remaining = self.limit - self.used if running else self.limit
        return {
            "Ratelimit": f'"default";r={remaining};t={self.reset_seconds(now)}',
            "Ratelimit-Policy": f'"burst";q={self.limit};w={math.ceil(self.window)}',
        }


@dataclass(slots=True)
class _RawResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    close: Literal["no", "reset", "after_headers"] = "no"


class Emulator:
    """The connectors API on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        connectors: Iterable[Mapping[str, Any]] = (),
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        token: str | None = DEFAULT_TOKEN,
        email: str | None = None,
        api_key: str | None = None,
        put_mode: PutMode = "merge",
        quota: int = 1200,
        quota_window: float = 300.0,
        faults: Faults | None = None,
        seed: int = 0,
        echo_license_key: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"the emulator listens on loopback only, not {host!r}")

        self.store = ConnectorStore(
            connectors,
            account_id=account_id,
            put_mode=put_mode,
            echo_license_key=echo_license_key,
            rng=random.Random(seed),
        )
        self.account_id = account_id
        self.token = token
        self.email = email
        self.api_key = api_key

        self.faults = faults or Faults()
        self.host = host
        self.port = port
        self.ssl_context = ssl_context

        self._quota = _Quota(quota, quota_window)
        self._rng = random.Random(seed + 1)
        self._scripted: deque[_ScriptedFault] = deque()
        # Bounded, so a long-running emulator does not grow without limit; the oldest go first.
        self._log: deque[RequestRecord] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._lock = threading.Lock()
        self._ray = 0

        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        # Connections accepted so far, and the most that were open at once.
        self.connections_opened = 0
        self.peak_connections = 0

    @property
    def base_url(self) -> str:
        """The API base URL to give a client, such as http://127.0.0.1:8787/client/v4."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{API_PREFIX}"

    # Control and inspection, safe to call from any thread.

    def fail_next(self, kind: FaultKind, count: int = 1, *, method: str | None = None) -> None:
        """Give the next `count` requests (of `method`, if given) the fault `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        # A count below 1 would never reach zero in `_take_fault`, so the fault would stay.
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"invalid fault count {count!r}; give a whole number of at least 1")
        with self._lock:
            self._scripted.append(_ScriptedFault(kind, count, method))

    def set_quota(self, limit: int, window: float) -> None:
        """Replace the rate-limit quota and start a fresh window."""
        with self._lock:
            self._quota = _Quota(limit, window)

    def request_log(self) -> list[RequestRecord]:
        """Return the requests received so far, oldest first (the last 100,000 at most)."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self._log.clear()

    def dump_state(self) -> list[dict[str, Any]]:
        """Return every stored connector as JSON objects, licence keys included."""
        with self._lock:
            return self.store.dump()

    def connector(self, connector_id: str) -> dict[str, Any] | None:
        """Return one stored connector, or None."""
        with self._lock:
            return self.store.get(connector_id)

    # Running.

    def start(self) -> Emulator:
        """Start serving in a background thread; return once the port is listening."""
        ready = threading.Event()
        failure_box: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as error:  # reported to the starting thread below
                failure_box.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._wait_until_stopped())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="cloudflare-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure_box:
            raise failure_box[0]
        return self

    def stop(self) -> None:
        """Stop the background server and close every connection."""
        if self._loop is None or self._thread is None or self._stopped is None:
            return
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def serve_forever(self, on_listening: Callable[[], None] | None = None) -> None:
        """Serve in the running event loop until cancelled (the CLI's Ctrl-C).

        `on_listening` is called once the port is open, when `base_url` is final.
        """
        await self._open()
        if on_listening is not None:
            on_listening()
        await self._wait_until_stopped()

    async def _open(self) -> None:
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.host,
            self.port,
            backlog=4096,
            reuse_address=True,
            ssl=self.ssl_context,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("emulator listening on %s for account %s", self.base_url, self.account_id)

    async def _wait_until_stopped(self) -> None:
        assert self._stopped is not None and self._server is not None
        try:
            await self._stopped.wait()
        finally:
            self._server.close()
            # A connection accepted just before the close has a handler task that has not run
            # yet; one pass of the loop lets it register, so it is cancelled and closed too
            # instead of leaking its socket.
            await asyncio.sleep(0)
            while self._connections:
                for task in list(self._connections):
                    task.cancel()
                await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            logger.info("emulator on %s stopped", self.base_url)

    # HTTP.

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.connections_opened += 1
        self.peak_connections = max(self.peak_connections, len(self._connections))
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            # A client that goes away mid-request is normal for a test server, so only DEBUG.
            logger.debug("connection from %s ended: %r", writer.get_extra_info("peername"), error)
        except asyncio.CancelledError:
            # The server is stopping. The handler ends normally, because asyncio 3.11's stream
            # callback reports a cancelled handler task as an unhandled error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False

        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = request_line.split(" ")
        except ValueError:
            rejected = _rejection(400, CODE_INVALID_REQUEST_LINE, "invalid HTTP request line")
            await self._write(writer, rejected, keep_alive=False)
            return False
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()

        body = b""
        if "transfer-encoding" in headers:
            rejected = _rejection(411, CODE_INVALID_HEADERS, "send the body with Content-Length")
            await self._write(writer, rejected, keep_alive=False)
            return False
        length_text = headers.get("content-length", "0") or "0"
        # isdigit() alone accepts digits such as "²" that int() rejects, and int() rejects
        # numbers of more than 4,300 digits, so both are checked before converting.
        is_number = length_text.isascii() and length_text.isdigit() and len(length_text) <= 20
        length = int(length_text) if is_number else -1
        if not 0 <= length <= _MAX_BODY:
            rejected = _rejection(
                400,
                CODE_INVALID_HEADERS,
                f"Content-Length must be a whole number of bytes up to {_MAX_BODY}",
            )
            await self._write(writer, rejected, keep_alive=False)
            return False
        if length:
            body = await reader.readexactly(length)

        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            raw = await self._respond(method, target, headers, body)
        except Exception:
            # A bug here must cost one request, not the connection without any response.
            logger.exception("emulator failed to handle %s %r", method, target)
            raw = _rejection(500, CODE_INTERNAL, "the emulator failed to handle the request")
            keep_alive = False
        if raw.close == "reset":
            _reset(writer)
            return False
        await self._write(writer, raw, keep_alive=keep_alive)
        return keep_alive

    async def _respond(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> _RawResponse:
        try:
            parts = urlsplit(target)
        except ValueError:
            # For example an unclosed IPv6 bracket in an absolute-form target.
            return _rejection(400, CODE_INVALID_REQUEST_LINE, "invalid request target")
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query))
        fault = self._take_fault(method)

        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if fault == "stall":
            await asyncio.sleep(self.faults.stall_seconds)

        if fault in {"error_500", "error_502", "error_503", "reset_before"}:
            raw = _fault_response(fault)
            # Every response carries the quota headers, even one that never reached the API.
            with self._lock:
                raw.headers.update(self._quota.headers(time.monotonic()))
        else:
            raw = self._apply(method, path, query, headers, body)
            if fault == "reset_after":
                raw.close = "reset"
            elif fault == "malformed":
                raw.body = raw.body[: max(1, len(raw.body) // 2)]
                raw.status = 200

        self._record(method, path, query, body, raw, fault)
        return raw

    def _apply(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _RawResponse:
        with self._lock:
            now = time.monotonic()
            allowed = self._quota.take(now)
            quota_headers = self._quota.headers(now)
            if not allowed:
                reply = Reply(
                    429,
                    failure(
                        (
                            CODE_RATE_LIMITED,
                            "Rate limited. Please wait and consider throttling your request speed",
                        )
                    ),
                )
                quota_headers["Retry-After"] = str(self._quota.reset_seconds(now))
            elif not self._authenticated(headers):
                reply = Reply(403, failure((CODE_AUTHENTICATION, "Authentication error")))
            elif not path.startswith(API_PREFIX + "/"):
                reply = Reply(404, failure((CODE_NO_ROUTE, "No route for the URI")))
            else:
                try:
                    reply = self.store.handle(method, path[len(API_PREFIX) :], query, body)
                except RecursionError:
                    # JSON shallow enough to parse can still be too deep to validate.
                    reply = Reply(
                        400, failure((CODE_INVALID_JSON, "the request body nests JSON too deeply"))
                    )

        raw = _json_response(reply.status, reply.envelope)
        raw.headers.update(quota_headers)
        return raw

    def _authenticated(self, headers: Mapping[str, str]) -> bool:
        authorization = headers.get("authorization", "")
        if self.token is not None and authorization == f"Bearer {self.token}":
            return True
        return (
            self.email is not None
            and self.api_key is not None
            and headers.get("x-auth-email") == self.email
            and headers.get("x-auth-key") == self.api_key
        )

    def _take_fault(self, method: str) -> FaultKind | None:
        with self._lock:
            for scripted in self._scripted:
                if scripted.method is None or scripted.method == method:
                    scripted.remaining -= 1
                    if scripted.remaining == 0:
                        self._scripted.remove(scripted)
                    return scripted.kind
            return self.faults.draw(self._rng)

    def _record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        raw: _RawResponse,
        fault: FaultKind | None,
    ) -> None:
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, RecursionError):
            parsed = body.decode("latin-1")
        status = None if raw.close == "reset" else raw.status
        try:
            response = json.loads(raw.body) if status is not None and raw.body else None
        except ValueError:
            response = None
        record = RequestRecord(method, path, query, parsed, status, response, fault, time.time())
        with self._lock:
            self._log.append(record)
        logger.debug("%s %s -> %s (fault %s)", method, path, status, fault)

    async def _write(
        self, writer: asyncio.StreamWriter, raw: _RawResponse, *, keep_alive: bool
    ) -> None:
        with self._lock:
            self._ray += 1
            ray = f"{self._ray:016x}-EMU"
        lines = [
            f"HTTP/1.1 {raw.status} {_REASONS.get(raw.status, 'Unknown')}",
            f"Content-Length: {len(raw.body)}",
            f"cf-ray: {ray}",
            "Connection: " + ("keep-alive" if keep_alive else "close"),
            *(f"{name}: {value}" for name, value in raw.headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + raw.body)
        await writer.drain()


def _json_response(status: int, envelope: Mapping[str, Any]) -> _RawResponse:
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return _RawResponse(status, body, {"Content-Type": "application/json"})


def _rejection(status: int, code: int, message: str) -> _RawResponse:
    """Return the failure envelope for a request that cannot be parsed as HTTP."""
    return _json_response(status, failure((code, message)))


def _fault_response(kind: FaultKind) -> _RawResponse:
    if kind == "reset_before":
        return _RawResponse(0, b"", close="reset")
    if kind == "error_500":
        return _json_response(500, failure((CODE_INTERNAL, "Internal server error")))
    # Cloudflare's edge returns 502 and 503 as an HTML page, not as an API envelope.
    status = 502 if kind == "error_502" else 503
    page = f"<html><body><h1>{status} {_REASONS[status]}</h1></body></html>".encode()
    return _RawResponse(status, page, {"Content-Type": "text/html"})


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset instead of an orderly shutdown."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
