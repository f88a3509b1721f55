"""Exceptions raised by fleet files, plans, staggering, rollouts and the journal.

    FleetError
    ├── FleetFileError (ValueError)    a fleet file that cannot be used, with every problem
    ├── PlanError (ValueError)         a plan that cannot be computed or loaded
    │   ├── EmbargoLimitError          more embargo dates than the API accepts
    │   └── StaggerError               stagger constraints that cannot be met
    ├── RemoteError                    a connectors API call that failed, after the client's retries
    └── JournalError                   the journal cannot be opened or has no such run
        ├── JournalNotFoundError (LookupError)
        └── RunNotFoundError (LookupError)
"""

from __future__ import annotations

from dataclasses import dataclass


class FleetError(Exception):
    """Base class of every error raised by `planner.fleet`."""


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem in a fleet file: where it is (table and key) and what was expected there."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class FleetFileError(FleetError, ValueError):
    """A fleet file with one or more problems, all of them listed in `problems`."""

    def __init__(self, path: str, problems: list[FileProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        super().__init__(f"fleet file {path!r} has {count}:\n{lines}")


class PlanError(FleetError, ValueError):
    """A plan that cannot be computed from its inputs, or a plan file that cannot be used.

    `problems` lists one message per connector or per defect of the file.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems if problems is not None else [message]
        super().__init__(message)


class EmbargoLimitError(PlanError):
    """Connectors whose combined embargo sources yield more dates than the API accepts.

    `counts` maps each connector's label (its notes and id) to its number of dates.
    """

    def __init__(self, counts: dict[str, int], horizon_days: int, limit: int) -> None:
        self.counts = counts
        problems = [
            f"connector {label}: {count} embargo dates, but the connectors API accepts at most {limit}"
            for label, count in counts.items()
        ]
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f"too many embargo dates for {len(counts)} connector(s):\n{lines}\n"
            f"Shorten horizon_days (now {horizon_days}) or use fewer embargo sources in the matching policy.",
            problems,
        )


class StaggerError(PlanError):
    """Connectors that cannot be given a start hour meeting the `[stagger]` constraints."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        problems = [f"connector {connector}: {constraint}" for connector, constraint in failures.items()]
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f"cannot stagger {len(failures)} connector(s):\n{lines}\n"
            "Widen stagger.start_hours, raise stagger.max_concurrent, or allow more days in the policy.",
            problems,
        )


class RemoteError(FleetError):
    """A connectors API call that failed for good, after the client's own retries.

    `status` is the HTTP status when there was a response, else None (a transport failure).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class JournalError(FleetError):
    """The rollout journal cannot be opened, or holds data this version cannot use."""


class JournalNotFoundError(JournalError, LookupError):
    """The journal file does not exist, and the caller asked not to create it."""


class RunNotFoundError(JournalError, LookupError):
    """No run with the requested id exists in the journal. `run_id` is the id that was looked up."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(message)
