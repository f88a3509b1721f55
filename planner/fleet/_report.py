"""Plan reports: a text table, a CSV file and a Markdown change record for a change-advisory board."""

from __future__ import annotations

import importlib.metadata

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from planner.engine import API_FIELDS, SpecError, WindowSpec
from planner.fleet._plan import Plan, PlannedWindow

# Short column names for the API's window fields, in the API's order.
_SHORT_NAMES = {
    "timezone": "timezone",
    "interrupt_window_days_of_week": "days",
    "interrupt_window_hour_of_day": "hour",
    "interrupt_window_duration_hours": "duration",
    "interrupt_window_embargo_dates": "embargo",
}


def describe_window(fields: Mapping[str, Any]) -> str:
    """Return a one-line summary of window fields, such as "Sat, Sun at 02:00 for 4 h (UTC), 3 embargo dates"."""
    try:
        spec = WindowSpec.from_api(fields)
    except SpecError as error:
        return f"invalid window ({error})"
    embargo = len(spec.embargo_dates)
    if embargo == 0:
        return spec.describe()
    return f"{spec.describe()}, {embargo} embargo date{'s' if embargo != 1 else ''}"


def plan_table(plan: Plan) -> str:
    """Return the plan as an aligned text table with a header, warnings and unmatched connectors."""
    rows = [("CONNECTOR", "POLICY", "CHANGES", "CURRENT", "DESIRED", "OPEN HOURS", "NEXT OPEN NOW (LOCAL)",
             "NEXT OPEN AFTER (LOCAL)")]
    for item in plan.connectors:
        rows.append((
            item.label,
            item.policy,
            ", ".join(_SHORT_NAMES[name] for name in item.changes) or "none",
            describe_window(item.before),
            describe_window(item.desired),
            f"{_rounded_hours(item.coverage_before) or '-'} -> {_rounded_hours(item.coverage_after)}",
            _local_starts(item.windows_before),
            _local_starts(item.windows_after),
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    lines = [_plan_heading(plan), ""]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows]

    warnings = _labelled_warnings(plan)
    if warnings:
        lines += ["", "Warnings:"] + [f"  {label}: {warning}" for label, warning in warnings]
    if plan.unmatched:
        lines += ["", f"Left alone, no policy matches ({len(plan.unmatched)}):"]
        lines += [f"  {item.label}" for item in plan.unmatched]
    lines += ["", f"Open hours: open window time over the {plan.horizon_days}-day horizon, now -> after the change.",
              _plan_counts(plan)]
    return "\n".join(line.rstrip() for line in lines)


def plan_csv(plan: Plan) -> str:
    """Return one CSV row per planned connector, with the current and desired value of each window field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["id", "label", "policy", "site_id", "changes"]
    header += [f"current_{_SHORT_NAMES[name]}" for name in API_FIELDS]
    header += [f"desired_{_SHORT_NAMES[name]}" for name in API_FIELDS]
    header += ["next_windows_before", "next_windows_after", "open_hours_before", "open_hours_after", "warnings"]
    writer.writerow(header)
    for item in plan.connectors:
        writer.writerow([
            item.connector_id,
            item.label,
            item.policy,
            item.site_id or "",
            " ".join(item.changes),
            *(_csv_value(item.before.get(name)) for name in API_FIELDS),
            *(_csv_value(item.desired.get(name)) for name in API_FIELDS),
            " ".join(window.start.isoformat() for window in item.windows_before),
            " ".join(window.start.isoformat() for window in item.windows_after),
            _hours(item.coverage_before),
            _hours(item.coverage_after),
            " | ".join(item.warnings),
        ])
    return buffer.getvalue()


def plan_markdown(plan: Plan) -> str:
    """Return the plan as a Markdown change record: scope, changes, schedule, risks and back-out."""
    changed = plan.changed
    lines = [
        "# Change record: connector interrupt windows",
        "",
        f"- Fleet file: `{plan.source}`",
        f"- Planned at: {plan.created_at.isoformat()}",
        f"- Horizon: {plan.horizon_days} days; time zone data: tzdata {plan.tzdata_version}; "
        f"public holidays: holidays {_holidays_version()}",
        f"- Plan content hash: `{plan.content_hash}`",
        f"- Connectors: {len(plan.connectors)} selected, {len(changed)} to change, "
        f"{len(plan.connectors) - len(changed)} already as desired, {len(plan.unmatched)} left alone",
        "",
        "## Changes",
        "",
    ]
    if changed:
        lines += ["| Connector | Policy | Current | Desired | Fields |", "|---|---|---|---|---|"]
        lines += [
            f"| {_cell(item.label)} | {_cell(item.policy)} | {_cell(describe_window(item.before))} | "
            f"{_cell(describe_window(item.desired))} | {', '.join(_SHORT_NAMES[name] for name in item.changes)} |"
            for item in changed
        ]
    else:
        lines.append("No connector changes.")

    lines += ["", "## Schedule after the change", ""]
    for item in changed:
        lines += [f"### {item.label}", ""]
        lines += _markdown_windows("Next open windows now", item.windows_before)
        lines += _markdown_windows("Next open windows after the change", item.windows_after)
        if item.coverage_after is not None:
            lines.append(
                f"- Open hours over the horizon: {_rounded_hours(item.coverage_before) or 'n/a'} now, "
                f"{_rounded_hours(item.coverage_after)} after; longest gap after: {_rounded(item.coverage_after['longest_gap_hours'])} h"
            )
        lines.append("")

    warnings = _labelled_warnings(plan)
    lines += ["## Risks and warnings", ""]
    lines += [f"- {_cell(label)}: {_cell(warning)}" for label, warning in warnings] or ["None."]
    if plan.unmatched:
        lines += ["", "## Out of scope (no policy matches)", ""]
        lines += [f"- {_cell(item.label)}" for item in plan.unmatched]
    lines += [
        "",
        "## Implementation and back-out",
        "",
        "1. `planner apply PLAN.json` re-reads every connector, skips any changed since this plan as a "
        "conflict, records each before-state in the journal and then sends the changes.",
        "2. `planner history RUN_ID` shows the outcome per connector.",
        "3. Back-out: `planner rollback RUN_ID` restores the previous window of every connector that "
        "still holds what the run set.",
        "",
    ]
    return "\n".join(lines)


def _labelled_warnings(plan: Plan) -> list[tuple[str, str]]:
    """Return the plan's warnings, then each connector's, with the fleet file or connector they concern."""
    warnings = [("fleet file", warning) for warning in plan.warnings]
    return warnings + [(item.label, warning) for item in plan.connectors for warning in item.warnings]


def _plan_heading(plan: Plan) -> str:
    return (
        f"Plan from {plan.source} at {plan.created_at.isoformat(timespec='minutes')}, "
        f"horizon {plan.horizon_days} days, tzdata {plan.tzdata_version}"
    )


def _plan_counts(plan: Plan) -> str:
    changed = len(plan.changed)
    return (
        f"{len(plan.connectors)} selected: {changed} to change, {len(plan.connectors) - changed} already as desired; "
        f"{len(plan.unmatched)} left alone."
    )


def _local_starts(windows: Iterable[PlannedWindow]) -> str:
    return ", ".join(window.local_start.strftime("%a %m-%d %H:%M") for window in windows) or "none"


def _markdown_windows(title: str, windows: tuple[PlannedWindow, ...]) -> list[str]:
    if not windows:
        return [f"- {title}: none"]
    return [f"- {title}:"] + [
        f"  - {window.local_start.strftime('%a %Y-%m-%d %H:%M %z')} to {_local_end(window)} "
        f"({window.start.strftime('%Y-%m-%d %H:%M')} UTC)"
        for window in windows
    ]


def _local_end(window: PlannedWindow) -> str:
    # A window past midnight ends on another day, which the time alone would hide.
    if window.local_end.date() != window.local_start.date():
        return window.local_end.strftime("%a %Y-%m-%d %H:%M %z")
    return window.local_end.strftime("%H:%M %z")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def _hours(coverage: Mapping[str, Any] | None) -> str:
    return "" if coverage is None else f"{coverage['open_hours']:g}"


def _rounded_hours(coverage: Mapping[str, Any] | None) -> str:
    """Return the open hours to one decimal for people to read; CSV keeps every digit."""
    return "" if coverage is None else _rounded(coverage["open_hours"])


def _rounded(hours: float) -> str:
    return f"{hours:.1f}"


def _cell(text: str) -> str:
    # A pipe would end the Markdown table cell early.
    return text.replace("|", "\\|")


def _holidays_version() -> str:
    # Embargo dates from public holidays change when the package does, so the record names it.
    return importlib.metadata.version("holidays")
