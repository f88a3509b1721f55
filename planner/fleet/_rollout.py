"""Rollouts: apply a plan, resume a run, roll a run back, each recorded in the journal.

Every operation has two steps. `prepare_*` re-reads the connectors and decides, per connector,
whether to send a change, leave it (already as desired), or skip it as a conflict. It writes
nothing. `execute` then records the run with every before-state in one transaction and
sends the PATCH requests, so a crash at any instant leaves a journal that `resume` can finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from planner.fleet._errors import JournalError, RemoteError
from planner.fleet._fields import differing_fields, window_fields
from planner.fleet._journal import (
    EntryRecord,
    EntryStatus,
    LAST_RUN,
    EntryUpdate,
    Journal,
    NewEntry,
    RunKind,
    RunRecord,
    strip_secrets,
)
from planner.fleet._plan import Plan

ActionKind = Literal["send", "unchanged", "conflict", "missing", "done"]

# The errors recorded for a connector the account no longer has. A retry cannot help these.
_MISSING_FROM_PLAN = "not found in the account, so it was deleted or the plan is for another account"
_MISSING_TO_RESTORE = "not found in the account any more, so nothing can be restored"
_MISSING_TO_SEND = "not found in the account any more, so nothing can be sent"
_MISSING_REASONS = frozenset({_MISSING_FROM_PLAN, _MISSING_TO_RESTORE, _MISSING_TO_SEND})

#: Called after each connector finishes: (finished so far, total to send, connector label, status).
ProgressCallback = Callable[[int, int, str, EntryStatus], None]


class ConnectorsAPI(Protocol):
    """The connectors API operations a rollout uses. Each method raises RemoteError on failure."""

    async def list_connectors(self) -> list[dict[str, Any]]:
        """Return every connector object of the account."""
        ...

    async def edit_window(self, connector_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH the given window fields of one connector and return the connector object after the change."""
        ...


@dataclass(frozen=True, slots=True)
class Action:
    """The step a rollout takes for one connector.

    `before` is the connector object as just re-read, or the plan's copy when the connector is
    missing. `desired` contains the five window fields it should end with, and `fields` the
    subset to send: those that differ now.
    """

    connector_id: str
    label: str
    kind: ActionKind
    before: Mapping[str, Any]
    desired: Mapping[str, Any]
    fields: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Rollout:
    """A prepared apply, resume or rollback: the actions decided from a fresh read of the connectors."""

    kind: RunKind
    actions: tuple[Action, ...]
    source: str | None = None
    plan_hash: str | None = None
    parent_run_id: str | None = None
    run_id: str | None = None  # set when resuming a run already in the journal

    def count(self, kind: ActionKind) -> int:
        return sum(1 for action in self.actions if action.kind == kind)

    @property
    def to_send(self) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.kind == "send")


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run as the journal records it."""

    run: RunRecord
    entries: tuple[EntryRecord, ...]

    @property
    def succeeded(self) -> bool:
        """Whether every connector ended done or unchanged."""
        return self.run.status == "completed"


async def prepare_apply(plan: Plan, api: ConnectorsAPI, *, force: bool = False) -> Rollout:
    """Re-read the connectors and decide what applying `plan` sends.

    A connector whose window fields changed since the plan was made is a conflict, unless `force`,
    which sends the plan's fields over whatever it has now, or unless it already has the desired
    fields, which makes it unchanged.
    """
    current = _by_id(await api.list_connectors())
    actions = []
    for item in plan.connectors:
        now = current.get(item.connector_id)
        if now is None:
            actions.append(Action(item.connector_id, item.label, "missing", item.before, item.desired,
                                  reason=_MISSING_FROM_PLAN))
            continue
        changed = differing_fields(window_fields(now), window_fields(item.before))
        # A connector that already has the desired window (the plan was applied before, or
        # someone made the same change by hand) has nothing to conflict with.
        already_desired = not differing_fields(window_fields(now), item.desired)
        if changed and not force and not already_desired:
            actions.append(Action(item.connector_id, item.label, "conflict", now, item.desired,
                                  reason=f"changed since the plan was made ({', '.join(changed)}); "
                                         "make a new plan, or apply with --force to overwrite"))
            continue
        actions.append(_send_or_unchanged(item.connector_id, item.label, now, item.desired))
    return Rollout("apply", tuple(actions), source=plan.source, plan_hash=plan.content_hash)


async def prepare_rollback(journal: Journal, run_id: str, api: ConnectorsAPI) -> Rollout:
    """Re-read the connectors and decide what rolling back run `run_id` sends.

    A connector is restored to the window fields it had before the run only while it still has
    every field the run set. One that was changed again since is a conflict.
    """
    journal.run(run_id)
    current = _by_id(await api.list_connectors())
    actions = []
    for entry in journal.entries(run_id):
        if entry.status in ("unchanged", "conflict"):
            continue
        restore, unrestorable = _restore_fields(entry.before, entry.desired)
        now = current.get(entry.connector_id)
        if now is None:
            actions.append(Action(entry.connector_id, entry.label, "missing", entry.before, restore,
                                  reason=_MISSING_TO_RESTORE))
            continue
        if unrestorable:
            actions.append(Action(entry.connector_id, entry.label, "conflict", now, restore,
                                  reason=f"cannot restore {', '.join(unrestorable)}: the connector had no value "
                                         f"before run {run_id}; set it by hand with `planner connectors set`"))
            continue
        if not differing_fields(window_fields(now), restore):
            actions.append(Action(entry.connector_id, entry.label, "unchanged", now, restore))
            continue
        changed = differing_fields(window_fields(now), entry.desired)
        if changed:
            actions.append(Action(entry.connector_id, entry.label, "conflict", now, restore,
                                  reason=f"changed since run {run_id} ({', '.join(changed)}); "
                                         "restore it by hand or with `planner connectors set`"))
            continue
        actions.append(_send_or_unchanged(entry.connector_id, entry.label, now, restore))
    return Rollout("rollback", tuple(actions), source=f"rollback of {run_id}", parent_run_id=run_id)


# Fields the API fills in when they are left out, so a rollback can restore their absence.
_API_DEFAULTS: dict[str, Any] = {
    "interrupt_window_days_of_week": [],
    "interrupt_window_embargo_dates": [],
}


def _restore_fields(before: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return the fields that put `before` back, and the fields the run set that `before` lacked.

    A field missing from the before-state is restored to the API's default where it has one, an
    empty list for days (every day) and embargo dates. Otherwise it cannot be restored.
    """
    restore = window_fields(before)
    unrestorable = []
    for name in desired:
        if name in restore:
            continue
        if name in _API_DEFAULTS:
            restore[name] = list(_API_DEFAULTS[name])
        else:
            unrestorable.append(name)
    return restore, unrestorable


async def prepare_resume(journal: Journal, run_id: str, api: ConnectorsAPI, *, force: bool = False) -> Rollout:
    """Re-read the connectors a run has not finished and decide what resuming it sends.

    A connector already at its desired window is marked done without a request. One that has
    neither its recorded before-state nor its desired window was changed by someone else, so it
    is a conflict. An entry the run skipped as a conflict stays one until it reaches the desired
    window. With `force`, every conflict is overwritten with the run's desired fields.
    """
    run = journal.run(run_id)
    current = _by_id(await api.list_connectors())
    actions = []
    for entry in journal.entries(run_id):
        if entry.status not in ("pending", "in_flight", "failed", "conflict"):
            continue
        now = current.get(entry.connector_id)
        if now is None:
            actions.append(Action(entry.connector_id, entry.label, "missing", entry.before, entry.desired,
                                  reason=_MISSING_TO_SEND))
            continue
        if not differing_fields(window_fields(now), entry.desired):
            actions.append(Action(entry.connector_id, entry.label, "done", now, entry.desired))
            continue
        if force:
            actions.append(_send_or_unchanged(entry.connector_id, entry.label, now, entry.desired))
            continue
        if entry.status == "conflict":
            # The recorded before-state of a conflict is what someone else set, so matching it
            # does not make the connector safe to overwrite.
            actions.append(Action(entry.connector_id, entry.label, "conflict", now, entry.desired,
                                  reason=entry.error or "changed by someone else; resume with --force to overwrite"))
            continue
        changed = differing_fields(window_fields(now), window_fields(entry.before))
        if changed:
            actions.append(Action(entry.connector_id, entry.label, "conflict", now, entry.desired,
                                  reason=f"holds neither its state before run {run_id} nor the desired window "
                                         f"({', '.join(changed)} changed); resume with --force to overwrite"))
            continue
        actions.append(_send_or_unchanged(entry.connector_id, entry.label, now, entry.desired))
    return Rollout(run.kind, tuple(actions), source=run.source, plan_hash=run.plan_hash,
                   parent_run_id=run.parent_run_id, run_id=run_id)


def is_missing(entry: EntryRecord) -> bool:
    """Return whether an entry failed because its connector is not in the account, so resuming cannot help."""
    return entry.status == "failed" and entry.error in _MISSING_REASONS


def rollback_target(journal: Journal, run_id: str) -> RunRecord:
    """Return the run that `planner rollback RUN_ID` undoes, resolving "last" to the newest run.

    "last" never resolves to a rollback, because rolling that back would put the change back.
    The rollback's own id undoes it on purpose. Raise JournalError when "last" is a rollback,
    and RunNotFoundError when there is no such run.
    """
    run = journal.run(journal.resolve_run_id(run_id))
    if run_id == LAST_RUN and run.kind == "rollback":
        raise JournalError(
            f"the newest run {run.run_id} is a rollback of {run.parent_run_id}; give its id, {run.run_id}, "
            "to undo the rollback itself"
        )
    return run


async def execute(
    rollout: Rollout,
    api: ConnectorsAPI,
    journal: Journal,
    *,
    concurrency: int = 8,
    account_id: str | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Record the rollout in the journal, send its changes, and return the finished run.

    At most `concurrency` requests are in flight at once; the client's own limiter paces them
    further. A failed request marks its connector failed and the run goes on with the others.
    `on_start` receives the run id once the run is recorded, before any request is sent.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    run_id = _record(rollout, journal, account_id)
    if on_start is not None:
        on_start(run_id)

    to_send = rollout.to_send
    finished = 0
    slots = asyncio.Semaphore(concurrency)
    try:
        # Each journal commit waits for fsync. Doing them on one worker thread keeps the event loop
        # free to handle responses meanwhile, and keeps the commits in order.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-journal") as writer:
            record = _JournalWriter(journal, writer, run_id)

            async def send(action: Action) -> None:
                nonlocal finished
                async with slots:
                    status = await _send_one(action, api, record)
                finished += 1
                if progress is not None:
                    progress(finished, len(to_send), action.label, status)

            await asyncio.gather(*(send(action) for action in to_send))
    except BaseException:
        # Cancelled (Ctrl-C, SIGTERM) or failed: the writer thread has committed every update by
        # now, so the run can be marked stopped. Its in-flight entries stay for `resume` to re-read.
        with contextlib.suppress(sqlite3.Error):
            journal.interrupt_run(run_id)
        raise

    run = journal.finish_run(run_id)
    return RunResult(run, tuple(journal.entries(run_id)))


class _JournalWriter:
    """Journal updates for one run, committed in groups on the writer thread.

    Updates that arrive while a commit is in progress wait and go into the next commit together,
    so many concurrent requests share one fsync. Each caller resumes only once its update is
    committed, so an entry is durably in flight before its request is sent.
    """

    def __init__(self, journal: Journal, writer: ThreadPoolExecutor, run_id: str) -> None:
        self._journal = journal
        self._writer = writer
        self._run_id = run_id
        self._pending: list[tuple[EntryUpdate, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def in_flight(self, connector_id: str) -> None:
        await self._submit(EntryUpdate(connector_id, "in_flight"))

    async def finish(
        self, connector_id: str, status: EntryStatus, *, after: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        await self._submit(EntryUpdate(connector_id, status, after, error))

    async def _submit(self, update: EntryUpdate) -> None:
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((update, committed))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await committed

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            updates = [update for update, _ in batch]
            try:
                await loop.run_in_executor(self._writer, self._journal.update_entries, self._run_id, updates)
            except Exception as error:  # handed to every caller waiting on this commit
                for _, committed in batch:
                    if not committed.done():
                        committed.set_exception(error)
                continue
            for _, committed in batch:
                if not committed.done():
                    committed.set_result(None)


def _record(rollout: Rollout, journal: Journal, account_id: str | None) -> str:
    """Store the run and every before-state, or on resume the outcome of each re-read, before any request."""
    if rollout.run_id is None:
        return journal.create_run(
            rollout.kind,
            [NewEntry(action.connector_id, action.label, action.before, action.desired, *_initial_status(action))
             for action in rollout.actions],
            source=rollout.source,
            plan_hash=rollout.plan_hash,
            account_id=account_id,
            parent_run_id=rollout.parent_run_id,
        )

    journal.reopen_run(rollout.run_id)
    recorded = {entry.connector_id: entry.before for entry in journal.entries(rollout.run_id)}
    for action in rollout.actions:
        status, error = _initial_status(action)
        if action.kind == "send":
            # A forced resume overwrites what someone else set since the run recorded this connector.
            # Rollback must restore that newer state, so it becomes the entry's before-state.
            if differing_fields(window_fields(action.before), window_fields(recorded[action.connector_id])):
                journal.replace_before(rollout.run_id, action.connector_id, action.before)
            continue
        after = action.before if action.kind == "done" else None
        journal.finish_entry(rollout.run_id, action.connector_id, status, after=after, error=error)
    return rollout.run_id


def _initial_status(action: Action) -> tuple[EntryStatus, str | None]:
    if action.kind == "send":
        return "pending", None
    if action.kind == "missing":
        return "failed", action.reason
    if action.kind == "done":
        return "done", None
    return action.kind, action.reason


async def _send_one(action: Action, api: ConnectorsAPI, record: _JournalWriter) -> EntryStatus:
    await record.in_flight(action.connector_id)
    try:
        after = await api.edit_window(action.connector_id, action.fields)
    except RemoteError as error:
        await record.finish(action.connector_id, "failed", error=str(error))
        return "failed"

    mismatched = differing_fields(window_fields(after), action.desired)
    if mismatched:
        await record.finish(action.connector_id, "failed", after=strip_secrets(after),
                            error=f"the API accepted the change but returned other values for {', '.join(mismatched)}")
        return "failed"
    await record.finish(action.connector_id, "done", after=strip_secrets(after))
    return "done"


def _send_or_unchanged(connector_id: str, label: str, now: Mapping[str, Any], desired: Mapping[str, Any]) -> Action:
    changed = differing_fields(window_fields(now), desired)
    if not changed:
        return Action(connector_id, label, "unchanged", now, desired)
    return Action(connector_id, label, "send", now, desired, {name: desired[name] for name in changed})


def _by_id(connectors: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for connector in connectors:
        if "id" not in connector:
            raise RemoteError(f"the connectors list returned an object without an id (keys: {', '.join(sorted(connector))})")
        found[str(connector["id"])] = strip_secrets(connector)
    return found

