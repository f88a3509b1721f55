"""`planner ics` writes interrupt windows as iCalendar; `planner serve` runs the subscription feed."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import threading
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import click

from planner.engine import EMBARGO_RULES, SpecError, WindowSpec
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
)
from planner.ical.feed import FeedServer, FeedSettings, read_token_file, snapshot_source

logger = logging.getLogger("planner.cli.ics")


def _parse_when(value: str, option: str, zone: tzinfo) -> datetime:
    """Read an ISO 8601 date or date-time; without an offset it is local time in `zone`."""
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or date-time, such as 2026-03-01 or "
            "2026-03-01T12:00:00+01:00",
            param_hint=option,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise click.BadParameter(f"cannot read {str(path)!r}: {error}", param_hint=option) from None


def _spec_from_options(
    timezone: str | None,
    days: str | None,
    hour: float | None,
    duration: float | None,
    embargo: tuple[str, ...],
) -> WindowSpec:
    missing = [
        name
        for name, value in (("--timezone", timezone), ("--hour", hour), ("--duration", duration))
        if value is None
    ]
    if missing:
        raise click.UsageError(
            f"missing {', '.join(missing)}; give a spec with --timezone, --hour and --duration, "
            "or use --connector FILE or --snapshot FILE"
        )
    return WindowSpec.parse(
        timezone=timezone,  # type: ignore[arg-type]  # checked above
        days_of_week=days,
        hour_of_day=hour,  # type: ignore[arg-type]
        duration_hours=duration,  # type: ignore[arg-type]
        embargo_dates=list(embargo),
    )


def _write_atomically(text: str, output: Path) -> None:
    """Write `text` next to `output` and rename it into place, so no half-written file remains."""
    directory = output.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@click.command("ics")
@click.option("--timezone", help="IANA time zone of the window, such as Europe/Berlin.")
@click.option("--days", help="Allowed days, such as 'Sat,Sun' or 'Mon-Fri' (default: every day).")
@click.option("--hour", type=float, help="Start time of day in hours; 2.5 is 02:30.")
@click.option("--duration", type=float, help="Window length in hours, 1 to 24.")
@click.option(
    "--embargo",
    multiple=True,
    metavar="DATE|START..END",
    help="Embargoed local date or inclusive range; repeat for more.",
)
@click.option(
    "--connector",
    "connector_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with one connector object as the API returns it (envelope allowed).",
)
@click.option(
    "--snapshot",
    "snapshot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with the API's list of connectors (envelope or bare list).",
)
@click.option(
    "--embargo-rule",
    type=click.Choice(EMBARGO_RULES),
    default="overlap",
    show_default=True,
    help="overlap blocks windows touching an embargoed day; start only those starting on one.",
)
@click.option(
    "--from",
    "start_text",
    metavar="WHEN",
    help="Start of the range, ISO 8601 date or date-time (default: now). Without an offset it "
    "is read in the spec's zone, or in UTC for --snapshot.",
)
@click.option(
    "--until",
    "end_text",
    metavar="WHEN",
    help=f"End of the range, exclusive (default: {DEFAULT_HORIZON.days} days after --from).",
)
@click.option(
    "--recurrence",
    type=click.Choice(RECURRENCES),
    default="expanded",
    show_default=True,
    help="expanded writes one event per window; rrule one recurring event per connector.",
)
@click.option(
    "--include-blocked",
    is_flag=True,
    help="Include embargoed windows as cancelled events (STATUS:CANCELLED).",
)
@click.option("--name", help="Calendar name shown by clients (NAME and X-WR-CALNAME).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
def ics(
    timezone: str | None,
    days: str | None,
    hour: float | None,
    duration: float | None,
    embargo: tuple[str, ...],
    connector_file: Path | None,
    snapshot_file: Path | None,
    embargo_rule: str,
    start_text: str | None,
    end_text: str | None,
    recurrence: str,
    include_blocked: bool,
    name: str | None,
    output: Path | None,
) -> None:
    """Write interrupt windows as an iCalendar file.

    Give one window spec (--timezone, --days, --hour, --duration, --embargo), one connector
    (--connector FILE) or many (--snapshot FILE). Blocked windows are left out unless
    --include-blocked is given.
    """
    spec_given = any(value is not None for value in (timezone, days, hour, duration)) or embargo
    sources = [
        flag
        for flag, given in (
            ("spec options", spec_given),
            ("--connector", connector_file is not None),
            ("--snapshot", snapshot_file is not None),
        )
        if given
    ]
    if len(sources) > 1:
        raise click.UsageError(f"use only one of {' and '.join(sources)}")

    try:
        zone: tzinfo = UTC
        spec: WindowSpec | None = None
        connector: Connector | None = None
        connectors: list[Any] = []
        if connector_file is not None:
            connector = Connector.from_api(_read_json(connector_file, "--connector"))
            zone = connector.spec.zone
        elif snapshot_file is not None:
            connectors = read_snapshot(snapshot_file)
        else:
            spec = _spec_from_options(timezone, days, hour, duration, embargo)
            zone = spec.zone

        start = _parse_when(start_text, "--from", zone) if start_text else datetime.now(UTC)
        end = _parse_when(end_text, "--until", zone) if end_text else start + DEFAULT_HORIZON
        if end <= start:
            raise click.BadParameter(
                f"{end.isoformat()} is not after --from {start.isoformat()}", param_hint="--until"
            )
        options = ExportOptions(
            start=start,
            end=end,
            recurrence=recurrence,  # type: ignore[arg-type]  # click.Choice checked it
            include_blocked=include_blocked,
            embargo_rule=embargo_rule,  # type: ignore[arg-type]
        )

        calendar: CalendarExport
        if connector is not None:
            calendar = connector_calendar(connector, options, name=name)
        elif spec is not None:
            calendar = spec_calendar(spec, options, name=name)
        else:
            calendar = fleet_calendar(connectors, options, name=name)
    except SpecError as error:
        for problem in error.problems:
            click.echo(f"Error: {problem}", err=True)
        sys.exit(2)
    except CalendarError as error:
        _fail(str(error))
        return

    for warning in (*(spec.warnings if spec else ()), *calendar.warnings):
        click.echo(f"Warning: {warning}", err=True)
    if output is None:
        click.echo(calendar.text, nl=False)
    else:
        try:
            _write_atomically(calendar.text, output)
        except OSError as error:
            _fail(f"cannot write {str(output)!r}: {error.strerror}", code=1)
        click.echo(f"Wrote {calendar.event_count} events to {output}", err=True)


@click.command("serve")
@click.option(
    "--snapshot",
    "snapshot_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with the API's list of connectors; it is read again on every refresh.",
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
@click.option(
    "--recurrence",
    type=click.Choice(RECURRENCES),
    default="expanded",
    show_default=True,
    help="expanded writes one event per window; rrule one recurring event per connector.",
)
@click.option("--include-blocked", is_flag=True, help="Include embargoed windows as cancelled events.")
def serve(
    snapshot_file: Path,
    host: str,
    port: int,
    token_file: Path | None,
    refresh_seconds: float,
    public_url: str | None,
    recurrence: str,
    include_blocked: bool,
) -> None:
    """Serve calendars that Google Calendar, Outlook and Apple Calendar can subscribe to.

    Runs until interrupted (Ctrl-C or SIGTERM).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # The snapshot is read once up front so that a bad file fails here, with exit status 2.
        read_snapshot(snapshot_file)
        settings = FeedSettings(
            recurrence=recurrence,  # type: ignore[arg-type]  # click.Choice checked it
            include_blocked=include_blocked,
            refresh_seconds=refresh_seconds,
            token=read_token_file(token_file) if token_file else None,
            public_url=public_url,
        )
        server = FeedServer(snapshot_source(snapshot_file), settings, host=host, port=port)
    except CalendarError as error:
        _fail(str(error))
        return
    except OSError as error:
        _fail(f"cannot listen on {host}:{port}: {error.strerror}", code=1)
        return

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
        server.stop()
