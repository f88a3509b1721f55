"""Reading user-typed instants such as `--from 2026-03-08` in a spec's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_instant(text: str, zone: tzinfo) -> datetime:
    """Read an ISO 8601 date or date-time as an aware UTC datetime.

    A date means its local midnight in `zone`; a date-time without an offset is local time in
    `zone`. Local times in a gap or a fold are resolved as window starts are: a gap moves forward
    with the offset before it, a fold means the first occurrence. Raises ValueError naming the text.
    """
    value = text.strip()
    try:
        if _DATE_ONLY.fullmatch(value):
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"invalid date or date-time {text!r}; use ISO 8601, such as 2026-03-08, "
            "2026-03-08T02:30 or 2026-03-08T07:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone, fold=0)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is too close to the ends of the calendar; use a date between 1900 and 2199") from None
