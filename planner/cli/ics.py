"""`planner ics` writes interrupt windows as iCalendar, and `planner serve` runs the subscription feed."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from planner._files import write_atomically
from planner.cli._common import EXIT_FAILURE, fail_usage, read_json_file
from planner.cli.windows import embargo_rule_option, instant_from_option, spec_from_options, spec_options
from planner.engine import parse_instant
from planner.ical import (
    DEFAULT_HORIZON,
    RECURRENCES,
    CalendarError,
    CalendarExport,
    Connector,
    ExportOptions,
    connector_calendar,
    fleet_calendar,
    read_snapshot,
    spec_calendar,
    valid_connectors,
)
from planner.cli.api import client_options, handle_api_errors, make_client_options, open_client
from planner.cloudflare import ClientOptions, ConfigError, ConnectorsClient, client_from_options
from planner.ical.feed import FeedServer, FeedSettings, api_source, read_token_file, snapshot_source

logger = logging.getLogger("planner.cli.ics")

# The `spec_options` parameters that type a spec in, which a snapshot cannot be combined with.
_TYPED_SPEC_OPTIONS = ("timezone", "days", "hour", "duration", "embargo")


def _checked_range(start: datetime, end: datetime, end_text: str | None) -> None:
    if end <= start:
        fail_usage([f"--until {end_text!r} is not after --from; give a later --until"])


def _fleet_calendar(
    read_connectors: Callable[[], Iterable[Mapping[str, Any] | Connector]],
    source_flag: str,
    options: dict[str, Any],
    start_text: str | None,
    end_text: str | None,
    export_settings: dict[str, Any],
    name: str | None,
) -> CalendarExport:
    """Export every connector of a snapshot or the API, reading --from and --until without an offset as UTC."""
    given = [f"--{option}" for option in _TYPED_SPEC_OPTIONS if options.get(option) not in (None, ())]
    if options.get("connector_file"):
        given.append("--connector")
    if given:
        fail_usage(
            f"{option} cannot be combined with {source_flag}; the connectors carry their own windows"
            for option in given
        )

    try:
        now = datetime.now(UTC).replace(microsecond=0)
        start = parse_instant(start_text, UTC) if start_text else now
        end = parse_instant(end_text, UTC) if end_text else start + DEFAULT_HORIZON
    except ValueError as error:
        fail_usage([str(error)])
    _checked_range(start, end, end_text)

    export = ExportOptions(start=start, end=end, **export_settings)
    connectors = read_connectors()
    return fleet_calendar(connectors, export, name=name, tz_database=options["tz_database"])


def _single_calendar(
    options: dict[str, Any],
    start_text: str | None,
    end_text: str | None,
    export_settings: dict[str, Any],
    name: str | None,
) -> tuple[CalendarExport, tuple[str, ...]]:
    """Export one connector file or one typed spec, and return the calendar and the spec's warnings."""
    spec = spec_from_options(options)
    now = datetime.now(UTC).replace(microsecond=0)
    start = instant_from_option("--from", start_text, spec, now)
    end = instant_from_option("--until", end_text, spec, start + DEFAULT_HORIZON)
    _checked_range(start, end, end_text)
    export = ExportOptions(start=start, end=end, **export_settings)

    connector_file = options.get("connector_file")
    if connector_file:
        # spec_from_options has read and checked the spec. The id, site and notes come from here.
        data = read_json_file(connector_file, "connector file")
        connector = Connector.from_api(data, tz_database=options["tz_database"])
        return connector_calendar(connector, export, name=name), spec.warnings
    return spec_calendar(spec, export, name=name), spec.warnings


def _valid_live_connectors(client: ConnectorsClient) -> list[Connector]:
    """List the account's connectors, skipping with a warning any whose window cannot be read.

    Unlike a snapshot the user passes, the API's data is not the user's input to fix, so one bad
    connector should not stop the export of the others.
    """
    connectors, skipped = valid_connectors(api_source(client)())
    for reason in skipped:
        click.echo(f"Warning: skipped {reason}", err=True)
    return connectors


def _open_serve_client(api_options: ClientOptions) -> ConnectorsClient:
    """Open the API client for serve, naming serve's own option for the API token in errors."""
    try:
        return client_from_options(api_options)
    except ConfigError as error:
        # serve's --token-file is the feed token; the API token option is --api-token-file.
        fail_usage([str(error).replace("--token-file", "--api-token-file")])


def _api_secrets(client: ConnectorsClient) -> set[str]:
    credentials = client.config.credentials
    return {secret for secret in (credentials.token, credentials.api_key) if secret}


# Options that `planner ics` and `planner serve` share.
_recurrence_option = click.option(
    "--recurrence",
    type=click.Choice(RECURRENCES),
    default="expanded",
    show_default=True,
    help="expanded: one event per window; rrule: recurring events per connector.",
)
_include_blocked_option = click.option(
    "--include-blocked",
    is_flag=True,
    help="Include embargoed windows as cancelled events (STATUS:CANCELLED).",
)


@click.command("ics")
@spec_options
@click.option(
    "--snapshot",
    "snapshot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Export every connector of a JSON file holding the API's list of connectors "
    "(envelope or bare list).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Export every connector of the account, read through the API (see the API options).",
)
@embargo_rule_option
@click.option(
    "--from",
    "start_text",
    metavar="WHEN",
    help="Start of the range (ISO 8601). Default: now. Without an offset it is read in the "
    "spec's zone, or in UTC with --snapshot and --live, whose connectors have zones of their own.",
)
@click.option(
    "--until",
    "end_text",
    metavar="WHEN",
    help=f"End of the range, exclusive (ISO 8601). Default: {DEFAULT_HORIZON.days} days after --from.",
)
@_recurrence_option
@_include_blocked_option
@click.option("--name", help="Calendar name that clients show (NAME and X-WR-CALNAME).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write. Default: standard output.",
)
@client_options
def ics(
    api_options: ClientOptions,
    snapshot_file: Path | None,
    live: bool,
    embargo_rule: str,
    start_text: str | None,
    end_text: str | None,
    recurrence: str,
    include_blocked: bool,
    name: str | None,
    output: Path | None,
    **options: Any,
) -> None:
    """Write interrupt windows as an iCalendar file.

    Give one window spec (--timezone, --days, --hour, --duration, --embargo), one connector
    (--connector FILE) or many (--snapshot FILE, or --live to read them through the API). WHEN
    is an ISO 8601 date or date-time.
    Blocked windows are left out unless --include-blocked is given.
    """
    export_settings = {
        "recurrence": recurrence,
        "include_blocked": include_blocked,
        "embargo_rule": embargo_rule,
    }
    spec_warnings: tuple[str, ...] = ()
    if snapshot_file is not None and live:
        fail_usage(["--snapshot and --live cannot be combined; read the connectors from one source"])
    try:
        if snapshot_file is not None:
            calendar = _fleet_calendar(
                lambda: read_snapshot(snapshot_file),
                "--snapshot",
                options,
                start_text,
                end_text,
                export_settings,
                name,
            )
        elif live:
            with handle_api_errors(), open_client(api_options) as client:
                calendar = _fleet_calendar(
                    lambda: _valid_live_connectors(client),
                    "--live",
                    options,
                    start_text,
                    end_text,
                    export_settings,
                    name,
                )
        else:
            calendar, spec_warnings = _single_calendar(
                options, start_text, end_text, export_settings, name
            )
    except CalendarError as error:
        fail_usage([str(error)])

    for warning in (*spec_warnings, *calendar.warnings):
        click.echo(f"Warning: {warning}", err=True)
    if output is None:
        # Bytes, so that CRLF line ends and UTF-8 survive any platform or locale.
        stdout = sys.stdout.buffer
        stdout.write(calendar.to_bytes())
        stdout.flush()
        return
    try:
        write_atomically(output, calendar.to_bytes())
    except OSError as error:
        click.echo(f"Error: cannot write {str(output)!r}: {error.strerror}", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(f"Wrote {calendar.event_count} events to {output}", err=True)


@click.command("serve")
@click.option(
    "--snapshot",
    "snapshot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with the API's list of connectors; it is read again on every refresh.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Read the connectors through the API on every refresh (see the API options; the API "
    "token comes from --api-token-file or the environment).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding a token that calendar URLs must carry as ?token=.",
)
@click.option(
    "--refresh",
    "refresh_seconds",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds between two reads of the source.",
)
@click.option(
    "--public-url",
    help="Address subscribers use, such as https://calendars.example.com (default: the listening address).",
)
@_recurrence_option
@_include_blocked_option
@make_client_options("--api-token-file")
def serve(
    api_options: ClientOptions,
    snapshot_file: Path | None,
    live: bool,
    host: str,
    port: int,
    token_file: Path | None,
    refresh_seconds: float,
    public_url: str | None,
    recurrence: str,
    include_blocked: bool,
) -> None:
    """Serve calendars that Google Calendar, Outlook and Apple Calendar can subscribe to.

    The connectors come from --snapshot FILE or, with --live, from the API. Runs until
    interrupted (Ctrl-C or SIGTERM).
    """
    if (snapshot_file is None) == (not live):
        fail_usage(["give exactly one source: --snapshot FILE or --live"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if live:
            client = _open_serve_client(api_options)
            source = api_source(client)
        else:
            assert snapshot_file is not None
            # The snapshot is read once up front so that a bad file fails here, with exit status 2.
            read_snapshot(snapshot_file)
            source = snapshot_source(snapshot_file)
        settings = FeedSettings(
            recurrence=recurrence,  # type: ignore[arg-type]  # click.Choice checked it
            include_blocked=include_blocked,
            refresh_seconds=refresh_seconds,
            token=read_token_file(token_file) if token_file else None,
            public_url=public_url,
        )
        if live and settings.token is not None and settings.token in _api_secrets(client):
            fail_usage(
                [
                    "--token-file holds the API token; the feed token is handed to every subscriber "
                    "in its calendar URLs, so give the feed a token of its own and pass the API token "
                    "with --api-token-file or CLOUDFLARE_API_TOKEN"
                ]
            )
        server = FeedServer(source, settings, host=host, port=port)
    except CalendarError as error:
        fail_usage([str(error)])
    except OSError as error:
        click.echo(f"Error: cannot listen on {host}:{port}: {error.strerror}", err=True)
        sys.exit(EXIT_FAILURE)

    if settings.token is None and host not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("serving on %s without --token-file: anyone who can reach it reads the calendars", host)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server.start()
    click.echo(f"Serving calendars on {server.url}/ (Ctrl-C stops)", err=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # The API client is left to the process's exit: the refresh thread may still be inside a
        # request on the client's event loop, which another thread cannot close.
        server.stop()
