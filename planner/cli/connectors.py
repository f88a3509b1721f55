"""`planner connectors`: list, show and change connectors through the API.

Exit statuses: 0 success, 1 API or network failure, 2 bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from planner.cli._common import fail_usage
from planner.cli.api import client_options, handle_api_errors, open_client
from planner.cli.windows import _OPTION_FOR_FIELD as OPTION_FOR_FIELD
from planner.cloudflare import ClientOptions, Connector
from planner.cloudflare.client import DEVICE_TYPES
from planner.engine import SpecError, Window, WindowSpec, next_open_window, next_windows

# How many upcoming windows `show` and `set` print.
SHOWN_WINDOWS = 3

# Characters from the API that must not reach a terminal as they are: C0 controls other than
# the newline, DEL, C1 controls (ESC sequences, CR) and lone surrogates. Valid JSON can carry
# a lone surrogate ("\\ud800"), but no output encoding can write one.
_UNSAFE_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# In JSON output, C0 controls are escaped by `json.dumps` already.
_UNSAFE_JSON = re.compile("[\x7f-\x9f\ud800-\udfff]")


@click.group()
def connectors() -> None:
    """List, show and change connectors through the Cloudflare API."""


@connectors.command("list")
@client_options
@click.option(
    "--device-type", type=click.Choice(DEVICE_TYPES), help="Only connectors of this type."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for other tools instead of a table."
)
def list_connectors(api_options: ClientOptions, device_type: str | None, as_json: bool) -> None:
    """List connectors with their window and the next open window."""
    now = datetime.now(UTC)
    with handle_api_errors(), open_client(api_options) as client:
        found = client.list_connectors(device_type=device_type)

    rows = [_summary(connector, now) for connector in found]
    if as_json:
        _echo_json(rows)
        return

    header = f"{'ID':<32}  {'NOTES':<24}  {'SITE':<12}  {'NEXT OPEN (UTC)':<20}  WINDOW"
    click.echo(header)
    for row in rows:
        site = _safe_text(str(row["site_id"] or "-"))[:12]
        notes = _safe_text(str(row["notes"] or ""))[:24]
        next_open = row["next_open_window"]["start"] if row["next_open_window"] else "-"
        click.echo(
            _safe_text(
                f"{row['id']:<32}  {notes:<24}  {site:<12}  {next_open:<20}  {row['window']}"
            )
        )


@connectors.command("show")
@client_options
@click.argument("connector_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the connector as the API's JSON.")
def show_connector(api_options: ClientOptions, connector_id: str, as_json: bool) -> None:
    """Show one connector's fields and its next windows; license_key is redacted."""
    with handle_api_errors(), open_client(api_options) as client:
        connector = client.get_connector(connector_id)

    if as_json:
        _echo_json(connector.to_api())
        return
    for name, value in connector.to_api().items():
        click.echo(_safe_text(f"{name}: {value}"))
    click.echo("")
    click.echo(_safe_text(_describe_window(connector, datetime.now(UTC))))


@connectors.command("set")
@client_options
@click.argument("connector_id", metavar="ID")
@click.option("--timezone", metavar="TZ", help="IANA time zone, such as Europe/Berlin.")
@click.option(
    "--days",
    metavar="LIST",
    help="Allowed days: names, abbreviations or ranges, comma-separated (Sat,Sun or Mon-Fri).",
)
@click.option(
    "--hour", type=float, metavar="H", help="Start hour of day, local time (2.5 is 02:30)."
)
@click.option("--duration", type=float, metavar="D", help="Window length in hours, 1 to 24.")
@click.option(
    "--embargo",
    multiple=True,
    metavar="DATE|START..END",
    help="Embargoed local date or inclusive range; repeat for more. Replaces the current list.",
)
@click.option("--no-embargo", is_flag=True, help="Remove every embargo date.")
@click.option(
    "--method",
    type=click.Choice(["patch", "put"]),
    default="patch",
    show_default=True,
    help="patch sends only the changed fields; put sends every writable field (read first).",
)
@click.option("--dry-run", is_flag=True, help="Print the change without sending it.")
def set_window(
    api_options: ClientOptions,
    connector_id: str,
    method: str,
    dry_run: bool,
    **options: Any,
) -> None:
    """Change the window fields given, after checking them with the engine's rules."""
    change = WindowChange(**options)
    if change.embargo and change.no_embargo:
        fail_usage(["--embargo and --no-embargo cannot be combined; give one of them"])
    if not change.fields():
        fail_usage(
            [
                "nothing to change; give at least one of --timezone, --days, --hour, --duration, "
                "--embargo or --no-embargo"
            ]
        )

    now = datetime.now(UTC)
    with handle_api_errors(), open_client(api_options) as client:
        current = client.get_connector(connector_id)
        try:
            spec = change.applied_to(current)
        except SpecError as error:
            fail_usage(
                f"{OPTION_FOR_FIELD.get(problem.field, problem.field)}: {problem.message}"
                for problem in error.problems
            )
        changes = {name: value for name, value in spec.to_api().items() if name in change.fields()}

        click.echo(_safe_text("Before: " + _describe_window(current, now)))
        if dry_run:
            click.echo(f"Dry run: would send {method.upper()} with {changes}")
            click.echo("After:  " + _describe_spec(spec, now))
            return

        if method == "put":
            result = client.replace_window(connector_id, changes)
        else:
            result = client.edit_window(connector_id, changes)
    click.echo(_safe_text("After:  " + _describe_window(result, now)))


@dataclass(frozen=True, slots=True)
class WindowChange:
    """The window options of `connectors set`; None, or an empty embargo, means unchanged."""

    timezone: str | None = None
    days: str | None = None
    hour: float | None = None
    duration: float | None = None
    embargo: tuple[str, ...] = ()
    no_embargo: bool = False

    def fields(self) -> set[str]:
        """Return the API names of the fields this change sets."""
        given = {
            "timezone": self.timezone is not None,
            "interrupt_window_days_of_week": self.days is not None,
            "interrupt_window_hour_of_day": self.hour is not None,
            "interrupt_window_duration_hours": self.duration is not None,
            "interrupt_window_embargo_dates": bool(self.embargo) or self.no_embargo,
        }
        return {name for name, is_given in given.items() if is_given}

    def applied_to(self, current: Connector) -> WindowSpec:
        """Return the connector's window with this change applied; raises SpecError."""
        current_days = current.interrupt_window_days_of_week
        values: dict[str, Any] = {
            "timezone": current.timezone,
            # The API's empty day list means every day, which `parse` spells as None.
            "days_of_week": list(current_days) if current_days else None,
            "hour_of_day": current.interrupt_window_hour_of_day,
            "duration_hours": current.interrupt_window_duration_hours,
            "embargo_dates": current.interrupt_window_embargo_dates or (),
        }
        if self.timezone is not None:
            values["timezone"] = self.timezone
        if self.days is not None:
            values["days_of_week"] = self.days
        if self.hour is not None:
            values["hour_of_day"] = self.hour
        if self.duration is not None:
            values["duration_hours"] = self.duration
        if self.embargo or self.no_embargo:
            values["embargo_dates"] = self.embargo
        return WindowSpec.parse(**values)


def _summary(connector: Connector, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": connector.id,
        "notes": connector.notes,
        "site_id": connector.site_id,
        "timezone": connector.timezone,
        "window": "",
        "next_open_window": None,
    }
    try:
        spec = connector.window_spec()
    except SpecError as error:
        row["window"] = "invalid: " + "; ".join(problem.message for problem in error.problems)
        return row
    row["window"] = spec.describe()
    upcoming = next_open_window(spec, now)
    row["next_open_window"] = upcoming.as_dict() if upcoming else None
    return row


def _describe_window(connector: Connector, now: datetime) -> str:
    try:
        spec = connector.window_spec()
    except SpecError as error:
        return "invalid window: " + "; ".join(str(problem) for problem in error.problems)
    return _describe_spec(spec, now)


def _describe_spec(spec: WindowSpec, now: datetime) -> str:
    upcoming = next_windows(spec, now, SHOWN_WINDOWS)
    lines = [spec.describe()]
    lines.extend(f"  next: {_format_window(window)}" for window in upcoming)
    return "\n".join(lines)


def _format_window(window: Window) -> str:
    return (
        f"{window.local_start:%a %Y-%m-%d %H:%M %z} to {window.local_end:%H:%M %z} "
        f"({window.start:%Y-%m-%d %H:%M}Z)"
    )


def _safe_text(text: str) -> str:
    """Replace control characters and lone surrogates from API data with U+FFFD."""
    return _UNSAFE_TEXT.sub("\ufffd", text)


def _echo_json(data: Any) -> None:
    """Print `data` as indented JSON that keeps every string's value but no terminal controls.

    Those characters only occur inside JSON strings, so writing them as \\u escapes keeps
    the document valid and equal to the data.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    click.echo(_UNSAFE_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text))
