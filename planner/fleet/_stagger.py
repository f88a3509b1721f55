"""Staggering: moving start hours so windows meet the `[stagger]` constraints.

The search is greedy and deterministic. Connectors are placed in order of their id; each takes the
first start hour, from a fixed order of candidates, whose open windows over the horizon break no
constraint with the connectors placed before it. The same connectors, policies and horizon
therefore always give the same hours, so a replan after an apply proposes no further shift.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from planner.engine import WindowSpec, expand
from planner.fleet._errors import StaggerError
from planner.fleet._fleetfile import Stagger

_DAY_SECONDS = 86_400
_Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class StaggerMember:
    """A connector taking part in staggering.

    `movable` is False for a connector no policy selects: its window stays as it is, but it still
    counts for `ha = "disjoint"` with the other connector of its site.
    """

    connector_id: str
    label: str
    spec: WindowSpec
    site_id: str | None = None
    movable: bool = True


def stagger_hours(
    members: Sequence[StaggerMember], stagger: Stagger, start: datetime.datetime, end: datetime.datetime
) -> dict[str, float]:
    """Return the start hour for every movable member, meeting `stagger` over [start, end).

    Raise StaggerError naming every connector that no candidate hour fits, with the constraint
    that rejected it.
    """
    occupancy = _Occupancy()
    sites: dict[str, list[_Interval]] = defaultdict(list)
    for member in members:
        if not member.movable and member.site_id is not None:
            sites[member.site_id].extend(_open_intervals(member.spec, start, end))

    hours: dict[str, float] = {}
    failures: dict[str, str] = {}
    for member in sorted((member for member in members if member.movable), key=lambda member: member.connector_id):
        rejected_by: set[str] = set()
        for hour in candidate_hours(member.spec.hour_of_day, stagger):
            spec = dataclasses.replace(member.spec, hour_of_day=hour)
            intervals = _open_intervals(spec, start, end)
            if stagger.ha_disjoint and member.site_id is not None and _overlaps_any(intervals, sites[member.site_id]):
                rejected_by.add("ha")
                continue
            if stagger.max_concurrent is not None and not occupancy.fits(intervals, stagger.max_concurrent):
                rejected_by.add("max_concurrent")
                continue
            occupancy.add(intervals)
            if member.site_id is not None:
                sites[member.site_id].extend(intervals)
            hours[member.connector_id] = hour
            break
        else:
            failures[member.label] = _describe_failure(rejected_by, stagger, member)

    if failures:
        raise StaggerError(failures)
    return hours


def candidate_hours(hour: float, stagger: Stagger) -> list[float]:
    """Return the start hours to try, in order: `hour` itself, then the band's whole hours nearest to it first.

    Without `start_hours` the band is the whole slot day (0 to 23).
    """
    band = stagger.start_hours.hours() if stagger.start_hours is not None else tuple(range(24))
    others = sorted((float(candidate) for candidate in band if candidate != hour), key=lambda candidate: (_circular_distance(candidate, hour), candidate))
    return [hour, *others]


def _circular_distance(first: float, second: float) -> float:
    distance = abs(first - second) % 24
    return min(distance, 24 - distance)


def _describe_failure(rejected_by: set[str], stagger: Stagger, member: StaggerMember) -> str:
    band = f"start_hours {stagger.start_hours}" if stagger.start_hours is not None else "any start hour"
    reasons = []
    if "ha" in rejected_by:
        reasons.append(f'ha = "disjoint" (site_id {member.site_id!r})')
    if "max_concurrent" in rejected_by:
        reasons.append(f"max_concurrent = {stagger.max_concurrent}")
    return f"no start hour in {band} meets " + " and ".join(reasons)


def _open_intervals(spec: WindowSpec, start: datetime.datetime, end: datetime.datetime) -> list[_Interval]:
    return [
        (window.start.timestamp(), window.end.timestamp())
        for window in expand(spec, start, end)
        if not window.blocked
    ]


def _overlaps_any(intervals: Iterable[_Interval], others: Sequence[_Interval]) -> bool:
    return any(begin < other_end and other_begin < end for begin, end in intervals for other_begin, other_end in others)


class _Occupancy:
    """Open windows already placed, bucketed by the UTC day they start on for quick overlap search."""

    def __init__(self) -> None:
        self._by_day: dict[int, list[_Interval]] = defaultdict(list)

    def add(self, intervals: Iterable[_Interval]) -> None:
        for interval in intervals:
            self._by_day[int(interval[0] // _DAY_SECONDS)].append(interval)

    def fits(self, intervals: Iterable[_Interval], limit: int) -> bool:
        """Return whether adding the intervals keeps every instant at or below `limit` open windows."""
        return all(self._max_depth(begin, end) < limit for begin, end in intervals)

    def _max_depth(self, begin: float, end: float) -> int:
        # A window lasts at most 24 hours (plus a DST hour), so any window overlapping [begin, end)
        # started at most two UTC days before `begin`.
        first_day = int(begin // _DAY_SECONDS) - 2
        last_day = int(end // _DAY_SECONDS)
        events: list[tuple[float, int]] = []
        for day in range(first_day, last_day + 1):
            for other_begin, other_end in self._by_day.get(day, ()):
                if other_begin < end and begin < other_end:
                    events.append((max(other_begin, begin), 1))
                    events.append((other_end, -1))
        # Ends sort before starts at the same instant, because windows are half-open.
        events.sort(key=lambda event: (event[0], event[1]))
        depth = deepest = 0
        for _, change in events:
            depth += change
            deepest = max(deepest, depth)
        return deepest
