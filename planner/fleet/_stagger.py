"""Staggering: moving start hours so windows meet the `[stagger]` constraints.

The search is greedy and deterministic. Connectors are placed in order of their id, the members
of an HA site together. Each takes the first start hour, from a fixed order of candidates, whose
open windows over the horizon break no constraint with those placed before it. The same inputs
therefore always give the same hours, and a replan after an apply proposes no further shift: a
policy that sets the hour repeats the same search, and one that does not tries each connector's
applied hour first, which fits because the applied hours were a valid placement.

NOTE: a greedy search with one repair step can report a fleet as impossible when a cleverer
assignment of hours exists; the error then names the connectors it could not place.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import math
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

    With `ha = "disjoint"` the selected members of a site are placed together, trying pairs of
    hours in order of how far they move, so the first member never takes the only hour that
    would have left room for the second. A group that fits nowhere gets one repair step: an
    earlier group moves to another of its hours if that makes room. Raise StaggerError naming
    every connector still without an hour, with the constraint that rejected it.
    """
    placer = _Placer(stagger, start, end)
    for member in members:
        if not member.movable and member.site_id is not None:
            placer.sites[member.site_id].extend(placer.intervals(member, member.spec.hour_of_day))

    failures: dict[str, str] = {}
    for group in _groups([member for member in members if member.movable], stagger.ha_disjoint):
        rejected_by = placer.place(group)
        if rejected_by is not None and not placer.repair(group):
            for member in group:
                failures[member.label] = _describe_failure(rejected_by, stagger, member)

    if failures:
        raise StaggerError(failures)
    return placer.hours


# Groups whose hour combinations exceed this are placed one member at a time instead.
_MAX_COMBINATIONS = 5000

# A failed group tries moving at most this many earlier groups, the most recent first, and one
# staggering run tries at most _REPAIR_BUDGET moves in all, so an impossible fleet fails fast.
_MAX_REPAIRS = 200
_REPAIR_BUDGET = 2000

_Placement = list[tuple[float, list[_Interval]]]


class _Placer:
    """The placements made so far: hours, the occupancy they cause, and each site's windows."""

    def __init__(self, stagger: Stagger, start: datetime.datetime, end: datetime.datetime) -> None:
        self.stagger = stagger
        self.start = start
        self.end = end
        self.occupancy = _Occupancy()
        self.sites: dict[str, list[_Interval]] = defaultdict(list)
        self.hours: dict[str, float] = {}
        self.placed: list[tuple[tuple[StaggerMember, ...], _Placement]] = []
        self._cache: dict[tuple[str, float], list[_Interval]] = {}
        self._repairs_left = _REPAIR_BUDGET

    def intervals(self, member: StaggerMember, hour: float) -> list[_Interval]:
        key = (member.connector_id, hour)
        if key not in self._cache:
            spec = dataclasses.replace(member.spec, hour_of_day=hour)
            self._cache[key] = _open_intervals(spec, self.start, self.end)
        return self._cache[key]

    def place(self, group: tuple[StaggerMember, ...]) -> set[str] | None:
        """Place a group; return None on success, else the constraints that rejected it."""
        placement, rejected_by = self._search(group)
        if placement is None:
            return rejected_by
        self._commit(group, placement)
        return None

    def repair(self, group: tuple[StaggerMember, ...]) -> bool:
        """Make room for a group by moving one earlier group; return whether that placed it."""
        for index in range(len(self.placed) - 1, max(-1, len(self.placed) - 1 - _MAX_REPAIRS), -1):
            if self._repairs_left == 0:
                return False
            self._repairs_left -= 1
            earlier, old = self.placed[index]
            self._withdraw(earlier, old)
            placement, _ = self._search(group)
            if placement is not None:
                self._commit(group, placement, record=False)
                moved, _ = self._search(earlier)
                if moved is not None:
                    self._commit(earlier, moved, record=False)
                    self.placed[index] = (earlier, moved)
                    self.placed.append((group, placement))
                    return True
                self._withdraw(group, placement)
            self._commit(earlier, old, record=False)
        return False

    def _commit(self, group: tuple[StaggerMember, ...], placement: _Placement, *, record: bool = True) -> None:
        for member, (hour, intervals) in zip(group, placement, strict=True):
            self.occupancy.add(intervals)
            if member.site_id is not None:
                self.sites[member.site_id].extend(intervals)
            self.hours[member.connector_id] = hour
        if record:
            self.placed.append((group, placement))

    def _withdraw(self, group: tuple[StaggerMember, ...], placement: _Placement) -> None:
        for member, (_, intervals) in zip(group, placement, strict=True):
            self.occupancy.remove(intervals)
            if member.site_id is not None:
                site = self.sites[member.site_id]
                for interval in intervals:
                    site.remove(interval)
            del self.hours[member.connector_id]

    def _search(self, group: tuple[StaggerMember, ...]) -> tuple[_Placement | None, set[str]]:
        """Return the first combination of hours for the group that meets every constraint."""
        options = [candidate_hours(member.spec.hour_of_day, self.stagger) for member in group]
        if len(group) > 1 and math.prod(len(hours) for hours in options) > _MAX_COMBINATIONS:
            return self._search_one_by_one(group)

        rejected_by: set[str] = set()
        for ranks in _combinations_by_rank([len(hours) for hours in options]):
            chosen: _Placement = []
            for member, hours, rank in zip(group, options, ranks, strict=True):
                intervals = self.intervals(member, hours[rank])
                reason = self._rejection(member, intervals, [interval for _, found in chosen for interval in found])
                if reason is not None:
                    rejected_by.add(reason)
                    break
                chosen.append((hours[rank], intervals))
            else:
                return chosen, rejected_by
        return None, rejected_by

    def _search_one_by_one(self, group: tuple[StaggerMember, ...]) -> tuple[_Placement | None, set[str]]:
        placement: _Placement = []
        rejected_by: set[str] = set()
        for index, member in enumerate(group):
            found, rejected = self._search((member,))
            rejected_by |= rejected
            if found is None:
                self._withdraw(group[:index], placement)
                return None, rejected_by
            self._commit((member,), found, record=False)
            placement += found
        self._withdraw(group, placement)
        return placement, rejected_by

    def _rejection(self, member: StaggerMember, intervals: list[_Interval], pending: list[_Interval]) -> str | None:
        stagger = self.stagger
        if stagger.ha_disjoint and member.site_id is not None:
            if _overlaps_any(intervals, [*self.sites.get(member.site_id, ()), *pending]):
                return "ha"
        if stagger.max_concurrent is not None and not self.occupancy.fits(intervals, stagger.max_concurrent, pending):
            return "max_concurrent"
        return None


def _groups(members: Sequence[StaggerMember], by_site: bool) -> list[tuple[StaggerMember, ...]]:
    """Return the members to place together, in order of their first connector id."""
    ordered = sorted(members, key=lambda member: member.connector_id)
    if not by_site:
        return [(member,) for member in ordered]
    by_site_id: dict[str, list[StaggerMember]] = defaultdict(list)
    for member in ordered:
        if member.site_id is not None:
            by_site_id[member.site_id].append(member)
    groups: list[tuple[StaggerMember, ...]] = []
    for member in ordered:
        if member.site_id is None:
            groups.append((member,))
        elif by_site_id[member.site_id][0] is member:
            groups.append(tuple(by_site_id[member.site_id]))
    return groups


def _combinations_by_rank(sizes: Sequence[int]) -> list[tuple[int, ...]]:
    """Return every tuple of candidate ranks, those that move the hours least (lowest rank sum) first."""
    return sorted(itertools.product(*(range(size) for size in sizes)), key=lambda ranks: (sum(ranks), ranks))


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

    def remove(self, intervals: Iterable[_Interval]) -> None:
        for interval in intervals:
            self._by_day[int(interval[0] // _DAY_SECONDS)].remove(interval)

    def fits(self, intervals: Iterable[_Interval], limit: int, pending: Sequence[_Interval] = ()) -> bool:
        """Return whether adding the intervals keeps every instant at or below `limit` open windows.

        `pending` are intervals chosen for the same group but not added yet; they count too.
        """
        return all(self._max_depth(begin, end, pending) < limit for begin, end in intervals)

    def _max_depth(self, begin: float, end: float, pending: Sequence[_Interval]) -> int:
        # A window lasts at most 24 hours (plus a DST hour), so any window overlapping [begin, end)
        # started at most two UTC days before `begin`.
        first_day = int(begin // _DAY_SECONDS) - 2
        last_day = int(end // _DAY_SECONDS)
        nearby = [interval for day in range(first_day, last_day + 1) for interval in self._by_day.get(day, ())]
        events: list[tuple[float, int]] = []
        for other_begin, other_end in [*nearby, *pending]:
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
