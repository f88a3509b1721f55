"""The rollout journal: one SQLite file recording every run and, per connector, what it did.

Durability rules: WAL mode with `synchronous=FULL`, so a commit survives a power cut, and every
state change is its own transaction. A connector's before-state is committed when the run is
created, before any request for it is sent. Secrets never reach the file: `license_key` (and a
`provision_license` flag) are removed from every object before it is stored.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs

from planner.fleet._errors import JournalError, JournalNotFoundError, RunNotFoundError

RunKind = Literal["apply", "rollback"]
# "interrupted" marks a run stopped by Ctrl-C or SIGTERM. A run killed with SIGKILL stays "running".
RunStatus = Literal["running", "completed", "failed", "interrupted"]
EntryStatus = Literal["pending", "in_flight", "done", "unchanged", "conflict", "failed"]

#: Entry statuses after which nothing more is sent for the connector in that run, except that
#: a resume with `force` overwrites a conflict.
FINAL_STATUSES: frozenset[str] = frozenset({"done", "unchanged", "conflict"})

_RUN_COLUMNS = "run_id, kind, parent_run_id, status, source, plan_hash, account_id, started_at, finished_at, pid, host"
_SECRET_KEYS = frozenset({"license_key", "provision_license"})
# Version 2 added the process id and host name of the process running each run.
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    parent_run_id TEXT REFERENCES runs (run_id),
    status        TEXT NOT NULL,
    source        TEXT,
    plan_hash     TEXT,
    account_id    TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    pid           INTEGER,
    host          TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    run_id       TEXT NOT NULL REFERENCES runs (run_id),
    connector_id TEXT NOT NULL,
    position     INTEGER NOT NULL,
    label        TEXT NOT NULL,
    before       TEXT NOT NULL,
    desired      TEXT NOT NULL,
    after        TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (run_id, connector_id)
);
"""


def default_journal_path() -> Path:
    """Return the journal's default location under the user's state directory (XDG_STATE_HOME on Linux)."""
    return Path(platformdirs.user_state_dir("planner")) / "journal.sqlite3"


def run_process_gone(run: RunRecord) -> bool:
    """Return whether a run marked running lost its process, as after SIGKILL or a power cut.

    Only a run started on this host can be checked, so a run from another host returns False.
    NOTE: a process id reused by a newer process makes a lost run look alive.
    """
    if run.status != "running" or run.pid is None or run.host != socket.gethostname() or os.name != "posix":
        return False
    try:
        os.kill(run.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def strip_secrets(value: Any) -> Any:
    """Return a copy of a JSON-like value without `license_key` or `provision_license` at any depth."""
    if isinstance(value, Mapping):
        return {key: strip_secrets(item) for key, item in value.items() if key not in _SECRET_KEYS}
    if isinstance(value, list):
        return [strip_secrets(item) for item in value]
    return value


# The run id that stands for the newest run in the journal, for `planner rollback last`.
LAST_RUN = "last"


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A connector to record when a run is created."""

    connector_id: str
    label: str
    before: Mapping[str, Any]
    desired: Mapping[str, Any]
    status: EntryStatus = "pending"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class EntryUpdate:
    """A change to one entry: `in_flight` counts an attempt; other statuses record an outcome."""

    connector_id: str
    status: EntryStatus
    after: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as stored: an apply or a rollback, with its entry counts by status."""

    run_id: str
    kind: RunKind
    parent_run_id: str | None
    status: RunStatus
    source: str | None
    plan_hash: str | None
    account_id: str | None
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    counts: Mapping[str, int]
    pid: int | None = None
    host: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "parent_run_id": self.parent_run_id,
            "status": self.status,
            "source": self.source,
            "plan_hash": self.plan_hash,
            "account_id": self.account_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "counts": dict(self.counts),
            "pid": self.pid,
            "host": self.host,
        }


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One connector of a run: the state before, the window fields to set, the state after, the outcome."""

    run_id: str
    connector_id: str
    label: str
    before: Mapping[str, Any]
    desired: Mapping[str, Any]
    after: Mapping[str, Any] | None
    status: EntryStatus
    attempts: int
    error: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "connector_id": self.connector_id,
            "label": self.label,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "before": self.before,
            "desired": self.desired,
            "after": self.after,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Journal:
    """A rollout journal stored in one SQLite file. Use as a context manager, or call `close()`.

    A journal is not safe for concurrent use: call its methods from one thread at a time.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open the journal at `path`. With `create=False`, raise JournalNotFoundError when there is no file."""
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise JournalNotFoundError(f"journal {str(self.path)!r} does not exist")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The file contains connector notes and site ids, which are private to the account.
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(descriptor)
            # A rollout writes from one worker thread (see `_rollout.execute`), one call at a time,
            # so the connection may be used from a thread other than the one that opened it.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise JournalError(
                    f"journal {str(self.path)!r} was written by a newer planner (schema {version}); upgrade planner"
                )
            with self._transaction():
                # executescript() would commit on its own, so run the statements one by one.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                if version == 1:
                    self._db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
                    self._db.execute("ALTER TABLE runs ADD COLUMN host TEXT")
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as error:
            raise JournalError(f"cannot open journal {str(self.path)!r}: {error}; choose another file with --journal") from error

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def create_run(
        self,
        kind: RunKind,
        entries: Sequence[NewEntry],
        *,
        source: str | None = None,
        plan_hash: str | None = None,
        account_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Record a new run and the before-state of every entry in one transaction; return the run id."""
        now = _now()
        run_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
        stamp = now.isoformat()
        with self._transaction():
            self._db.execute(
                "INSERT INTO runs (run_id, kind, parent_run_id, status, source, plan_hash, account_id, started_at,"
                " pid, host) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (run_id, kind, parent_run_id, source, plan_hash, account_id, stamp, os.getpid(), socket.gethostname()),
            )
            self._db.executemany(
                "INSERT INTO entries (run_id, connector_id, position, label, before, desired, status, error,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, entry.connector_id, position, entry.label, _dump(entry.before), _dump(entry.desired),
                     entry.status, entry.error, stamp, stamp)
                    for position, entry in enumerate(entries)
                ],
            )
        return run_id

    def mark_in_flight(self, run_id: str, connector_id: str) -> None:
        """Record that a request for the connector is about to be sent, counting the attempt."""
        self.update_entries(run_id, [EntryUpdate(connector_id, "in_flight")])

    def finish_entry(
        self,
        run_id: str,
        connector_id: str,
        status: EntryStatus,
        *,
        after: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome for a connector, with its state after the request when there is one."""
        self.update_entries(run_id, [EntryUpdate(connector_id, status, after, error)])

    def update_entries(self, run_id: str, updates: Sequence[EntryUpdate]) -> None:
        """Apply several entry updates in one transaction, in order (one fsync for all of them)."""
        stamp = _now().isoformat()
        with self._transaction():
            for update in updates:
                if update.status == "in_flight":
                    self._db.execute(
                        "UPDATE entries SET status = 'in_flight', attempts = attempts + 1, error = NULL, updated_at = ?"
                        " WHERE run_id = ? AND connector_id = ?",
                        (stamp, run_id, update.connector_id),
                    )
                    continue
                after = _dump(update.after) if update.after is not None else None
                self._db.execute(
                    "UPDATE entries SET status = ?, after = COALESCE(?, after), error = ?, updated_at = ?"
                    " WHERE run_id = ? AND connector_id = ?",
                    (update.status, after, update.error, stamp, run_id, update.connector_id),
                )

    def finish_run(self, run_id: str) -> RunRecord:
        """Mark a run finished: `completed` when every entry is done or unchanged, else `failed`."""
        with self._transaction():
            open_count = self._db.execute(
                "SELECT COUNT(*) FROM entries WHERE run_id = ? AND status NOT IN ('done', 'unchanged')", (run_id,)
            ).fetchone()[0]
            self._db.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                ("completed" if open_count == 0 else "failed", _now().isoformat(), run_id),
            )
        return self.run(run_id)

    def interrupt_run(self, run_id: str) -> RunRecord:
        """Mark a run stopped before it finished, so history shows it is no longer running."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ?", (_now().isoformat(), run_id)
            )
        return self.run(run_id)

    def replace_before(self, run_id: str, connector_id: str, before: Mapping[str, Any]) -> None:
        """Record a newer before-state for an entry, when a forced resume overwrites someone else's change."""
        with self._transaction():
            self._db.execute(
                "UPDATE entries SET before = ?, updated_at = ? WHERE run_id = ? AND connector_id = ?",
                (_dump(before), _now().isoformat(), run_id, connector_id),
            )

    def reopen_run(self, run_id: str) -> None:
        """Mark a run as running again, before it is resumed."""
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, host = ? WHERE run_id = ?",
                (os.getpid(), socket.gethostname(), run_id),
            )

    def runs(self) -> list[RunRecord]:
        """Return every run, newest first."""
        rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at DESC, run_id DESC").fetchall()
        return [self._run_from_row(row) for row in rows]

    def resolve_run_id(self, run_id: str) -> str:
        """Return `run_id`, or the newest run's id for "last"; raise RunNotFoundError if there is none."""
        if run_id != LAST_RUN:
            return run_id
        row = self._db.execute("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchone()
        if row is None:
            raise RunNotFoundError(f"journal {str(self.path)!r} has no runs, so there is no last run")
        return str(row[0])

    def run(self, run_id: str) -> RunRecord:
        """Return one run; raise RunNotFoundError when the journal has no such run."""
        row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in journal {str(self.path)!r}", run_id)
        return self._run_from_row(row)

    def entries(self, run_id: str) -> list[EntryRecord]:
        """Return the entries of a run in the order they were planned."""
        self.run(run_id)
        cursor = self._db.execute(
            "SELECT run_id, connector_id, label, before, desired, after, status, attempts, error, created_at,"
            " updated_at FROM entries WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        return [
            EntryRecord(
                run_id=row[0], connector_id=row[1], label=row[2], before=json.loads(row[3]),
                desired=json.loads(row[4]), after=json.loads(row[5]) if row[5] is not None else None,
                status=row[6], attempts=row[7], error=row[8],
                created_at=datetime.datetime.fromisoformat(row[9]),
                updated_at=datetime.datetime.fromisoformat(row[10]),
            )
            for row in cursor
        ]

    def _run_from_row(self, row: tuple[Any, ...]) -> RunRecord:
        run_id, kind, parent_run_id, status, source, plan_hash, account_id, started_at, finished_at, pid, host = row
        counts = dict(
            self._db.execute(
                "SELECT status, COUNT(*) FROM entries WHERE run_id = ? GROUP BY status ORDER BY status", (run_id,)
            ).fetchall()
        )
        return RunRecord(
            run_id=run_id, kind=kind, parent_run_id=parent_run_id, status=status, source=source,
            plan_hash=plan_hash, account_id=account_id,
            started_at=datetime.datetime.fromisoformat(started_at),
            finished_at=datetime.datetime.fromisoformat(finished_at) if finished_at else None,
            counts=counts,
            pid=pid,
            host=host,
        )


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(strip_secrets(value), sort_keys=True, separators=(",", ":"))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
