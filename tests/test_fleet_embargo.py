"""Embargo sources: explicit dates, yearly ranges, public holidays, pruning and the API's limit."""

from __future__ import annotations

import datetime

import pytest

from planner.fleet import EmbargoLimitError, EmbargoSources, HolidayRegion, YearlyRange, expand_embargo, make_plan, parse_fleet_file

from fleet_fixtures import NOW, make_connector

D = datetime.date


def test_yearly_range_across_new_year() -> None:
    sources = EmbargoSources(yearly=(YearlyRange((12, 30), (1, 2)),))

    dates = expand_embargo(sources, D(2026, 12, 1), D(2028, 1, 31))

    assert dates == (
        D(2026, 12, 30), D(2026, 12, 31), D(2027, 1, 1), D(2027, 1, 2),
        D(2027, 12, 30), D(2027, 12, 31), D(2028, 1, 1), D(2028, 1, 2),
    )


def test_yearly_range_clipped_to_horizon() -> None:
    sources = EmbargoSources(yearly=(YearlyRange((12, 20), (1, 5)),))

    dates = expand_embargo(sources, D(2027, 1, 3), D(2027, 12, 21))

    assert dates == (D(2027, 1, 3), D(2027, 1, 4), D(2027, 1, 5), D(2027, 12, 20), D(2027, 12, 21))


def test_yearly_february_29_only_in_leap_years() -> None:
    sources = EmbargoSources(yearly=(YearlyRange((2, 29), (2, 29)),))

    assert expand_embargo(sources, D(2026, 1, 1), D(2029, 12, 31)) == (D(2028, 2, 29),)


def test_public_holidays_by_subdivision() -> None:
    bavaria = EmbargoSources(holidays=(HolidayRegion("DE", "BY"),))
    berlin = EmbargoSources(holidays=(HolidayRegion("DE", "BE"),))

    bavarian = expand_embargo(bavaria, D(2027, 1, 1), D(2027, 12, 31))
    berlinese = expand_embargo(berlin, D(2027, 1, 1), D(2027, 12, 31))

    # Epiphany is a public holiday in Bavaria, not in Berlin; both have German Unity Day.
    assert D(2027, 1, 6) in bavarian
    assert D(2027, 1, 6) not in berlinese
    assert D(2027, 10, 3) in bavarian
    assert D(2027, 10, 3) in berlinese


def test_us_thanksgiving_within_horizon_only() -> None:
    sources = EmbargoSources(holidays=(HolidayRegion("US"),))

    dates = expand_embargo(sources, D(2026, 12, 4), D(2027, 6, 1))

    assert D(2026, 12, 25) in dates
    assert D(2026, 11, 26) not in dates  # Thanksgiving 2026 is before the horizon starts
    assert D(2027, 11, 25) not in dates  # and Thanksgiving 2027 after it ends
    assert all(D(2026, 12, 4) <= day <= D(2027, 6, 1) for day in dates)


def test_past_dates_pruned_by_default() -> None:
    sources = EmbargoSources(dates=(D(2026, 1, 1), D(2026, 12, 4), D(2030, 1, 1)))

    assert expand_embargo(sources, D(2026, 12, 4), D(2027, 6, 1)) == (D(2026, 12, 4), D(2030, 1, 1))
    assert expand_embargo(sources, D(2026, 12, 4), D(2027, 6, 1), prune_past=False) == sources.dates


def test_sources_combine_without_duplicates() -> None:
    sources = EmbargoSources(
        dates=(D(2026, 12, 25),), yearly=(YearlyRange((12, 24), (12, 26)),), holidays=(HolidayRegion("US"),)
    )

    dates = expand_embargo(sources, D(2026, 12, 4), D(2026, 12, 31))

    assert dates == (D(2026, 12, 24), D(2026, 12, 25), D(2026, 12, 26))


def test_past_judged_by_connector_local_date() -> None:
    # At 20:00 UTC on 4 December it is already 5 December in Sydney.
    fleet = parse_fleet_file('[[policy]]\nmatch = { all = true }\nembargo = ["2026-12-04", "2026-12-05"]\n')
    sydney = make_connector(1, timezone="Australia/Sydney")
    berlin = make_connector(2, timezone="Europe/Berlin")

    plan = make_plan(fleet, [sydney, berlin], NOW)

    by_id = {item.connector_id: item.desired["interrupt_window_embargo_dates"] for item in plan.connectors}
    assert by_id["conn-0001"] == ["2026-12-05"]
    assert by_id["conn-0002"] == ["2026-12-04", "2026-12-05"]


def test_limit_error_names_connector_and_count() -> None:
    fleet = parse_fleet_file(
        'horizon_days = 460\n[[policy]]\nname = "strict"\nmatch = { notes = "branch-0001" }\n'
        'yearly = ["01-01..03-31"]\n[[policy]]\nmatch = { all = true }\nhour = 1\n'
    )

    with pytest.raises(EmbargoLimitError) as caught:
        make_plan(fleet, [make_connector(1), make_connector(2)], NOW)

    # New York's 4 December 2026 plus 460 days is 8 March 2028: 90 days in 2027, 68 in 2028.
    assert caught.value.counts == {"branch-0001 (conn-0001)": 90 + 68}
    message = str(caught.value)
    assert "connector branch-0001 (conn-0001): 158 embargo dates" in message
    assert "at most 100" in message
    assert "Shorten horizon_days (now 460)" in message
