"""Export options: the horizon, the recurrence mode and what a calendar announces to clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from planner.engine import EMBARGO_RULES, EmbargoRule

Recurrence = Literal["expanded", "rrule"]

RECURRENCES: tuple[Recurrence, ...] = ("expanded", "rrule")

DEFAULT_HORIZON = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """How to export windows: which range, in which form, and how often clients should refresh.

    `start` and `end` are aware datetimes; every window that overlaps [start, end) is exported.
    `recurrence` "expanded" writes one VEVENT per window, "rrule" one recurring VEVENT per
    connector. `refresh_interval` goes into REFRESH-INTERVAL and X-PUBLISHED-TTL.
    """

    start: datetime
    end: datetime
    recurrence: Recurrence = "expanded"
    include_blocked: bool = False
    embargo_rule: EmbargoRule = "overlap"
    refresh_interval: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(
                    f"export {name} {value.isoformat()!r} has no UTC offset; pass an aware datetime"
                )
        if self.end <= self.start:
            raise ValueError(
                f"export range is empty: end {self.end.isoformat()!r} is not after start "
                f"{self.start.isoformat()!r}"
            )
        if self.recurrence not in RECURRENCES:
            raise ValueError(
                f"unknown recurrence {self.recurrence!r}; use 'expanded' or 'rrule'"
            )
        if self.embargo_rule not in EMBARGO_RULES:
            raise ValueError(
                f"unknown embargo rule {self.embargo_rule!r}; use 'overlap' or 'start'"
            )
        if self.refresh_interval < timedelta(minutes=1) or self.refresh_interval.microseconds:
            raise ValueError(
                f"refresh interval {self.refresh_interval} must be whole seconds and at least "
                "one minute"
            )

        # Normalising to UTC makes equal ranges equal cache keys whatever zone they came in.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
