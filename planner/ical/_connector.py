"""Connector objects as the calendar export needs them, read from API data or snapshot files."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from planner.cloudflare.models import Connector as ApiConnector
from planner.engine import SpecError, WindowSpec
from planner.engine.zones import TzDatabase
from planner.ical.errors import ConnectorDataError, SnapshotError


@dataclass(frozen=True, slots=True)
class Connector:
    """The fields of one connector that its calendar events show.

    `last_updated` is the API's timestamp of the last change, or None for a spec that belongs
    to no connector.
    """

    id: str
    spec: WindowSpec
    site_id: str | None = None
    notes: str = ""
    last_updated: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, tz_database: TzDatabase = "tzdata") -> Connector:
        """Read a connector object, alone or inside the API's response envelope.

        Raises `ConnectorDataError` naming the connector and every invalid field.
        """
        connector = _unwrap(data)
        identifier = connector.get("id")
        if not isinstance(identifier, str) or not identifier.strip():
            raise ConnectorDataError(
                f"connector object has no 'id' (got {identifier!r}); export connectors as the "
                "API returns them"
            )

        try:
            spec = WindowSpec.from_api(connector, tz_database=tz_database)
        except SpecError as error:
            problems = "; ".join(str(problem) for problem in error.problems)
            raise ConnectorDataError(f"connector {identifier!r}: {problems}") from error

        site_id = connector.get("site_id")
        if site_id is not None and not isinstance(site_id, str):
            raise ConnectorDataError(
                f"connector {identifier!r}: 'site_id' must be a string, got {site_id!r}"
            )
        notes = connector.get("notes") or ""
        if not isinstance(notes, str):
            raise ConnectorDataError(
                f"connector {identifier!r}: 'notes' must be a string, got {notes!r}"
            )
        return cls(
            id=identifier,
            spec=spec,
            site_id=site_id or None,
            notes=notes,
            last_updated=_parse_last_updated(identifier, connector.get("last_updated")),
        )

    @classmethod
    def from_spec(cls, spec: WindowSpec) -> Connector:
        """Wrap a spec that belongs to no connector, with an id derived from the spec's fields."""
        fields = json.dumps(spec.to_api(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(fields.encode("utf-8")).hexdigest()[:16]
        return cls(id=f"spec-{digest}", spec=spec)


def _unwrap(data: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, ApiConnector):
        # The API client's model: export what the API returned for it.
        return data.to_api()
    if not isinstance(data, Mapping):
        raise ConnectorDataError(
            f"expected a connector object (a JSON object), got {type(data).__name__}"
        )
    if "success" in data and "result" in data:
        result = data["result"]
        if not isinstance(result, Mapping):
            raise ConnectorDataError(
                "the envelope's 'result' is not one connector object; for a list of connectors "
                "use a snapshot instead"
            )
        return result
    return data


def _parse_last_updated(identifier: str, value: object) -> datetime | None:
    """Read `last_updated` as an aware UTC datetime. A value without an offset is taken as UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConnectorDataError(
            f"connector {identifier!r}: 'last_updated' must be an ISO 8601 string, got {value!r}"
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConnectorDataError(
            f"connector {identifier!r}: 'last_updated' {value!r} is not an ISO 8601 date-time, "
            "such as '2026-01-05T10:20:30Z'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def connectors_from_api(
    items: Iterable[Mapping[str, Any]], *, tz_database: TzDatabase = "tzdata"
) -> list[Connector]:
    """Read many connector objects, sorted by id so that the output does not depend on order.

    Raises `ConnectorDataError` listing every invalid connector, or naming a repeated id.
    """
    connectors: list[Connector] = []
    problems: list[str] = []
    for item in items:
        try:
            connectors.append(Connector.from_api(item, tz_database=tz_database))
        except ConnectorDataError as error:
            problems.append(str(error))
    if problems:
        raise ConnectorDataError("; ".join(problems))

    connectors.sort(key=lambda connector: connector.id)
    for first, second in itertools.pairwise(connectors):
        if first.id == second.id:
            raise ConnectorDataError(
                f"connector id {first.id!r} appears more than once; each connector needs its own id"
            )
    return connectors


def parse_snapshot(data: object) -> list[Mapping[str, Any]]:
    """Return the connector objects of a snapshot: the API's list response or a bare JSON list."""
    items: object = data
    if isinstance(data, Mapping):
        if data.get("success") is False:
            raise SnapshotError(
                "the snapshot is an API error response (success is false); save a successful "
                "list of connectors"
            )
        if "result" not in data:
            raise SnapshotError(
                "the snapshot is a JSON object without 'result'; save the API's list of "
                "connectors, in its envelope or as a bare list"
            )
        items = data["result"]
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise SnapshotError(
            f"the snapshot's connectors must be a JSON list, got {type(items).__name__}"
        )
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise SnapshotError(
                f"item {position} of the snapshot is a {type(item).__name__}, not a connector "
                "object"
            )
    return list(items)


def read_snapshot(path: str | Path) -> list[Mapping[str, Any]]:
    """Read a snapshot file, or raise `SnapshotError` naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SnapshotError(f"cannot read snapshot {str(path)!r}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise SnapshotError(f"snapshot {str(path)!r} is not UTF-8 text") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SnapshotError(
            f"snapshot {str(path)!r} is not valid JSON: {error.msg} at line {error.lineno}"
        ) from error
    try:
        return parse_snapshot(data)
    except SnapshotError as error:
        raise SnapshotError(f"snapshot {str(path)!r}: {error}") from None


def valid_connectors(items: Iterable[Mapping[str, Any]]) -> tuple[list[Connector], list[str]]:
    """Return the valid connectors sorted by id, and why each other object was skipped."""
    connectors: dict[str, Connector] = {}
    skipped: list[str] = []
    for item in items:
        try:
            connector = Connector.from_api(item)
        except ConnectorDataError as error:
            skipped.append(str(error))
            continue
        if connector.id in connectors:
            skipped.append(f"connector id {connector.id!r} appears more than once; kept the first")
            continue
        connectors[connector.id] = connector
    return sorted(connectors.values(), key=lambda connector: connector.id), skipped
