"""Ctrl-C and SIGTERM during `planner apply`: one message, exit 130 or 143, and a journal marked interrupted."""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planner.cloudflare.emulator import Emulator, Faults
from planner.cloudflare.seed import generate_connectors
from planner.fleet import Journal, make_plan, parse_fleet_file, save_plan

from fleet_emulator import FLEET_TEXT, cli_env
from fleet_fixtures import NOW

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


def planner_command(*arguments: str) -> list[str]:
    return [sys.executable, "-c", "from planner.cli import main; main()", *arguments]


def write_plan(tmp_path: Path, seeds: list[dict[str, object]]) -> Path:
    path = tmp_path / "plan.json"
    save_plan(make_plan(parse_fleet_file(FLEET_TEXT), seeds, NOW), path)
    return path


def wait_for_requests(server: Emulator, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 20
    while len(server.request_log()) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """Read the process's stderr until `text` appears or 20 seconds pass, and return what was read."""
    assert process.stderr is not None
    descriptor = process.stderr.fileno()
    received = b""
    deadline = time.monotonic() + 20
    while text.encode() not in received and time.monotonic() < deadline:
        ready, _, _ = select.select([descriptor], [], [], 0.1)
        if ready:
            chunk = os.read(descriptor, 4096)
            if not chunk:
                break
            received += chunk
    return received.decode()


@pytest.mark.parametrize(("signal_number", "exit_status", "message"), [
    (signal.SIGINT, 130, "Interrupted"),
    (signal.SIGTERM, 143, "Terminated"),
])
def test_signal_marks_run_interrupted(tmp_path: Path, signal_number: int, exit_status: int, message: str) -> None:
    seeds = generate_connectors(16, seed=21)
    plan_path = write_plan(tmp_path, seeds)
    journal_path = tmp_path / "my journal.sqlite3"
    with Emulator(seeds, faults=Faults(latency=0.05)) as server:
        env = {**os.environ, **cli_env(server), "PYTHONWARNINGS": "error"}
        common = ["--yes", "--journal", str(journal_path), "--max-concurrency", "1"]
        process = subprocess.Popen(planner_command("apply", str(plan_path), *common), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_requests(server, process, 4)
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=20)

        with Journal(journal_path) as journal:
            (run,) = journal.runs()
        hint = stderr.strip().splitlines()[-1]
        # The printed command must work as printed, --journal included.
        printed = shlex.split(hint.split("`planner ", 1)[1].split("`")[0])
        finish = subprocess.run(planner_command(*printed), env=env, capture_output=True, text=True, timeout=60,
                                input="y\n")

    assert process.returncode == exit_status, stderr
    assert stderr.count(message) == 1, stderr
    assert hint == (f"{message}: run {run.run_id} is marked interrupted; finish it with "
                    f"`planner apply --resume {run.run_id} --journal '{journal_path}'`.")
    assert "Traceback" not in stderr
    assert "Sending " in stderr
    assert run.status == "interrupted"
    assert finish.returncode == 0, finish.stderr
    assert f"Run {run.run_id} completed:" in finish.stdout


def test_ctrl_c_at_confirmation_exits_130(tmp_path: Path) -> None:
    seeds = generate_connectors(4, seed=21)
    plan_path = write_plan(tmp_path, seeds)
    with Emulator(seeds) as server:
        env = {**os.environ, **cli_env(server), "PYTHONWARNINGS": "error"}
        process = subprocess.Popen(planner_command("apply", str(plan_path), "--journal", str(tmp_path / "j.sqlite3")),
                                   env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        prompt = read_until(process, "[y/N]: ")
        process.send_signal(signal.SIGINT)
        stdout, rest = process.communicate(timeout=20)
        stderr = prompt + rest
        methods = {record.method for record in server.request_log()}

    assert process.returncode == 130, stderr
    assert "PATCH request(s)? [y/N]: " in stderr
    assert stderr.rstrip().endswith("Interrupted.")
    assert stderr.count("Interrupted") == 1
    assert "Traceback" not in stderr
    assert "Aborted" not in stderr
    assert methods == {"GET"}
    assert stdout == ""


def test_history_flags_sigkilled_run(tmp_path: Path) -> None:
    seeds = generate_connectors(8, seed=21)
    plan_path = write_plan(tmp_path, seeds)
    journal_path = tmp_path / "j.sqlite3"
    with Emulator(seeds, faults=Faults(latency=0.05)) as server:
        env = {**os.environ, **cli_env(server), "PYTHONWARNINGS": "error"}
        process = subprocess.Popen(
            planner_command("apply", str(plan_path), "--yes", "--journal", str(journal_path), "--max-concurrency", "1"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )
        wait_for_requests(server, process, 3)
        process.kill()
        process.wait(timeout=20)

    listed = subprocess.run(planner_command("history", "--journal", str(journal_path)), env=env,
                            capture_output=True, text=True, timeout=60)

    assert listed.returncode == 0, listed.stderr
    assert f"running, but process {process.pid} is gone" in listed.stdout
