"""Coverage: how much open window time a spec leaves over a horizon, and where it falls short."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from planner.engine.occurrences import EmbargoRule, Window, expand
from planner.engine.spec import WindowSpec

ROLLING_DAYS = 28

# Warn when the first open window is further away than this from the horizon's start.
NO_WINDOW_WARNING_DAYS = 30


@dataclass(frozen=True, slots=True)
class Coverage:
    """Open window time over the horizon [start, end).

    Hours count the union of open windows clipped to the horizon, so overlapping windows (possible
    around a DST change with 24-hour windows) are counted once.
    """

    start: datetime
    end: datetime
    window_count: int
    blocked_count: int
    open_hours: float
    # The minimum open hours over any 28 consecutive days of the horizon; None for shorter horizons.
    min_open_hours_28d: float | None
    # The longest stretch with no open window, the horizon's edges included.
    longest_gap_hours: float
    warnings: tuple[str, ...]

    @property
    def open_count(self) -> int:
        """The number of windows not blocked by an embargo."""
        return self.window_count - self.blocked_count

    def as_dict(self) -> dict[str, object]:
        """Return the coverage in the JSON form that `planner windows --json` prints."""
        return {
            "from": _utc_text(self.start),
            "until": _utc_text(self.end),
            "window_count": self.window_count,
            "open_count": self.open_count,
            "blocked_count": self.blocked_count,
            "open_hours": round(self.open_hours, 4),
            "min_open_hours_28d": (
                None if self.min_open_hours_28d is None else round(self.min_open_hours_28d, 4)
            ),
            "longest_gap_hours": round(self.longest_gap_hours, 4),
            "warnings": list(self.warnings),
        }


def coverage(
    spec: WindowSpec,
    start: datetime,
    end: datetime,
    *,
    embargo_rule: EmbargoRule = "overlap",
) -> Coverage:
    """Measure the open window time that `spec` leaves over [start, end)."""
    if end < start:
        raise ValueError(f"end {end.isoformat()!r} is before start {start.isoformat()!r}")
    windows = expand(spec, start, end, embargo_rule=embargo_rule)
    return coverage_of(windows, start, end)


def coverage_of(windows: Sequence[Window], start: datetime, end: datetime) -> Coverage:
    """Measure coverage over [start, end) for windows already expanded, blocked ones included."""
    if end < start:
        raise ValueError(f"end {end.isoformat()!r} is before start {start.isoformat()!r}")
    blocked_count = sum(1 for window in windows if window.blocked)
    intervals = _union(
        (max(window.start, start), min(window.end, end))
        for window in windows
        if not window.blocked and window.end > start and window.start < end
    )
    open_seconds = sum((stop - begin).total_seconds() for begin, stop in intervals)

    warnings: list[str] = []
    # A range shorter than the warning's period cannot show that the period has no open window.
    first_deadline = start + timedelta(days=NO_WINDOW_WARNING_DAYS)
    if end >= first_deadline and (not intervals or intervals[0][0] >= first_deadline):
        warnings.append(
            f"no open window in the {NO_WINDOW_WARNING_DAYS} days from {_utc_text(start)}"
        )
    elif not intervals and end > start:
        warnings.append(f"no open window from {_utc_text(start)} to {_utc_text(end)}")
    if windows and blocked_count * 2 > len(windows):
        warnings.append(
            f"embargoes block {blocked_count} of {len(windows)} windows, more than half"
        )

    return Coverage(
        start=start,
        end=end,
        window_count=len(windows),
        blocked_count=blocked_count,
        open_hours=open_seconds / 3600,
        min_open_hours_28d=_min_rolling_hours(intervals, start, end),
        longest_gap_hours=_longest_gap(intervals, start, end).total_seconds() / 3600,
        warnings=tuple(warnings),
    )


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _union(intervals: object) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for begin, stop in sorted(intervals):  # type: ignore[call-overload]
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((begin, stop))
    return merged


def _longest_gap(
    intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    edges = [start]
    for begin, stop in intervals:
        edges.extend((begin, stop))
    edges.append(end)
    return max(edges[index + 1] - edges[index] for index in range(0, len(edges), 2))


def _min_rolling_hours(
    intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> float | None:
    span = timedelta(days=ROLLING_DAYS)
    if end - start < span:
        return None
    if not intervals:
        return 0.0

    # Open time inside [t, t + span) is piecewise linear in t, so its minimum is reached where t
    # or t + span meets an interval's edge, or at the horizon's ends.
    begins = [begin for begin, _ in intervals]
    stops = [stop for _, stop in intervals]
    prefix = [0.0]
    for begin, stop in intervals:
        prefix.append(prefix[-1] + (stop - begin).total_seconds())

    def open_until(instant: datetime) -> float:
        index = bisect.bisect_right(begins, instant)
        total = prefix[index]
        if index and stops[index - 1] > instant:
            total -= (stops[index - 1] - instant).total_seconds()
        return total

    latest = end - span
    candidates = {start, latest}
    for begin, stop in intervals:
        for edge in (begin, stop, begin - span, stop - span):
            if start <= edge <= latest:
                candidates.add(edge)
    seconds = min(open_until(t + span) - open_until(t) for t in candidates)
    return seconds / 3600
