"""`planner ics` and `planner serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ical_fixtures import connector_object, open_occurrences, parse_with_ical, utc

from planner.cli import main
from planner.engine import WindowSpec, expand

SPEC = ["--timezone", "America/New_York", "--days", "Sun", "--hour", "2.5", "--duration", "2"]
RANGE = ["--from", "2026-03-01", "--until", "2026-04-01"]


def _run(*arguments: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["ics", *arguments])
    return result.exit_code, result.stdout_bytes.decode("utf-8"), result.stderr


def _snapshot(tmp_path: Path, connectors: list[dict[str, Any]]) -> Path:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps({"success": True, "errors": [], "messages": [], "result": connectors}))
    return path


def test_spec_to_stdout_matches_engine() -> None:
    code, out, err = _run(*SPEC, *RANGE)
    assert code == 0, err
    spec = WindowSpec.parse(timezone="America/New_York", days_of_week="Sun", hour_of_day=2.5, duration_hours=2)
    start, end = utc(2026, 3, 1, 5), utc(2026, 4, 1, 4)
    expected = [(window.start, window.end) for window in expand(spec, start, end)]
    assert open_occurrences(out, start, end) == expected
    assert "DTSTART;TZID=America/New_York:20260308T033000" in out


def test_output_byte_identical_across_runs(tmp_path: Path) -> None:
    first, second = tmp_path / "first.ics", tmp_path / "second.ics"
    for output in (first, second):
        code, out, err = _run(*SPEC, *RANGE, "--recurrence", "rrule", "--output", str(output))
        assert code == 0, err
        assert out == ""
        assert "Wrote 3 events to" in err
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().count(b"\r\n") == first.read_bytes().count(b"\n")


def test_rrule_gap_warning_on_stderr() -> None:
    code, out, err = _run(*SPEC, *RANGE, "--recurrence", "rrule")
    assert code == 0
    assert "Warning: connector spec-" in err
    assert "2026-03-08 02:30 does not exist in America/New_York" in err
    assert "RRULE:FREQ=WEEKLY;UNTIL=20260329T063000Z;BYDAY=SU" in out.replace("\r\n ", "")


def test_connector_file(tmp_path: Path) -> None:
    path = tmp_path / "connector.json"
    path.write_text(json.dumps({"success": True, "errors": [], "messages": [], "result": connector_object()}))
    code, out, err = _run("--connector", str(path), "--from", "2026-12-01", "--until", "2027-01-01", "--include-blocked")
    assert code == 0, err
    assert "X-WR-CALNAME:Interrupt windows: Berlin edge\\, rack 4" in out
    assert "STATUS:CANCELLED" in out
    assert "Blocked by embargo dates: 2026-12-26" in out.replace("\r\n ", "")


def test_snapshot_fleet(tmp_path: Path) -> None:
    snapshot = _snapshot(
        tmp_path,
        [
            connector_object(id="b", timezone="Asia/Kathmandu"),
            connector_object(id="a", timezone="Australia/Lord_Howe"),
        ],
    )
    code, out, err = _run("--snapshot", str(snapshot), "--from", "2026-10-01", "--until", "2026-11-01")
    assert code == 0, err
    calendar = parse_with_ical(out)
    assert [zone.tz_id for zone in calendar.timezones] == ["Asia/Kathmandu", "Australia/Lord_Howe"]
    uids = [event.uid for event in calendar.events]
    assert uids == sorted(uids, key=lambda uid: uid.split("-")[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--hour", "2"], "missing option --timezone"),
        (["--timezone", "Europe/Berln", "--hour", "2", "--duration", "4"], "did you mean 'Europe/Berlin'"),
        ([*SPEC, "--from", "2026-04-01", "--until", "2026-03-01"], "is not after --from"),
        ([*SPEC, "--from", "next week"], "--from: invalid date or date-time 'next week'"),
        (["--snapshot", "x.json", "--hour", "2"], "--hour cannot be combined with --snapshot"),
        (["--snapshot", "missing.json"], "cannot read snapshot 'missing.json'"),
        ([*SPEC, "--recurrence", "weekly"], "'weekly' is not one of 'expanded', 'rrule'"),
    ],
)
def test_bad_input_exits_2(arguments: list[str], message: str) -> None:
    code, out, err = _run(*arguments)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_invalid_connector_in_snapshot_exits_2(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path, [connector_object(id="broken", interrupt_window_duration_hours=30)])
    code, out, err = _run("--snapshot", str(snapshot), *RANGE)
    assert code == 2
    assert "connector 'broken': interrupt_window_duration_hours: 30 is out of range" in err
    assert out == ""


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    output = tmp_path / "out.ics"
    snapshot = _snapshot(tmp_path, [connector_object(timezone="Nowhere/Town")])
    code, _, _ = _run("--snapshot", str(snapshot), *RANGE, "--output", str(output))
    assert code == 2
    assert list(tmp_path.iterdir()) == [snapshot]


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`planner serve` in its own process: it binds, serves the snapshot and exits on SIGTERM."""
    snapshot = _snapshot(tmp_path, [connector_object(id="one")])
    token_file = tmp_path / "token"
    token_file.write_text("t0ken\n")
    process = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve", "--snapshot", str(snapshot),
         "--port", "0", "--token-file", str(token_file)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        url = None
        for _ in range(20):
            line = process.stderr.readline()
            found = re.search(r"Serving calendars on (http://\S+)/", line)
            if found:
                url = found.group(1)
                break
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/calendars/connectors/one.ics?token=t0ken", timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/calendars/fleet.ics", timeout=10)
        assert refused.value.code == 403
        refused.value.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "t0ken" not in rest


def test_serve_bad_snapshot_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{}")
    result = CliRunner().invoke(main, ["serve", "--snapshot", str(path), "--port", "0"])
    assert result.exit_code == 2
    assert "without 'result'" in result.stderr
