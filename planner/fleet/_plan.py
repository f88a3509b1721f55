"""Plans: the desired window of every connector a fleet file selects, ready for review and apply.

A plan is computed from a fleet file, the connectors as the API returns them and the instant
`now`, which the caller supplies. Saved as JSON, it carries each connector's before-state, its
desired window fields, the tzdata version and a content hash that `load_plan` checks.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.cloudflare.models import Connector
from planner._files import write_atomically
from planner.engine import (
    MAX_EMBARGO_DATES,
    SpecError,
    Window,
    WindowSpec,
    coverage,
    load_zone,
    next_windows,
    tzdata_version,
)
from planner.fleet._embargo import expand_embargo
from planner.fleet._errors import EmbargoLimitError, PlanError
from planner.fleet._fields import differing_fields, window_fields
from planner.fleet._fleetfile import FleetFile, Policy
from planner.fleet._journal import strip_secrets
from planner.fleet._stagger import StaggerMember, stagger_hours

PLAN_FORMAT = "planner-fleet-plan"
PLAN_VERSION = 1

#: How many open windows a plan lists for each connector, before and after the change.
WINDOWS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class PlannedWindow:
    """One open window listed in a plan, with its start and end in UTC and in local time."""

    start: datetime.datetime
    end: datetime.datetime
    local_start: datetime.datetime
    local_end: datetime.datetime

    @classmethod
    def from_window(cls, window: Window) -> PlannedWindow:
        return cls(window.start, window.end, window.local_start, window.local_end)

    def to_json(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "local_start": self.local_start.isoformat(),
            "local_end": self.local_end.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> PlannedWindow:
        return cls(*(datetime.datetime.fromisoformat(data[key]) for key in ("start", "end", "local_start", "local_end")))


@dataclass(frozen=True, slots=True)
class ConnectorPlan:
    """The plan for one selected connector.

    `before` is the connector object as read, with secrets removed. `desired` contains all five
    window fields, and those the policy leaves unset are copied from `before`. `changes` names
    the fields that differ. `shifted_from_hour` is the hour before staggering moved it, or None.
    """

    connector_id: str
    label: str
    policy: str
    before: Mapping[str, Any]
    desired: Mapping[str, Any]
    changes: tuple[str, ...]
    site_id: str | None = None
    shifted_from_hour: float | None = None
    windows_before: tuple[PlannedWindow, ...] = ()
    windows_after: tuple[PlannedWindow, ...] = ()
    coverage_before: Mapping[str, Any] | None = None
    coverage_after: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.connector_id,
            "label": self.label,
            "policy": self.policy,
            "site_id": self.site_id,
            "changes": list(self.changes),
            "shifted_from_hour": self.shifted_from_hour,
            "before": dict(self.before),
            "desired": dict(self.desired),
            "windows_before": [window.to_json() for window in self.windows_before],
            "windows_after": [window.to_json() for window in self.windows_after],
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectorPlan:
        return cls(
            connector_id=data["id"],
            label=data["label"],
            policy=data["policy"],
            site_id=data.get("site_id"),
            changes=tuple(data["changes"]),
            shifted_from_hour=data.get("shifted_from_hour"),
            before=data["before"],
            desired=data["desired"],
            windows_before=tuple(PlannedWindow.from_json(item) for item in data.get("windows_before", ())),
            windows_after=tuple(PlannedWindow.from_json(item) for item in data.get("windows_after", ())),
            coverage_before=data.get("coverage_before"),
            coverage_after=data.get("coverage_after"),
            warnings=tuple(data.get("warnings", ())),
        )


@dataclass(frozen=True, slots=True)
class UnmatchedConnector:
    """A connector that no policy selects; the plan leaves it alone."""

    connector_id: str
    label: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The desired windows for a fleet at the instant `created_at`."""

    created_at: datetime.datetime
    source: str
    horizon_days: int
    tzdata_version: str
    connectors: tuple[ConnectorPlan, ...]
    unmatched: tuple[UnmatchedConnector, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[ConnectorPlan, ...]:
        """The connectors whose window the plan changes."""
        return tuple(item for item in self.connectors if item.changes)

    def to_json(self) -> dict[str, Any]:
        """Return the plan as JSON data, its content hash included."""
        body = self._body()
        return {**body, "content_hash": _content_hash(body)}

    @property
    def content_hash(self) -> str:
        """A SHA-256 digest of the plan's JSON form, written as `sha256:<hex>`."""
        return _content_hash(self._body())

    def _body(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            "horizon_days": self.horizon_days,
            "tzdata_version": self.tzdata_version,
            "connectors": [item.to_json() for item in self.connectors],
            "unmatched": [{"id": item.connector_id, "label": item.label} for item in self.unmatched],
            # Only present when there are warnings, so plans saved before the key existed keep their hash.
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


def _content_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write a plan as JSON, atomically: a reader sees the old file or the whole new one."""
    text = json.dumps(plan.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode("utf-8"))


def plan_from_json(data: Any, *, source: str = "<plan>") -> Plan:
    """Rebuild a plan from its JSON data; raise PlanError when the data is not an intact plan."""
    if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
        raise PlanError(f"{source} is not a planner plan (no \"format\": {PLAN_FORMAT!r}); make one with `planner plan FLEET.toml --out PLAN.json`")
    if data.get("version") != PLAN_VERSION:
        raise PlanError(f"{source} is a plan of version {data.get('version')!r}, but this planner reads version {PLAN_VERSION}; make a new plan")
    body = {key: value for key, value in data.items() if key != "content_hash"}
    if data.get("content_hash") != _content_hash(body):
        raise PlanError(f"{source} was changed after it was made (its content hash does not match); make a new plan instead of editing one")
    try:
        return Plan(
            created_at=datetime.datetime.fromisoformat(data["created_at"]),
            source=data["source"],
            horizon_days=data["horizon_days"],
            tzdata_version=data["tzdata_version"],
            connectors=tuple(ConnectorPlan.from_json(item) for item in data["connectors"]),
            unmatched=tuple(UnmatchedConnector(item["id"], item["label"]) for item in data["unmatched"]),
            warnings=tuple(data.get("warnings", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PlanError(f"{source} is not a complete plan ({type(error).__name__}: {error}); make a new plan") from None


def load_plan(path: str | Path) -> Plan:
    """Read a plan saved by `save_plan`; raise PlanError when it is not valid, or OSError."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"plan {str(path)!r} is not valid JSON: {error}") from None
    return plan_from_json(data, source=f"plan {str(path)!r}")


def connector_label(connector: Mapping[str, Any]) -> str:
    """Return how messages name a connector: its notes and id, or the id alone."""
    notes = connector.get("notes")
    return f"{notes} ({connector['id']})" if notes else str(connector["id"])


def make_plan(fleet: FleetFile, connectors: Sequence[Mapping[str, Any] | Connector], now: datetime.datetime) -> Plan:
    """Compute the desired window of every connector the fleet file selects, as of `now`.

    `connectors` are connector objects as the API returns them, or the client's `Connector` models.

    Raise PlanError (EmbargoLimitError, StaggerError) listing every connector whose desired window
    cannot be built.
    """
    if now.tzinfo is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    horizon_end = now + datetime.timedelta(days=fleet.horizon_days)

    objects = [connector.to_api() if isinstance(connector, Connector) else connector for connector in connectors]
    ordered = sorted((strip_secrets(connector) for connector in objects), key=lambda connector: str(connector["id"]))
    desired: dict[str, tuple[Policy, dict[str, Any], WindowSpec]] = {}
    unmatched: list[UnmatchedConnector] = []
    problems: list[str] = []
    embargo_counts: dict[str, int] = {}
    matched: set[str] = set()
    for connector in ordered:
        policy = fleet.match(connector)
        if policy is None:
            unmatched.append(UnmatchedConnector(connector["id"], connector_label(connector)))
            continue
        matched.add(policy.name)
        try:
            fields = _desired_fields(connector, policy, fleet, now)
        except SpecError as error:
            problems.append(f"connector {connector_label(connector)}: policy {policy.name!r} gives an invalid window: {error}")
            continue
        count = len(fields["interrupt_window_embargo_dates"])
        if count > MAX_EMBARGO_DATES:
            embargo_counts[connector_label(connector)] = count
            continue
        try:
            spec = WindowSpec.from_api(fields)
        except SpecError as error:
            problems.append(f"connector {connector_label(connector)}: policy {policy.name!r} gives an invalid window: {error}")
            continue
        desired[connector["id"]] = (policy, fields, spec)

    if embargo_counts and not problems:
        raise EmbargoLimitError(embargo_counts, fleet.horizon_days, MAX_EMBARGO_DATES)
    if problems or embargo_counts:
        problems += [f"connector {label}: {count} embargo dates, but the connectors API accepts at most {MAX_EMBARGO_DATES}; shorten horizon_days (now {fleet.horizon_days})" for label, count in embargo_counts.items()]
        raise PlanError(f"cannot plan {len(problems)} connector(s):\n" + "\n".join(f"  {problem}" for problem in problems), problems)

    shifted = _stagger(fleet, ordered, desired, now, horizon_end)

    planned = [
        _connector_plan(connector, *desired[connector["id"]], shifted.get(connector["id"]), now, horizon_end)
        for connector in ordered
        if connector["id"] in desired
    ]
    # A policy that selects nothing is often a typo in its match (such as "Europa/*"), which lets
    # its connectors fall through to a later policy unnoticed.
    warnings = tuple(
        f"policy {policy.name!r} matches no connectors; check its match table" for policy in fleet.policies
        if policy.name not in matched
    )
    return Plan(now, fleet.path, fleet.horizon_days, tzdata_version(), tuple(planned), tuple(unmatched), warnings)


def _desired_fields(connector: Mapping[str, Any], policy: Policy, fleet: FleetFile, now: datetime.datetime) -> dict[str, Any]:
    """Return the five window fields the policy gives a connector, unset ones copied from the connector."""
    fields = window_fields(connector)
    if policy.timezone is not None:
        fields["timezone"] = policy.timezone
    if policy.days_of_week is not None:
        fields["interrupt_window_days_of_week"] = list(policy.days_of_week)
    if policy.hour_of_day is not None:
        fields["interrupt_window_hour_of_day"] = _json_number(policy.hour_of_day)
    if policy.duration_hours is not None:
        fields["interrupt_window_duration_hours"] = _json_number(policy.duration_hours)

    if policy.embargo is not None:
        # The embargo list is computed from the policy's sources and replaces the connector's own
        # dates, so applying a plan twice gives the same list. "Past" is judged by the local date.
        check = WindowSpec.from_api({**fields, "interrupt_window_embargo_dates": []})
        today = now.astimezone(load_zone(check.timezone)).date()
        horizon_end = today + datetime.timedelta(days=fleet.horizon_days)
        dates = expand_embargo(policy.embargo, today, horizon_end, prune_past=fleet.prune_past)
        fields["interrupt_window_embargo_dates"] = [day.isoformat() for day in dates]
    fields.setdefault("interrupt_window_embargo_dates", [])
    fields.setdefault("interrupt_window_days_of_week", [])
    return fields


def _stagger(
    fleet: FleetFile,
    ordered: Sequence[Mapping[str, Any]],
    desired: Mapping[str, tuple[Policy, dict[str, Any], WindowSpec]],
    now: datetime.datetime,
    horizon_end: datetime.datetime,
) -> dict[str, float]:
    """Return the start hour for every selected connector that staggering moves."""
    if fleet.stagger is None:
        return {}
    selected_sites = {connector.get("site_id") for connector in ordered if connector["id"] in desired}
    members: list[StaggerMember] = []
    for connector in ordered:
        site_id = connector.get("site_id")
        if connector["id"] in desired:
            members.append(StaggerMember(connector["id"], connector_label(connector), desired[connector["id"]][2], site_id))
        elif site_id is not None and site_id in selected_sites:
            # An unselected HA peer keeps its window, and the selected member must avoid it.
            try:
                spec = WindowSpec.from_api(connector)
            except SpecError:
                continue
            members.append(StaggerMember(connector["id"], connector_label(connector), spec, site_id, movable=False))
    hours = stagger_hours(members, fleet.stagger, now, horizon_end)
    return {connector_id: hour for connector_id, hour in hours.items() if hour != desired[connector_id][2].hour_of_day}


def _connector_plan(
    connector: Mapping[str, Any],
    policy: Policy,
    fields: dict[str, Any],
    spec: WindowSpec,
    shifted_hour: float | None,
    now: datetime.datetime,
    horizon_end: datetime.datetime,
) -> ConnectorPlan:
    warnings: list[str] = []
    shifted_from = None
    if shifted_hour is not None:
        shifted_from = spec.hour_of_day
        spec = dataclasses.replace(spec, hour_of_day=shifted_hour)
        fields = {**fields, "interrupt_window_hour_of_day": _json_number(shifted_hour)}
        warnings.append(_shift_warning(shifted_from, shifted_hour, spec.duration_hours))

    windows_before: tuple[PlannedWindow, ...] = ()
    coverage_before = None
    try:
        current = WindowSpec.from_api(connector)
    except SpecError as error:
        warnings.append(f"the current window is invalid ({error}), so its windows are not shown")
    else:
        windows_before = tuple(PlannedWindow.from_window(window) for window in next_windows(current, now, WINDOWS_SHOWN))
        coverage_before = coverage(current, now, horizon_end).as_dict()

    after = coverage(spec, now, horizon_end)
    warnings.extend(spec.warnings)
    warnings.extend(after.warnings)
    return ConnectorPlan(
        connector_id=connector["id"],
        label=connector_label(connector),
        policy=policy.name,
        site_id=connector.get("site_id"),
        before=connector,
        desired=fields,
        changes=differing_fields(window_fields(connector), fields),
        shifted_from_hour=shifted_from,
        windows_before=windows_before,
        windows_after=tuple(PlannedWindow.from_window(window) for window in next_windows(spec, now, WINDOWS_SHOWN)),
        coverage_before=coverage_before,
        coverage_after=after.as_dict(),
        warnings=tuple(warnings),
    )


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _shift_warning(from_hour: float, to_hour: float, duration_hours: float) -> str:
    # Staggering changes only the hour, so the window stays on its slot day. Saying the direction
    # and the day keeps "02:00 to 23:00" from reading as "the evening before".
    difference = abs(to_hour - from_hour)
    direction = "later" if to_hour > from_hour else "earlier"
    message = (f"staggering moved the start from {_clock(from_hour)} to {_clock(to_hour)} on the same day, "
               f"{difference:g} h {direction}")
    if to_hour + duration_hours > 24:
        message += f", so the window now ends the next day at {_clock(to_hour + duration_hours - 24)}"
    return message


def _clock(hour: float) -> str:
    minutes = round(hour * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
