"""Crash safety: SIGKILL `planner apply` at 20 points, resume, and check the connectors and the journal."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.cloudflare.emulator import Emulator, Faults
from planner.cloudflare.seed import generate_connectors
from planner.fleet import (
    Journal,
    differing_fields,
    load_plan,
    make_plan,
    parse_fleet_file,
    save_plan,
    strip_secrets,
    window_fields,
)

from fleet_emulator import FLEET_TEXT, cli_env
from fleet_fixtures import NOW

CONNECTORS = 24
KILL_POINTS = 20

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def planner_command(*arguments: str) -> list[str]:
    return [sys.executable, "-c", "from planner.cli import main; main()", *arguments]


def kill_after_requests(command: list[str], env: dict[str, str], server: Emulator, count: int) -> None:
    """Start `command` and SIGKILL it once the emulator has logged `count` requests, or when it exits."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while process.poll() is None and time.monotonic() < deadline:
        if len(server.request_log()) >= count:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    process.wait(timeout=20)


def test_sigkill_at_20_points_then_resume(tmp_path: Path) -> None:
    seeds = generate_connectors(CONNECTORS, seed=21)
    plan = make_plan(parse_fleet_file(FLEET_TEXT), seeds, NOW)
    plan_path = tmp_path / "plan.json"
    save_plan(plan, plan_path)
    changed = len(load_plan(plan_path).changed)
    # One GET for the list, then one PATCH per changed connector: spread the kills over all of them.
    points = [1 + point * changed // KILL_POINTS for point in range(KILL_POINTS)]
    assert len(set(points)) == KILL_POINTS

    done_at_kill: list[int] = []
    unfinished = 0
    for point in points:
        journal_path = tmp_path / f"journal-{point}.sqlite3"
        with Emulator(seeds, faults=Faults(latency=0.01)) as server:
            env = {**os.environ, **cli_env(server), "PYTHONWARNINGS": "error"}
            common = ["--yes", "--journal", str(journal_path), "--max-concurrency", "2"]
            kill_after_requests(planner_command("apply", str(plan_path), *common), env, server, point)

            with Journal(journal_path) as journal:
                runs = journal.runs()
                if runs:
                    done_at_kill.append(sum(1 for entry in journal.entries(runs[0].run_id) if entry.status == "done"))
                    unfinished += runs[0].status == "running"
            if runs:
                finish = planner_command("apply", "--resume", runs[0].run_id, *common)
            else:
                finish = planner_command("apply", str(plan_path), *common)
            completed = subprocess.run(finish, env=env, capture_output=True, text=True, timeout=60)
            assert completed.returncode == 0, (point, completed.stderr)

            for item in plan.connectors:
                stored = server.connector(item.connector_id)
                assert stored is not None
                assert differing_fields(window_fields(stored), item.desired) == (), (point, item.label)

        with Journal(journal_path) as journal:
            (run,) = journal.runs()
            entries = journal.entries(run.run_id)
        assert run.status == "completed", (point, run.counts)
        assert {entry.status for entry in entries} <= {"done", "unchanged"}, point
        by_id = {seed["id"]: strip_secrets(seed) for seed in seeds}
        for entry in entries:
            assert dict(entry.before) == by_id[entry.connector_id], (point, entry.label)
        check = sqlite3.connect(journal_path)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        check.close()

    # The kills landed inside the run at many different stages, not before or after it.
    assert unfinished >= KILL_POINTS - 2
    assert len(set(done_at_kill)) >= KILL_POINTS // 2
