"""Rollout logic against an in-memory API: apply, conflicts, resume and rollback."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from planner.fleet import (
    Journal,
    JournalError,
    NewEntry,
    Plan,
    RunResult,
    execute,
    is_missing,
    make_plan,
    parse_fleet_file,
    prepare_apply,
    prepare_resume,
    prepare_rollback,
    rollback_target,
    window_fields,
)

from fleet_fixtures import NOW, FakeConnectorsAPI, make_connector

FLEET = '[[policy]]\nmatch = { notes = "branch-*" }\ndays = ["Saturday"]\nhour = 2\nduration = 4\n'


def plan_for(connectors: list[dict[str, object]]) -> Plan:
    return make_plan(parse_fleet_file(FLEET), connectors, NOW)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened  # type: ignore[misc]


def test_apply_sends_only_differing_fields(journal: Journal) -> None:
    connectors = [make_connector(0), make_connector(1, interrupt_window_days_of_week=["Saturday"], interrupt_window_hour_of_day=2, interrupt_window_duration_hours=4)]
    api = FakeConnectorsAPI(connectors)

    rollout = asyncio.run(prepare_apply(plan_for(connectors), api))
    result = asyncio.run(execute(rollout, api, journal))

    assert [action.kind for action in rollout.actions] == ["send", "unchanged"]
    assert api.patches == [
        ("conn-0000", {"interrupt_window_days_of_week": ["Saturday"], "interrupt_window_hour_of_day": 2, "interrupt_window_duration_hours": 4})
    ]
    assert result.succeeded
    assert [entry.status for entry in result.entries] == ["done", "unchanged"]
    assert result.entries[0].attempts == 1
    assert result.entries[0].before["interrupt_window_hour_of_day"] == 14
    assert result.entries[0].after is not None
    assert result.entries[0].after["interrupt_window_hour_of_day"] == 2


def test_changed_connector_is_conflict(journal: Journal) -> None:
    connectors = [make_connector(0), make_connector(1)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI(connectors)
    api.connectors["conn-0001"]["interrupt_window_hour_of_day"] = 9

    rollout = asyncio.run(prepare_apply(plan, api))
    result = asyncio.run(execute(rollout, api, journal))

    assert [action.kind for action in rollout.actions] == ["send", "conflict"]
    assert rollout.actions[1].reason is not None
    assert "changed since the plan was made (interrupt_window_hour_of_day)" in rollout.actions[1].reason
    assert [patch[0] for patch in api.patches] == ["conn-0000"]
    assert not result.succeeded
    assert result.run.counts == {"conflict": 1, "done": 1}


def test_force_overwrites_conflict() -> None:
    connectors = [make_connector(1)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI(connectors)
    api.connectors["conn-0001"]["interrupt_window_hour_of_day"] = 9

    rollout = asyncio.run(prepare_apply(plan, api, force=True))

    assert [action.kind for action in rollout.actions] == ["send"]
    assert rollout.actions[0].fields["interrupt_window_hour_of_day"] == 2


def test_unrelated_edit_is_no_conflict() -> None:
    connectors = [make_connector(1)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI(connectors)
    api.connectors["conn-0001"]["notes"] = "branch-renamed"

    rollout = asyncio.run(prepare_apply(plan, api))

    assert [action.kind for action in rollout.actions] == ["send"]


def test_reapplied_plan_is_unchanged(journal: Journal) -> None:
    """Applying a plan a second time finds every connector at its desired window: no conflict."""
    connectors = [make_connector(0), make_connector(1)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI(connectors)
    asyncio.run(execute(asyncio.run(prepare_apply(plan, api)), api, journal))
    patches_after_first_run = len(api.patches)

    again = asyncio.run(prepare_apply(plan, api))
    result = asyncio.run(execute(again, api, journal))

    assert [action.kind for action in again.actions] == ["unchanged", "unchanged"]
    assert len(api.patches) == patches_after_first_run
    assert result.succeeded


def test_deleted_connector_fails(journal: Journal) -> None:
    connectors = [make_connector(1)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI([])

    result = asyncio.run(execute(asyncio.run(prepare_apply(plan, api)), api, journal))

    assert result.entries[0].status == "failed"
    assert result.entries[0].error is not None
    assert "not found" in result.entries[0].error
    assert is_missing(result.entries[0])


def test_failed_request_then_resume(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(4)]
    api = FakeConnectorsAPI(connectors)
    api.fail["conn-0002"] = 1

    first = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))
    resumed = asyncio.run(prepare_resume(journal, first.run.run_id, api))
    second = asyncio.run(execute(resumed, api, journal))

    assert first.run.counts == {"done": 3, "failed": 1}
    assert "HTTP 500" in (first.entries[2].error or "")
    assert not is_missing(first.entries[2])
    assert [action.connector_id for action in resumed.actions] == ["conn-0002"]
    assert second.run.run_id == first.run.run_id
    assert second.succeeded
    assert second.entries[2].attempts == 2


def test_resume_marks_connectors_already_done(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(3)]
    api = FakeConnectorsAPI(connectors)
    rollout = asyncio.run(prepare_apply(plan_for(connectors), api))
    # Simulate a crash after the run was recorded: one request reached the API, one was in flight.
    run_id = journal.create_run(
        "apply", [NewEntry(action.connector_id, action.label, action.before, action.desired) for action in rollout.actions]
    )
    journal.mark_in_flight(run_id, "conn-0000")
    asyncio.run(api.edit_window("conn-0000", rollout.actions[0].fields))
    journal.mark_in_flight(run_id, "conn-0001")
    api.patches.clear()

    resumed = asyncio.run(prepare_resume(journal, run_id, api))
    result = asyncio.run(execute(resumed, api, journal))

    assert [(action.connector_id, action.kind) for action in resumed.actions] == [
        ("conn-0000", "done"), ("conn-0001", "send"), ("conn-0002", "send"),
    ]
    assert [patch[0] for patch in api.patches] == ["conn-0001", "conn-0002"]
    assert result.succeeded


def test_resume_conflict_when_changed_by_someone_else(journal: Journal) -> None:
    connectors = [make_connector(1)]
    api = FakeConnectorsAPI(connectors)
    api.fail["conn-0001"] = 1
    first = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))
    api.connectors["conn-0001"]["timezone"] = "Asia/Tokyo"

    resumed = asyncio.run(prepare_resume(journal, first.run.run_id, api))

    assert [action.kind for action in resumed.actions] == ["conflict"]
    assert "timezone" in (resumed.actions[0].reason or "")


def test_rollback_restores_every_field(journal: Journal) -> None:
    connectors = [make_connector(number, interrupt_window_embargo_dates=["2027-01-01"]) for number in range(4)]
    api = FakeConnectorsAPI(connectors)
    applied = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))

    rollout = asyncio.run(prepare_rollback(journal, applied.run.run_id, api))
    result = asyncio.run(execute(rollout, api, journal))

    assert result.succeeded
    assert result.run.kind == "rollback"
    assert result.run.parent_run_id == applied.run.run_id
    for connector in connectors:
        assert api.connectors[connector["id"]] == connector


def test_rollback_restores_absent_embargo_list(journal: Journal) -> None:
    """A connector read without an embargo list gets the API's empty default back, not the run's dates."""
    fleet = FLEET + 'embargo = ["2027-01-15"]\n'
    connector = make_connector(1)
    del connector["interrupt_window_embargo_dates"]
    api = FakeConnectorsAPI([connector])
    applied = asyncio.run(execute(asyncio.run(prepare_apply(make_plan(parse_fleet_file(fleet), [connector], NOW), api)), api, journal))
    assert api.connectors["conn-0001"]["interrupt_window_embargo_dates"] == ["2027-01-15"]

    rollout = asyncio.run(prepare_rollback(journal, applied.run.run_id, api))
    asyncio.run(execute(rollout, api, journal))

    assert [action.kind for action in rollout.actions] == ["send"]
    assert api.connectors["conn-0001"]["interrupt_window_embargo_dates"] == []


def test_rollback_cannot_restore_absent_hour(journal: Journal) -> None:
    """A field with no API default that the run set on a connector without it is a conflict."""
    connector = make_connector(1)
    del connector["interrupt_window_hour_of_day"]
    api = FakeConnectorsAPI([connector])
    applied = asyncio.run(execute(asyncio.run(prepare_apply(plan_for([connector]), api)), api, journal))

    rollout = asyncio.run(prepare_rollback(journal, applied.run.run_id, api))

    assert [action.kind for action in rollout.actions] == ["conflict"]
    assert rollout.actions[0].reason is not None
    assert rollout.actions[0].reason.startswith("cannot restore interrupt_window_hour_of_day: the connector had no value")


def test_rollback_skips_connectors_changed_since(journal: Journal) -> None:
    connectors = [make_connector(0), make_connector(1)]
    api = FakeConnectorsAPI(connectors)
    applied = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))
    api.connectors["conn-0001"]["interrupt_window_duration_hours"] = 6

    rollout = asyncio.run(prepare_rollback(journal, applied.run.run_id, api))
    result = asyncio.run(execute(rollout, api, journal))

    assert [action.kind for action in rollout.actions] == ["send", "conflict"]
    assert "interrupt_window_duration_hours" in (rollout.actions[1].reason or "")
    assert api.connectors["conn-0001"]["interrupt_window_duration_hours"] == 6
    assert window_fields(api.connectors["conn-0000"]) == window_fields(connectors[0])
    assert not result.succeeded


def test_progress_reports_each_connector(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(5)]
    api = FakeConnectorsAPI(connectors)
    seen: list[tuple[int, int]] = []

    asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal, concurrency=2,
                        progress=lambda finished, total, label, status: seen.append((finished, total))))

    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


class SlowFakeAPI(FakeConnectorsAPI):
    """A fake whose PATCH takes a moment, counting how many are in flight at once."""

    def __init__(self, connectors: list[dict[str, object]]) -> None:
        super().__init__(connectors)  # type: ignore[arg-type]
        self.in_flight = 0
        self.max_in_flight = 0

    async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        return await super().edit_window(connector_id, fields)


def test_concurrency_cap_respected(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(12)]
    api = SlowFakeAPI(connectors)

    result = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal, concurrency=3))

    assert result.succeeded
    assert api.max_in_flight == 3


def test_resume_force_overwrites(journal: Journal) -> None:
    connectors = [make_connector(1)]
    api = FakeConnectorsAPI(connectors)
    api.fail["conn-0001"] = 1
    first = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))
    api.connectors["conn-0001"]["timezone"] = "Asia/Tokyo"

    resumed = asyncio.run(prepare_resume(journal, first.run.run_id, api, force=True))
    result = asyncio.run(execute(resumed, api, journal))

    assert [action.kind for action in resumed.actions] == ["send"]
    assert result.succeeded
    assert api.connectors["conn-0001"]["interrupt_window_hour_of_day"] == 2
    # The desired window carries all five fields, so the zone the policy kept is restored too.
    assert api.connectors["conn-0001"]["timezone"] == "America/New_York"


def test_every_entry_in_flight_before_its_request(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(4)]
    seen: list[str] = []

    class CheckingAPI(FakeConnectorsAPI):
        async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
            (run,) = journal.runs()
            entry = next(entry for entry in journal.entries(run.run_id) if entry.connector_id == connector_id)
            seen.append(entry.status)
            return await super().edit_window(connector_id, fields)

    api = CheckingAPI(connectors)
    asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))

    assert seen == ["in_flight"] * 4


def apply_with_conflict(journal: Journal) -> tuple[FakeConnectorsAPI, RunResult]:
    """Apply a plan to two connectors after conn-0001 was edited, so its entry is a conflict."""
    connectors = [make_connector(1), make_connector(2)]
    plan = plan_for(connectors)
    api = FakeConnectorsAPI(connectors)
    api.connectors["conn-0001"]["interrupt_window_hour_of_day"] = 13
    return api, asyncio.run(execute(asyncio.run(prepare_apply(plan, api)), api, journal))


def test_resume_keeps_conflict_without_force(journal: Journal) -> None:
    api, first = apply_with_conflict(journal)

    resumed = asyncio.run(prepare_resume(journal, first.run.run_id, api))

    assert first.run.counts == {"conflict": 1, "done": 1}
    assert [(action.connector_id, action.kind) for action in resumed.actions] == [("conn-0001", "conflict")]
    assert "--force" in (resumed.actions[0].reason or "")


def test_resume_force_overwrites_apply_conflict(journal: Journal) -> None:
    api, first = apply_with_conflict(journal)
    # Someone changes the connector again after the run recorded the conflict.
    api.connectors["conn-0001"]["interrupt_window_duration_hours"] = 7

    resumed = asyncio.run(prepare_resume(journal, first.run.run_id, api, force=True))
    result = asyncio.run(execute(resumed, api, journal))
    rolled = asyncio.run(execute(asyncio.run(prepare_rollback(journal, first.run.run_id, api)), api, journal))

    assert [action.kind for action in resumed.actions] == ["send"]
    assert result.succeeded
    assert result.entries[0].before["interrupt_window_duration_hours"] == 7
    assert rolled.succeeded
    # Rollback restores what was there just before the forced write, not the plan's older copy.
    assert api.connectors["conn-0001"]["interrupt_window_hour_of_day"] == 13
    assert api.connectors["conn-0001"]["interrupt_window_duration_hours"] == 7


def test_cancelled_run_marked_interrupted(journal: Journal) -> None:
    connectors = [make_connector(number) for number in range(4)]

    stalled = []

    class StallingAPI(FakeConnectorsAPI):
        async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
            if connector_id == "conn-0002":
                stalled.append(connector_id)
                await asyncio.sleep(60)
            return await super().edit_window(connector_id, fields)

    api = StallingAPI(connectors)
    rollout = asyncio.run(prepare_apply(plan_for(connectors), api))

    async def cancel_midway() -> None:
        task = asyncio.create_task(execute(rollout, api, journal, concurrency=1))
        while not stalled:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    (run,) = journal.runs()

    assert run.status == "interrupted"
    assert run.finished_at is not None
    assert run.counts == {"done": 2, "in_flight": 1, "pending": 1}


def test_rollback_last_skips_no_rollback(journal: Journal) -> None:
    connectors = [make_connector(1)]
    api = FakeConnectorsAPI(connectors)
    applied = asyncio.run(execute(asyncio.run(prepare_apply(plan_for(connectors), api)), api, journal))
    first = rollback_target(journal, "last")
    rolled = asyncio.run(execute(asyncio.run(prepare_rollback(journal, first.run_id, api)), api, journal))

    with pytest.raises(JournalError) as raised:
        rollback_target(journal, "last")

    assert first.run_id == applied.run.run_id
    assert str(raised.value) == (
        f"the newest run {rolled.run.run_id} is a rollback of {applied.run.run_id}; "
        f"give its id, {rolled.run.run_id}, to undo the rollback itself"
    )
    assert rollback_target(journal, rolled.run.run_id).kind == "rollback"
