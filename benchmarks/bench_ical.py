"""Build a fleet calendar of about 100,000 VEVENTs, and load the feed server on loopback.

Part 1 compares `planner.ical.fleet_calendar` with a naive build in the same run: the same engine
windows, one `icalendar.Event` per window with the same properties, icalendar's own VTIMEZONEs,
then `Calendar.to_ical()`. Both sides include expanding the windows, which is also timed alone.

Part 2 starts the feed server on 127.0.0.1 with the same fleet and sends a fixed number of
requests for one connector's calendar from several keep-alive clients, first plain GETs (200)
and then GETs with a matching If-None-Match (304). Each client stops after its share.

Run: python benchmarks/bench_ical.py [--connectors 1200] [--requests 4000] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from planner.engine import DAY_NAMES, expand
from planner.ical import Connector, ExportOptions, fleet_calendar
from planner.ical.feed import FeedServer, FeedSettings

START = datetime(2027, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)

# Zones on every continent, with 30- and 45-minute offsets and DST in both hemispheres.
ZONES = [
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
    "America/Santiago", "America/St_Johns", "Europe/London", "Europe/Berlin", "Europe/Helsinki",
    "Africa/Cairo", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Tokyo", "Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe",
    "Pacific/Auckland", "Pacific/Chatham", "UTC",
]


def make_connectors(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Return `count` connector objects. Most allow every day, so 90 days give about 90 windows."""
    rng = random.Random(seed)
    connectors = []
    for index in range(count):
        days = list(DAY_NAMES) if rng.random() < 0.9 else rng.sample(DAY_NAMES, rng.randint(1, 6))
        embargo = sorted({(START + timedelta(days=rng.randrange(90))).date().isoformat() for _ in range(2)})
        connectors.append(
            {
                "id": f"{index:032x}",
                "notes": f"branch-{index}, rack {index % 7}",
                "site_id": f"site-{index // 2:05d}",
                "activated": True,
                "primary": index % 2 == 0,
                "last_updated": f"2026-11-{1 + index % 28:02d}T10:00:00Z",
                "timezone": rng.choice(ZONES),
                "interrupt_window_days_of_week": days,
                "interrupt_window_hour_of_day": rng.randrange(0, 24 * 4) / 4,
                "interrupt_window_duration_hours": rng.randint(1, 8),
                "interrupt_window_embargo_dates": embargo,
            }
        )
    return connectors


def naive_calendar(connectors: list[dict[str, Any]], options: ExportOptions) -> tuple[bytes, int]:
    """Build the expanded calendar the straightforward way: an icalendar.Event per window."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//planner benchmark//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", "Interrupt windows: all connectors")
    calendar.add("x-wr-calname", "Interrupt windows: all connectors")
    count = 0
    for data in connectors:
        connector = Connector.from_api(data)
        spec = connector.spec
        assert connector.last_updated is not None
        for window in expand(spec, options.start, options.end):
            if window.blocked:
                continue
            event = Event()
            event.add("uid", f"{connector.id}-{window.slot_date:%Y%m%d}@interrupt-window.planner")
            event.add("dtstamp", connector.last_updated)
            event.add("last-modified", connector.last_updated)
            event.add("sequence", 1)
            event.add("dtstart", window.local_start)
            event.add("dtend", window.local_end)
            event.add("summary", f"Interrupt window: {connector.notes}")
            event.add(
                "description",
                f"Connector: {connector.id}\nSite: {connector.site_id}\nWindow: {spec.describe()}\n"
                f"Local: {window.local_start:%Y-%m-%d %H:%M %Z} to {window.local_end:%Y-%m-%d %H:%M %Z}\n"
                f"UTC: {window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M}",
            )
            event.add("status", "CONFIRMED")
            event.add("transp", "TRANSPARENT")
            calendar.add_component(event)
            count += 1
    calendar.add_missing_timezones()
    return calendar.to_ical(), count


def time_call(function: Any, *arguments: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*arguments)
    return time.perf_counter() - started, result


def bench_build(connectors: list[dict[str, Any]]) -> None:
    options = ExportOptions(start=START, end=END)
    parsed = [Connector.from_api(data) for data in connectors]
    engine_seconds, windows = time_call(
        lambda: sum(len(expand(c.spec, START, END)) for c in parsed)
    )
    planner_seconds, export = time_call(fleet_calendar, connectors, options)
    naive_seconds, (naive_bytes, naive_count) = time_call(naive_calendar, connectors, options)
    print(f"windows expanded: {windows:,} in {engine_seconds:.2f} s (engine alone)")
    print(
        f"planner fleet_calendar: {export.event_count:,} VEVENTs, "
        f"{len(export.to_bytes()) / 1e6:.1f} MB in {planner_seconds:.2f} s"
    )
    print(
        f"naive icalendar build:  {naive_count:,} VEVENTs, "
        f"{len(naive_bytes) / 1e6:.1f} MB in {naive_seconds:.2f} s"
    )
    print(f"ratio naive / planner: {naive_seconds / planner_seconds:.1f}x (target: at least 3x)")


def _client(host: str, port: int, path: str, headers: dict[str, str], count: int, expected: int) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        for _ in range(count):
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != expected:
                raise RuntimeError(f"expected status {expected}, got {response.status} for {path}")
    finally:
        connection.close()


def bench_server(connectors: list[dict[str, Any]], requests: int, clients: int) -> None:
    server = FeedServer(lambda: connectors, FeedSettings(refresh_seconds=3600), port=0)
    refresh_seconds, ok = time_call(server.start)
    assert ok, server.feed.last_error
    try:
        path = f"/calendars/connectors/{connectors[0]['id']}.ics"
        size = len(server.feed.content.resources[path].body)  # type: ignore[union-attr]
        etag = server.feed.content.resources[path].etag  # type: ignore[union-attr]
        print(f"feed refresh (all calendars built once): {refresh_seconds:.2f} s")
        for label, headers, expected in (
            (f"200 ({size:,} bytes)", {}, 200),
            ("304", {"If-None-Match": etag}, 304),
        ):
            share = requests // clients
            threads = [
                threading.Thread(
                    target=_client, args=(server.host, server.port, path, headers, share, expected)
                )
                for _ in range(clients)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            print(
                f"feed {label}: {share * clients:,} requests from {clients} keep-alive clients "
                f"in {elapsed:.2f} s = {share * clients / elapsed:,.0f} requests/s"
            )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connectors", type=int, default=1200, help="connectors in the fleet")
    parser.add_argument("--requests", type=int, default=4000, help="requests per feed measurement")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    arguments = parser.parse_args()

    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}, {platform.processor() or platform.machine()}"
    )
    connectors = make_connectors(arguments.connectors)
    bench_build(connectors)
    bench_server(connectors, arguments.requests, arguments.clients)


if __name__ == "__main__":
    main()
