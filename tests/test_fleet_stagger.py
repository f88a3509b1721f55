"""Staggering, checked against the engine's own windows over the whole horizon."""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.engine import WindowSpec, expand
from planner.fleet import Plan, StaggerError, load_fleet_file, make_plan, parse_fleet_file

from fleet_fixtures import NOW, ZONES, make_connector


def open_intervals(plan: Plan) -> dict[str, list[tuple[datetime.datetime, datetime.datetime]]]:
    end = plan.created_at + datetime.timedelta(days=plan.horizon_days)
    return {
        item.connector_id: [
            (window.start, window.end)
            for window in expand(WindowSpec.from_api(item.desired), plan.created_at, end)
            if not window.blocked
        ]
        for item in plan.connectors
    }


def max_open_at_once(intervals: Sequence[tuple[datetime.datetime, datetime.datetime]]) -> int:
    # Half-open windows: at the same instant an end comes before a start.
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda event: (event[0], event[1]))
    depth = deepest = 0
    for _, change in events:
        depth += change
        deepest = max(deepest, depth)
    return deepest


def assert_ha_disjoint(plan: Plan) -> None:
    intervals = open_intervals(plan)
    sites: dict[str, list[str]] = defaultdict(list)
    for item in plan.connectors:
        if item.site_id is not None:
            sites[item.site_id].append(item.connector_id)
    for site, members in sites.items():
        together = [interval for member in members for interval in intervals[member]]
        assert max_open_at_once(together) <= 1, f"site {site}: members {members} overlap"


def fleet_text(max_concurrent: int | None, ha: bool, band: str | None, *, horizon_days: int = 42, extra: str = "") -> str:
    stagger = []
    if max_concurrent is not None:
        stagger.append(f"max_concurrent = {max_concurrent}")
    if ha:
        stagger.append('ha = "disjoint"')
    if band is not None:
        stagger.append(f'start_hours = "{band}"')
    return (
        f"horizon_days = {horizon_days}\n[[policy]]\nmatch = {{ all = true }}\n"
        f'days = ["Saturday", "Sunday"]\nhour = 2\nduration = 4\n{extra}\n[stagger]\n' + "\n".join(stagger) + "\n"
    )


def test_max_concurrent_and_ha_over_horizon() -> None:
    connectors = [make_connector(number) for number in range(12)]
    fleet = parse_fleet_file(fleet_text(3, True, "20-08", horizon_days=120, extra='holidays = ["US"]'))

    plan = make_plan(fleet, connectors, NOW)

    everything = [interval for intervals in open_intervals(plan).values() for interval in intervals]
    assert max_open_at_once(everything) <= 3
    assert_ha_disjoint(plan)
    for item in plan.connectors:
        hour = item.desired["interrupt_window_hour_of_day"]
        assert hour == 2 or fleet.stagger.start_hours.contains(hour), (item.connector_id, hour)  # type: ignore[union-attr]
    assert any(item.shifted_from_hour == 2 for item in plan.connectors)


def test_unshifted_when_constraints_already_hold() -> None:
    connectors = [make_connector(number, timezone="Europe/Berlin") for number in range(4)]
    fleet = parse_fleet_file(fleet_text(4, False, "22-04"))

    plan = make_plan(fleet, connectors, NOW)

    assert [item.desired["interrupt_window_hour_of_day"] for item in plan.connectors] == [2, 2, 2, 2]
    assert all(item.shifted_from_hour is None for item in plan.connectors)


def test_shifts_are_deterministic_and_stable() -> None:
    connectors = [make_connector(number, timezone="Europe/Berlin") for number in range(6)]
    fleet = parse_fleet_file(fleet_text(3, True, "20-08"))

    first = make_plan(fleet, connectors, NOW)
    shuffled = make_plan(fleet, list(reversed(connectors)), NOW)
    applied = [{**make_connector(number, timezone="Europe/Berlin"), **item.desired} for number, item in enumerate(first.connectors)]
    replan = make_plan(fleet, applied, NOW + datetime.timedelta(hours=1))

    hours = [item.desired["interrupt_window_hour_of_day"] for item in first.connectors]
    assert hours == [item.desired["interrupt_window_hour_of_day"] for item in shuffled.connectors]
    assert len(set(hours)) > 1
    assert all(item.changes == () for item in replan.connectors)


def test_impossible_stagger_names_connectors_and_constraint() -> None:
    connectors = [make_connector(number, timezone="Europe/Berlin") for number in range(5)]
    fleet = parse_fleet_file(fleet_text(1, True, "02-03"))

    with pytest.raises(StaggerError) as caught:
        make_plan(fleet, connectors, NOW)

    # Only 02:00 is allowed: each HA pair needs two disjoint hours, and conn-0004 (alone at its
    # site) takes the only place max_concurrent = 1 leaves.
    message = str(caught.value)
    assert set(caught.value.failures) == {f"branch-{number:04d} (conn-{number:04d})" for number in range(4)}
    assert "connector branch-0001 (conn-0001): no start hour in start_hours 02-03 meets" in message
    assert 'ha = "disjoint" (site_id \'site-0000\')' in message
    assert "Widen stagger.start_hours" in message


def test_max_concurrent_failure_named() -> None:
    connectors = [make_connector(number, timezone="Europe/Berlin", site_id=f"own-{number}") for number in range(3)]
    fleet = parse_fleet_file(fleet_text(1, False, "02-03"))

    with pytest.raises(StaggerError) as caught:
        make_plan(fleet, connectors, NOW)

    assert set(caught.value.failures) == {"branch-0001 (conn-0001)", "branch-0002 (conn-0002)"}
    assert caught.value.failures["branch-0001 (conn-0001)"] == "no start hour in start_hours 02-03 meets max_concurrent = 1"


def test_repair_moves_earlier_connector() -> None:
    """First fit leaves no hour for the third connector; moving the first one makes room."""
    berlin = make_connector(0, timezone="Europe/Berlin", site_id="a")
    london = [make_connector(number, timezone="Europe/London", site_id=f"b{number}") for number in (1, 2)]
    fleet = parse_fleet_file(
        '[[policy]]\nmatch = { all = true }\ndays = ["Saturday"]\nhour = 3\nduration = 1\n'
        '[stagger]\nmax_concurrent = 1\nstart_hours = "02-04"\n'
    )

    plan = make_plan(fleet, [berlin, *london], NOW)

    # In UTC: Berlin 02:00 is 01:00, London 03:00 is 03:00 and London 02:00 is 02:00.
    hours = {item.connector_id: item.desired["interrupt_window_hour_of_day"] for item in plan.connectors}
    assert hours == {"conn-0000": 2, "conn-0001": 3, "conn-0002": 2}
    everything = [interval for intervals in open_intervals(plan).values() for interval in intervals]
    assert max_open_at_once(everything) == 1


def test_unselected_ha_peer_is_avoided() -> None:
    peer = make_connector(1, timezone="Europe/Berlin", interrupt_window_days_of_week=["Saturday"], interrupt_window_hour_of_day=2, interrupt_window_duration_hours=4)
    selected = make_connector(0, timezone="Europe/Berlin")
    fleet = parse_fleet_file(
        '[[policy]]\nmatch = { ids = ["conn-0000"] }\ndays = ["Saturday"]\nhour = 2\nduration = 4\n[stagger]\nha = "disjoint"\n'
    )

    plan = make_plan(fleet, [selected, peer], NOW)

    (item,) = plan.connectors
    # Candidates nearest 02:00 first: 01, 03, 00 and 04 overlap the peer's Saturday 02:00-06:00,
    # 23 (Saturday 23:00 to Sunday 03:00) is the first that does not.
    assert item.desired["interrupt_window_hour_of_day"] == 23
    assert [unmatched.connector_id for unmatched in plan.unmatched] == ["conn-0001"]


connector_fields = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from(ZONES),
        "hour": st.integers(0, 23),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(connector_fields, min_size=2, max_size=10),
    days=st.lists(st.sampled_from(["Monday", "Wednesday", "Saturday", "Sunday"]), min_size=1, max_size=3, unique=True),
    duration=st.integers(1, 6),
    max_concurrent=st.one_of(st.none(), st.integers(1, 4)),
    ha=st.booleans(),
    band=st.one_of(st.none(), st.sampled_from(["22-04", "20-08", "0-24", "01-05"])),
)
def test_stagger_properties(
    fields: list[dict[str, Any]], days: list[str], duration: int, max_concurrent: int | None, ha: bool, band: str | None
) -> None:
    """Either the plan meets every constraint at every instant of the horizon, or it names who cannot."""
    if max_concurrent is None and not ha:
        ha = True
    connectors = [
        make_connector(number, timezone=item["timezone"], interrupt_window_hour_of_day=item["hour"])
        for number, item in enumerate(fields)
    ]
    stagger = [f"max_concurrent = {max_concurrent}" if max_concurrent else "", 'ha = "disjoint"' if ha else ""]
    if band:
        stagger.append(f'start_hours = "{band}"')
    day_list = ", ".join(f'"{day}"' for day in days)
    fleet = parse_fleet_file(
        f"horizon_days = 28\n[[policy]]\nmatch = {{ all = true }}\ndays = [{day_list}]\nduration = {duration}\n[stagger]\n"
        + "\n".join(stagger)
    )

    try:
        plan = make_plan(fleet, connectors, NOW)
    except StaggerError as error:
        assert error.failures
        assert all(label.startswith("branch-") for label in error.failures)
        return

    intervals = open_intervals(plan)
    if max_concurrent is not None:
        assert max_open_at_once([interval for found in intervals.values() for interval in found]) <= max_concurrent
    if ha:
        assert_ha_disjoint(plan)
    for item, original in zip(plan.connectors, fields, strict=True):
        hour = item.desired["interrupt_window_hour_of_day"]
        if hour != original["hour"]:
            assert item.shifted_from_hour == original["hour"]
            assert fleet.stagger is not None
            assert fleet.stagger.start_hours is None or fleet.stagger.start_hours.contains(hour)


def test_sample_fleet_meets_its_stagger() -> None:
    samples = Path(__file__).parent.parent / "samples"
    fleet = load_fleet_file(samples / "fleet.toml")
    connectors = json.loads((samples / "connectors.json").read_text())["result"]

    plan = make_plan(fleet, connectors, NOW)

    assert fleet.stagger is not None
    assert fleet.stagger.max_concurrent == 10
    everything = [interval for intervals in open_intervals(plan).values() for interval in intervals]
    assert max_open_at_once(everything) <= 10
    assert_ha_disjoint(plan)


def test_shift_warning_names_direction_and_day() -> None:
    connectors = [make_connector(number, timezone="Asia/Tokyo", site_id="site-1") for number in range(2)]
    fleet = parse_fleet_file(fleet_text(None, True, "22-04"))

    plan = make_plan(fleet, connectors, NOW)

    moved = [item for item in plan.connectors if item.shifted_from_hour is not None]
    assert len(moved) == 1
    hour = moved[0].desired["interrupt_window_hour_of_day"]
    assert hour in (22, 23)
    assert (f"staggering moved the start from 02:00 to {hour}:00 on the same day, {hour - 2} h later, "
            f"so the window now ends the next day at 0{hour + 4 - 24}:00") in moved[0].warnings
