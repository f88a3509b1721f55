"""Errors raised by the engine for invalid window specs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid value in a window spec: the field, the value as given, and the fix."""

    field: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(ValueError):
    """A window spec has one or more invalid values.

    `problems` lists every one of them, so a caller can report them all at once
    instead of making the user fix one value per attempt.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))
