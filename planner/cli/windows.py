"""`planner windows`: list the concrete windows of one spec or one connector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from planner.cli._common import echo_json, fail_usage, read_json_file
from planner.engine import (
    EMBARGO_RULES,
    FIRST_INSTANT,
    FIRST_SUPPORTED_DATE,
    LAST_INSTANT,
    LAST_SUPPORTED_DATE,
    SEARCH_LIMIT_DAYS,
    TZ_DATABASES,
    Coverage,
    SpecError,
    Window,
    WindowSpec,
    coverage_of,
    expand,
    next_windows,
    parse_instant,
    tzdata_version,
)

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_RANGE_DAYS = 28

# Ten years of daily windows is about 3,700 rows; longer ranges are almost always a typo in a year.
MAX_RANGE_DAYS = 3660

# The option that sets each spec field, for messages that point at what the user typed.
_OPTION_FOR_FIELD = {
    "timezone": "--timezone",
    "days_of_week": "--days",
    "hour_of_day": "--hour",
    "duration_hours": "--duration",
    "embargo_dates": "--embargo",
    "tz_database": "--tz-database",
}

_SPEC_OPTIONS = ("timezone", "days", "hour", "duration", "embargo")


def spec_options(command: F) -> F:
    """Add the options that describe a window spec: typed in, or read from `--connector FILE`."""
    decorators = [
        click.option("--timezone", "timezone", metavar="TZ", help="IANA time zone, such as Europe/Berlin."),
        click.option(
            "--days",
            metavar="LIST",
            help="Allowed days: names, three-letter abbreviations or ranges, comma-separated "
            "(Sat,Sun or Mon-Fri). Default: every day.",
        ),
        click.option("--hour", type=float, metavar="H", help="Start hour of day, local time (2.5 is 02:30)."),
        click.option("--duration", type=float, metavar="D", help="Window length in hours, 1 to 24."),
        click.option(
            "--embargo",
            multiple=True,
            metavar="DATE|START..END",
            help="Embargoed local date or inclusive range; repeat for more.",
        ),
        click.option(
            "--connector",
            "connector_file",
            metavar="FILE",
            help="Read the spec from a connector object as the API returns it (JSON).",
        ),
        click.option(
            "--tz-database",
            type=click.Choice(TZ_DATABASES),
            default="tzdata",
            show_default=True,
            help="Time zone database: the tzdata package, or the operating system's.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def connector_conflicts(options: dict[str, Any]) -> list[str]:
    """Return one message for each typed spec option given together with `--connector`."""
    if not options.get("connector_file"):
        return []
    return [
        f"--{name} cannot be combined with --connector; edit the connector file or drop --connector"
        for name in _SPEC_OPTIONS
        if options.get(name) not in (None, ())
    ]


def spec_from_options(options: dict[str, Any]) -> WindowSpec:
    """Build the spec from `spec_options` values, or exit 2 listing every problem."""
    connector_file = options.get("connector_file")
    if connector_file:
        conflicts = connector_conflicts(options)
        if conflicts:
            fail_usage(conflicts)
        data = read_json_file(connector_file, "connector file")
        try:
            return WindowSpec.from_api(data, tz_database=options["tz_database"])
        except SpecError as error:
            fail_usage(f"{connector_file}: {problem}" for problem in error.problems)

    missing = [f"--{name}" for name in ("timezone", "hour", "duration") if options.get(name) is None]
    if missing:
        fail_usage(
            f"missing option {name}; give a spec with --timezone, --hour and --duration, "
            "or read one with --connector FILE"
            for name in missing
        )
    try:
        return WindowSpec.parse(
            timezone=options["timezone"],
            days_of_week=options.get("days"),
            hour_of_day=options["hour"],
            duration_hours=options["duration"],
            embargo_dates=options.get("embargo") or (),
            tz_database=options["tz_database"],
        )
    except SpecError as error:
        fail_usage(
            f"{_OPTION_FOR_FIELD.get(problem.field, problem.field)}: {problem.message}"
            for problem in error.problems
        )


def instant_from_option(name: str, text: str | None, spec: WindowSpec, default: datetime) -> datetime:
    """Read a `--from`/`--until` value in the spec's zone, or exit 2 naming the option."""
    if text is None:
        return default
    try:
        instant = parse_instant(text, spec.zone)
    except ValueError as error:
        fail_usage([f"{name}: {error}"])
    if not FIRST_INSTANT <= instant <= LAST_INSTANT:
        fail_usage(
            [
                f"{name}: {text!r} is outside the supported dates "
                f"{FIRST_SUPPORTED_DATE.isoformat()} to {LAST_SUPPORTED_DATE.isoformat()}"
            ]
        )
    return instant


embargo_rule_option = click.option(
    "--embargo-rule",
    type=click.Choice(EMBARGO_RULES),
    default="overlap",
    show_default=True,
    help="overlap: block a window that touches an embargoed day; start: only one that starts on it.",
)


@click.command()
@spec_options
@embargo_rule_option
@click.option("--from", "from_text", metavar="WHEN", help="Start of the range (ISO 8601). Default: now.")
@click.option(
    "--until",
    "until_text",
    metavar="WHEN",
    help=f"End of the range, exclusive (ISO 8601). Default: {DEFAULT_RANGE_DAYS} days after --from.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1, max=MAX_RANGE_DAYS),
    metavar="N",
    help=f"List the next N windows (at most {MAX_RANGE_DAYS}) instead of a range.",
)
@click.option("--include-blocked", is_flag=True, help="List windows blocked by an embargo too, marked.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for other tools instead of a table.")
def windows(
    embargo_rule: str,
    from_text: str | None,
    until_text: str | None,
    count: int | None,
    include_blocked: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """List the interrupt windows a spec produces, DST-correct.

    WHEN is an ISO 8601 date or date-time; a date, or a date-time without an offset, is read in
    the spec's time zone.
    """
    conflicts = connector_conflicts(options)
    if until_text is not None and count is not None:
        conflicts.append("--until and --count cannot be combined; give a range end or a number of windows")
    if conflicts:
        fail_usage(conflicts)
    spec = spec_from_options(options)
    for warning in spec.warnings:
        click.echo(f"Warning: {warning}", err=True)

    now = datetime.now(UTC).replace(microsecond=0)
    start = instant_from_option("--from", from_text, spec, now)
    try:
        if count is not None:
            found = next_windows(
                spec, start, count, embargo_rule=embargo_rule, include_blocked=include_blocked  # type: ignore[arg-type]
            )
            if len(found) < count:
                click.echo(
                    f"Warning: {len(found)} of {count} windows found in the {SEARCH_LIMIT_DAYS} days searched",
                    err=True,
                )
            end = min(max((window.end for window in found), default=start), LAST_INSTANT)
        else:
            end = _range_end(until_text, spec, start)
        everything = expand(spec, start, end, embargo_rule=embargo_rule)  # type: ignore[arg-type]
    except ValueError as error:
        fail_usage([str(error)])
    if count is None:
        found = [window for window in everything if include_blocked or not window.blocked]

    summary = coverage_of(everything, start, end)
    if as_json:
        echo_json(
            {
                "timezone": spec.timezone,
                "tzdata_version": tzdata_version(spec.tz_database),
                "embargo_rule": embargo_rule,
                "spec": spec.to_api(),
                "windows": [window.as_dict() for window in found],
                "coverage": summary.as_dict(),
            }
        )
        return
    click.echo(format_table(spec, embargo_rule, found, summary))


def _range_end(until_text: str | None, spec: WindowSpec, start: datetime) -> datetime:
    if until_text is None:
        return start + timedelta(days=DEFAULT_RANGE_DAYS)
    end = instant_from_option("--until", until_text, spec, start)
    if end <= start:
        fail_usage([f"--until {until_text!r} is not after --from; give a later --until"])
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        fail_usage(
            [f"--until {until_text!r} is more than {MAX_RANGE_DAYS} days after --from; ask for a shorter range"]
        )
    return end


def format_table(spec: WindowSpec, embargo_rule: str, found: list[Window], summary: Coverage) -> str:
    """Render windows and their coverage as a readable table."""
    lines = [
        f"{spec.describe()}; embargo rule {embargo_rule}; tzdata {tzdata_version(spec.tz_database)}",
        "",
    ]
    header = f"{'Slot date':<14} {'Local start':<22} {'Local end':<22} {'UTC start':<17} {'UTC end':<17}"
    lines.append(header)
    lines.append("-" * len(header))
    for window in found:
        row = (
            f"{window.slot_date.strftime('%a %Y-%m-%d'):<14} "
            f"{_local(window.local_start):<22} {_local(window.local_end):<22} "
            f"{_utc(window.start):<17} {_utc(window.end):<17}"
        )
        if window.blocked:
            row += "  BLOCKED by " + ", ".join(day.isoformat() for day in window.embargo_dates)
        lines.append(row)
    if not found:
        lines.append("(no windows in this range)")

    lines.append("")
    lines.append(
        f"{summary.open_count} open and {summary.blocked_count} blocked windows, "
        f"{summary.open_hours:g} open hours from {_utc(summary.start)} to {_utc(summary.end)}; "
        f"longest stretch without an open window: {summary.longest_gap_hours:g} h"
    )
    if summary.min_open_hours_28d is not None:
        lines.append(f"Fewest open hours in any 28 days: {summary.min_open_hours_28d:g}")
    lines.extend(f"Warning: {warning}" for warning in summary.warnings)
    return "\n".join(lines)


def _local(instant: datetime) -> str:
    offset = instant.strftime("%z")
    # Offsets before about 1970 can have seconds (Africa/Monrovia was -00:44:30), shown in full.
    offset = f"{offset[:3]}:{offset[3:5]}" + (f":{offset[5:7]}" if offset[5:7] else "")
    return f"{_minute_or_second(instant)} {offset}"


def _utc(instant: datetime) -> str:
    return _minute_or_second(instant.astimezone(UTC)) + "Z"


def _minute_or_second(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S" if instant.second else "%Y-%m-%d %H:%M")
