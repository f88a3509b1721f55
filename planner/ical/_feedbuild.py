"""The feed's content: every calendar and the index page, built together once per refresh."""

from __future__ import annotations

import gzip
import hashlib
import html
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from planner.engine import EmbargoRule, next_windows
from planner.ical._calendar import FLEET_NAME, assemble_calendar
from planner.ical._connector import Connector, valid_connectors
from planner.ical._events import EventBlock, render_connector
from planner.ical._options import ExportOptions, Recurrence
from planner.ical.errors import FeedConfigError

logger = logging.getLogger("planner.ical.feed")

CALENDAR_TYPE = "text/calendar; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Settings of the feed: the export range and mode, the source refresh interval and the token.

    The export range runs from `lookback` before the current UTC day to `horizon` after it, so
    calendars change once a day or when a connector changes, not on every refresh. `public_url`
    is the address subscribers reach the server at, used for the index page's links; it defaults
    to the address the server is bound to.
    """

    horizon: timedelta = timedelta(days=90)
    lookback: timedelta = timedelta(days=7)
    recurrence: Recurrence = "expanded"
    include_blocked: bool = False
    embargo_rule: EmbargoRule = "overlap"
    refresh_seconds: float = 300.0
    client_refresh: timedelta = timedelta(hours=1)
    token: str | None = field(default=None, repr=False)
    public_url: str | None = None
    next_window_count: int = 3

    def __post_init__(self) -> None:
        if self.horizon <= timedelta(0) or self.lookback < timedelta(0):
            raise FeedConfigError(
                f"horizon {self.horizon} must be positive and lookback {self.lookback} not negative"
            )
        if not self.refresh_seconds > 0:
            raise FeedConfigError(
                f"refresh interval {self.refresh_seconds!r} must be a positive number of seconds"
            )
        if self.client_refresh < timedelta(minutes=1):
            raise FeedConfigError(
                f"client refresh interval {self.client_refresh} must be at least one minute"
            )
        if self.token is not None and not self.token:
            raise FeedConfigError("the token is empty; write a non-empty token into the token file")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise FeedConfigError(
                    f"public URL {self.public_url!r} must be an absolute http:// or https:// URL, "
                    "such as 'https://calendars.example.com'"
                )


@dataclass(frozen=True, slots=True)
class FeedResource:
    """One response body, in plain and gzip form, with its validators."""

    content_type: str
    body: bytes
    gzip_body: bytes
    etag: str
    gzip_etag: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class FeedContent:
    """The responses the server sends between two refreshes, keyed by request path."""

    resources: Mapping[str, FeedResource]  # keyed by decoded request path
    connector_count: int
    built_at: datetime


def _resource(
    content_type: str,
    body: bytes,
    previous: FeedResource | None,
    now: datetime,
) -> FeedResource:
    """Make a resource whose Last-Modified only moves forward, and only when its body changes."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    etag = f'"{digest}"'
    if previous is not None and previous.etag == etag:
        return previous

    # HTTP dates have whole seconds. A changed body always gets a later date than the one
    # before it, so If-Modified-Since never hides a change made within the same second.
    last_modified = now.replace(microsecond=0)
    if previous is not None and last_modified <= previous.last_modified:
        last_modified = previous.last_modified + timedelta(seconds=1)
    return FeedResource(
        content_type=content_type,
        body=body,
        gzip_body=gzip.compress(body, compresslevel=6, mtime=0),
        etag=etag,
        gzip_etag=f'"{digest}-gzip"',
        last_modified=last_modified,
    )


def connector_path(connector_id: str) -> str:
    """Return the request path of one connector's calendar."""
    return f"/calendars/connectors/{quote(connector_id, safe='')}.ics"


def site_path(site_id: str) -> str:
    """Return the request path of one site's calendar."""
    return f"/calendars/sites/{quote(site_id, safe='')}.ics"


FLEET_PATH = "/calendars/fleet.ics"


def read_connectors(items: Iterable[Mapping[str, Any]]) -> list[Connector]:
    """Read connector objects for the feed, skipping invalid ones and repeated ids with a warning.

    One bad connector in a fleet should not take every other calendar offline.
    """
    connectors, skipped = valid_connectors(items)
    if skipped:
        logger.warning(
            "feed skipped %d connector objects: %s", len(skipped), "; ".join(skipped)
        )
    return connectors


def build_content(
    connectors: list[Connector],
    settings: FeedSettings,
    base_url: str,
    now: datetime,
    previous: FeedContent | None,
) -> FeedContent:
    """Build every calendar and the index page for `connectors` as of `now`."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    options = ExportOptions(
        start=today - settings.lookback,
        end=today + settings.horizon,
        recurrence=settings.recurrence,
        include_blocked=settings.include_blocked,
        embargo_rule=settings.embargo_rule,
        refresh_interval=settings.client_refresh,
    )
    blocks = [render_connector(connector, options) for connector in connectors]
    bodies: dict[str, tuple[str, bytes]] = {}

    fleet = assemble_calendar(blocks, options, name=FLEET_NAME)
    bodies[FLEET_PATH] = (CALENDAR_TYPE, fleet.to_bytes())

    by_site: dict[str, list[EventBlock]] = {}
    for connector, block in zip(connectors, blocks, strict=True):
        title = connector.notes.strip() or connector.id
        calendar = assemble_calendar([block], options, name=f"Interrupt windows: {title}")
        bodies[connector_path(connector.id)] = (CALENDAR_TYPE, calendar.to_bytes())
        if connector.site_id:
            by_site.setdefault(connector.site_id, []).append(block)
    for site_id, site_blocks in sorted(by_site.items()):
        calendar = assemble_calendar(site_blocks, options, name=f"Interrupt windows: site {site_id}")
        bodies[site_path(site_id)] = (CALENDAR_TYPE, calendar.to_bytes())

    page = render_index(connectors, sorted(by_site), settings, base_url, now)
    bodies["/"] = (HTML_TYPE, page.encode("utf-8", "replace"))

    # Keys are decoded paths, the form the server looks up, so ids with "/", spaces or other
    # reserved characters work as long as links encode them.
    old = previous.resources if previous is not None else {}
    resources = {}
    for path, (content_type, body) in bodies.items():
        key = unquote(path)
        resources[key] = _resource(content_type, body, old.get(key), now)
    return FeedContent(resources=resources, connector_count=len(connectors), built_at=now)


def _links(base_url: str, path: str, token: str | None) -> str:
    parts = urlsplit(base_url)
    prefix = parts.path.rstrip("/")
    query = f"?token={quote(token, safe='')}" if token else ""
    web = f"{parts.scheme}://{parts.netloc}{prefix}{path}{query}"
    webcal = f"webcal://{parts.netloc}{prefix}{path}{query}"
    label = "https://" if parts.scheme == "https" else "http://"
    return (
        f'<a href="{html.escape(webcal)}">webcal://</a> · '
        f'<a href="{html.escape(web)}">{label}</a>'
    )


def render_index(
    connectors: list[Connector],
    site_ids: list[str],
    settings: FeedSettings,
    base_url: str,
    now: datetime,
) -> str:
    """Render the index page: subscribe links for every calendar and each connector's next windows."""
    token = settings.token
    rows = [
        f"<tr><td>All connectors</td><td></td><td>{_links(base_url, FLEET_PATH, token)}</td></tr>"
    ]
    for site_id in site_ids:
        rows.append(
            f"<tr><td>Site {html.escape(site_id)}</td><td></td>"
            f"<td>{_links(base_url, site_path(site_id), token)}</td></tr>"
        )
    for connector in connectors:
        upcoming = next_windows(
            connector.spec,
            now,
            settings.next_window_count,
            embargo_rule=settings.embargo_rule,
        )
        listed = "<br>".join(
            html.escape(
                f"{window.local_start:%a %Y-%m-%d %H:%M %Z} "
                f"({window.start.astimezone(UTC):%Y-%m-%d %H:%M} UTC), "
                f"{window.duration_hours:g} h"
            )
            for window in upcoming
        ) or "none in the next two years"
        title = connector.notes.strip() or connector.id
        rows.append(
            f"<tr><td>{html.escape(title)}<br><small>{html.escape(connector.id)}"
            f"{' · site ' + html.escape(connector.site_id) if connector.site_id else ''}"
            f"<br>{html.escape(connector.spec.describe())}</small></td>"
            f"<td>{listed}</td>"
            f"<td>{_links(base_url, connector_path(connector.id), token)}</td></tr>"
        )
    body = "\n".join(rows)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<title>Interrupt window calendars</title>\n</head>\n<body>\n"
        "<h1>Interrupt window calendars</h1>\n"
        f"<p>Subscribe with a webcal:// link, or add the web link in your calendar client. "
        f"Next windows as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC.</p>\n"
        "<table>\n<tr><th>Calendar</th><th>Next open windows</th><th>Subscribe</th></tr>\n"
        f"{body}\n</table>\n</body>\n</html>\n"
    )
