"""The SQLite journal: durability settings, secrets, runs and entries."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from planner.fleet import (
    Journal,
    JournalError,
    NewEntry,
    RunNotFoundError,
    default_journal_path,
    run_process_gone,
)

from fleet_fixtures import make_connector


def new_entries(count: int) -> list[NewEntry]:
    return [
        NewEntry(f"conn-{number:04d}", f"branch-{number:04d}", make_connector(number), {"interrupt_window_hour_of_day": 2})
        for number in range(count)
    ]


def test_wal_and_full_sync(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = journal._db.execute("PRAGMA synchronous").fetchone()[0]

    assert mode == "wal"
    assert synchronous == 2  # FULL


def test_file_private_to_user(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.sqlite3"

    Journal(path).close()

    assert path.stat().st_mode & 0o777 == 0o600


def test_before_state_stored_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        run_id = journal.create_run("apply", new_entries(3))
        journal.finish_entry(run_id, "conn-0001", "done", after={**make_connector(1), "interrupt_window_hour_of_day": 2})

    raw = b"".join(file.read_bytes() for file in tmp_path.iterdir())
    with Journal(path) as journal:
        entries = journal.entries(run_id)

    assert b"LICENSE-SECRET" not in raw
    assert b"license_key" not in raw
    assert entries[0].before["interrupt_window_hour_of_day"] == 14
    assert "license_key" not in entries[0].before
    assert entries[1].after is not None
    assert entries[1].after["interrupt_window_hour_of_day"] == 2


def test_before_state_committed_at_creation(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    run_id = journal.create_run("apply", new_entries(2))

    # A second connection sees the committed rows while the first is still open.
    other = sqlite3.connect(path)
    rows = other.execute("SELECT connector_id, status FROM entries WHERE run_id = ? ORDER BY position", (run_id,)).fetchall()
    other.close()
    journal.close()

    assert rows == [("conn-0000", "pending"), ("conn-0001", "pending")]


def test_entry_lifecycle_and_counts(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        run_id = journal.create_run("apply", new_entries(3), source="plan.json", plan_hash="sha256:abc", account_id="acc")
        journal.mark_in_flight(run_id, "conn-0000")
        journal.mark_in_flight(run_id, "conn-0001")
        journal.finish_entry(run_id, "conn-0001", "failed", error="HTTP 500")
        journal.mark_in_flight(run_id, "conn-0001")
        journal.finish_entry(run_id, "conn-0001", "done", after={"interrupt_window_hour_of_day": 2})
        running = journal.run(run_id)
        journal.finish_entry(run_id, "conn-0000", "done", after={})
        journal.finish_entry(run_id, "conn-0002", "conflict", error="changed")
        finished = journal.finish_run(run_id)
        entries = journal.entries(run_id)

    assert running.status == "running"
    assert running.counts == {"done": 1, "in_flight": 1, "pending": 1}
    assert finished.status == "failed"
    assert finished.finished_at is not None
    assert finished.counts == {"conflict": 1, "done": 2}
    assert finished.source == "plan.json"
    assert finished.plan_hash == "sha256:abc"
    assert entries[1].attempts == 2
    assert entries[1].error is None
    assert entries[2].error == "changed"


def test_runs_newest_first(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        first = journal.create_run("apply", new_entries(1))
        journal.finish_entry(first, "conn-0000", "done")
        journal.finish_run(first)
        second = journal.create_run("rollback", new_entries(1), parent_run_id=first)
        runs = journal.runs()

    assert [run.run_id for run in runs] == [second, first]
    assert runs[0].parent_run_id == first
    assert runs[1].status == "completed"


def test_unknown_run(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal, pytest.raises(RunNotFoundError, match="no run 'nope'"):
        journal.entries("nope")


def test_unusable_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(tmp_path / "file" / "journal.sqlite3")


def test_default_path_under_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    assert default_journal_path() == tmp_path / "planner" / "journal.sqlite3"


def test_version_1_journal_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        run_id = journal.create_run("apply", new_entries(1))
    # Rebuild the version 1 layout, which had no pid or host columns.
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE runs DROP COLUMN pid")
    old.execute("ALTER TABLE runs DROP COLUMN host")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()

    with Journal(path) as journal:
        kept = journal.run(run_id)
        journal.reopen_run(run_id)
        reopened = journal.run(run_id)
        version = journal._db.execute("PRAGMA user_version").fetchone()[0]

    assert version == 2
    assert kept.pid is None
    assert not run_process_gone(kept)
    assert reopened.pid == os.getpid()


def test_run_process_gone_after_exit(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        run_id = journal.create_run("apply", new_entries(1))
        alive = journal.run(run_id)
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = dataclasses.replace(alive, pid=int(exited.stdout))

    assert alive.pid == os.getpid()
    assert not run_process_gone(alive)
    assert run_process_gone(gone) == (os.name == "posix")
    assert not run_process_gone(dataclasses.replace(gone, host="another-host"))
    assert not run_process_gone(dataclasses.replace(gone, status="interrupted"))
