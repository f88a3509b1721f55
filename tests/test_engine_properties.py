"""Rules that hold for every spec, zone and range, checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.engine import DAY_NAMES, WindowSpec, expand
from planner.engine.zones import zone_names

# Every zone of the tzdata package, from 1990 on: earlier data has date-line moves that run local
# dates backwards, which no connector will meet.
ZONES = sorted(zone_names("tzdata"))
FIRST = datetime(1990, 1, 1, tzinfo=UTC)
LAST = datetime(2037, 12, 31, tzinfo=UTC)


@st.composite
def specs(draw: st.DrawFn) -> WindowSpec:
    start_day = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2037, 11, 1)))
    embargo = draw(
        st.lists(st.integers(min_value=-10, max_value=70).map(lambda offset: start_day + timedelta(days=offset)), max_size=12)
    )
    return WindowSpec(
        timezone=draw(st.sampled_from(ZONES)),
        days_of_week=tuple(draw(st.sets(st.sampled_from(DAY_NAMES), min_size=1))),
        hour_of_day=draw(st.integers(min_value=0, max_value=24 * 60 - 1)) / 60,
        duration_hours=draw(st.integers(min_value=60, max_value=24 * 60)) / 60,
        embargo_dates=tuple(embargo),
    )


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(st.datetimes(min_value=FIRST.replace(tzinfo=None), max_value=(LAST - timedelta(days=90)).replace(tzinfo=None)))
    length = draw(st.integers(min_value=1, max_value=60 * 24 * 60))
    start = start.replace(tzinfo=UTC)
    return start, start + timedelta(minutes=length)


def _local_dates(window_spec: WindowSpec, start: datetime, end: datetime) -> set[date]:
    """The local dates [start, end) touches, walking the interval hour by hour and at its ends."""
    zone = window_spec.zone
    instants = [start, end - timedelta(microseconds=1)]
    step = start
    while step < end:
        instants.append(step)
        step += timedelta(minutes=15)
    return {instant.astimezone(zone).date() for instant in instants}


@settings(max_examples=300, deadline=None)
@given(specs(), ranges())
def test_windows_sorted_and_unique(window_spec: WindowSpec, bounds: tuple[datetime, datetime]) -> None:
    """Windows come sorted by start, each start later than the one before."""
    found = expand(window_spec, *bounds)
    starts = [window.start for window in found]

    assert all(earlier < later for earlier, later in zip(starts, starts[1:]))
    assert len({window.slot_date for window in found}) == len(found)


@settings(max_examples=300, deadline=None)
@given(specs(), ranges())
def test_window_shape(window_spec: WindowSpec, bounds: tuple[datetime, datetime]) -> None:
    """Each window's slot date is an allowed day and its elapsed length is exactly the duration."""
    allowed = {DAY_NAMES.index(day) for day in window_spec.days_of_week}
    for window in expand(window_spec, *bounds):
        assert (window.slot_date.weekday() + 1) % 7 in allowed
        assert window.end - window.start == window_spec.duration
        assert window.start < bounds[1]
        assert window.end > bounds[0]

        # Never moved backwards: the local start is at or after the slot's wall time.
        wall = datetime.combine(window.slot_date, datetime.min.time()) + timedelta(minutes=window_spec.start_minute)
        assert window.local_start.replace(tzinfo=None) >= wall


@settings(max_examples=300, deadline=None)
@given(specs(), ranges())
def test_overlap_rule_keeps_open_windows_off_embargoed_days(
    window_spec: WindowSpec, bounds: tuple[datetime, datetime]
) -> None:
    """Under overlap, no open window touches an embargoed local day, and every blocked one does."""
    embargoed = set(window_spec.embargo_dates)
    for window in expand(window_spec, *bounds, embargo_rule="overlap"):
        touched = _local_dates(window_spec, window.start, window.end)
        if window.blocked:
            assert set(window.embargo_dates) <= touched & embargoed
            assert window.embargo_dates
        else:
            assert not touched & embargoed


@settings(max_examples=300, deadline=None)
@given(specs(), ranges())
def test_start_rule_blocks_by_slot_date(window_spec: WindowSpec, bounds: tuple[datetime, datetime]) -> None:
    """Under start, a window is blocked exactly when its slot date is embargoed."""
    for window in expand(window_spec, *bounds, embargo_rule="start"):
        assert window.blocked is (window.slot_date in window_spec.embargo_dates)


@settings(max_examples=300, deadline=None)
@given(specs(), ranges(), st.floats(min_value=0, max_value=1))
def test_split_range_gives_same_windows(
    window_spec: WindowSpec, bounds: tuple[datetime, datetime], fraction: float
) -> None:
    """The windows of [a, c) are those of [a, b) and [b, c) together, without duplicates."""
    first, last = bounds
    middle = first + (last - first) * fraction
    whole = expand(window_spec, first, last)
    left = expand(window_spec, first, middle)
    right = expand(window_spec, middle, last)

    joined = left + [window for window in right if not left or window.start > left[-1].start]
    assert joined == whole
