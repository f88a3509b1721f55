"""The README's walkthrough and samples/walkthrough.sh, run for real against the emulator."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, Emulator

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Commands that serve until interrupted; the walkthrough test starts the emulator itself.
LONG_RUNNING = ("planner emulator", "planner serve")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _shell_lines(section: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _environment() -> dict[str, str]:
    # The venv's scripts come first, so `planner` is the one under test.
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_readme_walkthrough_commands(tmp_path: Path) -> None:
    """Every command of the README's walkthrough runs as written against the emulator."""
    lines = _shell_lines(_section("Walkthrough"))
    commands = [line for line in lines if not line.startswith(LONG_RUNNING) and not line.startswith(".venv/")]
    assert any(line.startswith("planner rollback") for line in commands)
    (tmp_path / "samples").symlink_to(ROOT / "samples")

    connectors = json.loads((ROOT / "samples" / "connectors.json").read_text(encoding="utf-8"))["result"]
    with Emulator(connectors, account_id=DEFAULT_ACCOUNT_ID, token=DEFAULT_TOKEN) as server:
        # The README's exports name port 8787; the test's emulator listens wherever it could.
        script = "set -euo pipefail\n" + "\n".join(commands).replace("127.0.0.1:8787", server.base_url.split("//")[1].split("/")[0])
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=_environment(), capture_output=True, text=True, timeout=300
        )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "fleet.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    assert (tmp_path / "plan.md").read_text(encoding="utf-8").startswith("# Change record")
    # The apply and the rollback each report a completed run of the 60 connectors.
    assert result.stdout.count("completed: 60 done.") == 2
    assert DEFAULT_TOKEN not in result.stdout + result.stderr


def test_walkthrough_script(tmp_path: Path) -> None:
    """samples/walkthrough.sh, the first set-up command's main job, runs to the end."""
    environment = {**_environment(), "PLANNER_DEMO_PORT": str(_free_port()), "PLANNER_DEMO_OUT": str(tmp_path)}

    result = subprocess.run(
        ["bash", str(ROOT / "samples" / "walkthrough.sh")], env=environment, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for name in ("fleet.ics", "plan.json", "plan.md", "plan.ics", "journal.sqlite3"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "rollback of" in result.stdout


@pytest.mark.parametrize("title", ["Set up on a fresh machine"])
def test_setup_commands_name_the_scripts(title: str) -> None:
    """The set-up's two commands run the walkthrough script and the tests."""
    lines = _shell_lines(_section(title))

    assert len(lines) == 2
    assert lines[0].endswith("bash samples/walkthrough.sh")
    assert lines[1].endswith(".venv/bin/python -m pytest -q")


def test_readme_library_example() -> None:
    """The README's Python example runs and prints the three March windows."""
    (code,) = re.findall(r"```python\n(.*?)```", _section("Library"), re.S)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "2026-03-08 2026-03-08 03:00:00-04:00 2026-03-08 11:00:00+00:00"
