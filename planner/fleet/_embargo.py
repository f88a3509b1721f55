"""Expansion of a policy's embargo sources into the dates sent to the API."""

from __future__ import annotations

import datetime

import holidays as holidays_package

from planner.fleet._fleetfile import EmbargoSources, YearlyRange

#: The connectors API accepts at most this many `interrupt_window_embargo_dates`.
API_EMBARGO_LIMIT = 100


def expand_embargo(
    sources: EmbargoSources, today: datetime.date, horizon_end: datetime.date, *, prune_past: bool = True
) -> tuple[datetime.date, ...]:
    """Return the sorted embargo dates that a policy's sources give.

    Yearly ranges and public holidays are expanded for the dates from `today` to `horizon_end`
    inclusive. Explicit dates are kept even beyond the horizon, because the user wrote them out.
    With `prune_past`, dates before `today` are dropped from every source.
    """
    dates = set(sources.dates)
    for yearly in sources.yearly:
        dates.update(_expand_yearly(yearly, today, horizon_end))

    years = range(today.year, horizon_end.year + 1)
    for region in sources.holidays:
        calendar = holidays_package.country_holidays(region.country, subdiv=region.subdivision, years=years)
        dates.update(day for day in calendar if today <= day <= horizon_end)

    if prune_past:
        dates = {day for day in dates if day >= today}
    return tuple(sorted(dates))


def _expand_yearly(yearly: YearlyRange, first: datetime.date, last: datetime.date) -> set[datetime.date]:
    dates: set[datetime.date] = set()
    # A range that runs across the new year starts in the year before the one it ends in,
    # so start one year early to catch the part of it inside [first, last].
    for year in range(first.year - 1, last.year + 1):
        start = _month_day_in(year, yearly.first)
        end_year = year + 1 if yearly.last < yearly.first else year
        end = _month_day_in(end_year, yearly.last)
        if start is None or end is None:
            # 02-29 in a year without it: a single-day entry is skipped, a range endpoint moves to 02-28.
            if yearly.first == yearly.last:
                continue
            start = start or datetime.date(year, 2, 28)
            end = end or datetime.date(end_year, 2, 28)
        day = max(start, first)
        while day <= min(end, last):
            dates.add(day)
            day += datetime.timedelta(days=1)
    return dates


def _month_day_in(year: int, month_day: tuple[int, int]) -> datetime.date | None:
    try:
        return datetime.date(year, *month_day)
    except ValueError:
        return None
