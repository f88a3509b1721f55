"""The fleet commands without an API: plan from a snapshot, usage errors and history."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from planner.cli import main
from planner.fleet import Journal, NewEntry, load_plan

from fleet_fixtures import make_connector

FLEET = """
horizon_days = 90
[[policy]]
name = "weekend"
match = { notes = "branch-000*" }
days = ["Saturday", "Sunday"]
hour = 2
duration = 4
"""


def write_inputs(tmp_path: Path, *, envelope: bool = False) -> tuple[Path, Path]:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET)
    connectors = [make_connector(number) for number in (1, 2, 12)]
    snapshot = tmp_path / "snapshot.json"
    data = {"success": True, "errors": [], "messages": [], "result": connectors} if envelope else connectors
    snapshot.write_text(json.dumps(data))
    return fleet, snapshot


def test_plan_table_from_snapshot(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot)])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Plan from {fleet} at ")
    assert "branch-0001 (conn-0001)  weekend" in result.stdout
    assert "  branch-0012 (conn-0012)" in result.stdout
    assert result.stdout.rstrip().endswith("2 selected: 2 to change, 0 already as desired; 1 left alone.")
    assert "LICENSE-SECRET" not in result.output


def test_plan_formats(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path, envelope=True)
    runner = CliRunner()

    as_json = runner.invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--json"])
    as_csv = runner.invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--csv"])
    as_markdown = runner.invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--markdown"])

    assert as_json.exit_code == 0
    data = json.loads(as_json.stdout)
    assert [item["id"] for item in data["connectors"]] == ["conn-0001", "conn-0002"]
    assert data["content_hash"].startswith("sha256:")
    assert as_csv.exit_code == 0
    assert [row["id"] for row in csv.DictReader(io.StringIO(as_csv.stdout))] == ["conn-0001", "conn-0002"]
    assert as_markdown.exit_code == 0
    assert as_markdown.stdout.startswith("# Change record: connector interrupt windows")


def test_plan_out_saves_loadable_plan(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    out = tmp_path / "plan.json"

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--out", str(out)])

    plan = load_plan(out)
    assert result.exit_code == 0
    assert f"Saved the plan to {out} ({plan.content_hash})." in result.stderr
    assert [item.connector_id for item in plan.connectors] == ["conn-0001", "conn-0002"]
    assert "license_key" not in out.read_text()


def test_plan_usage_errors(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    bad_snapshot = tmp_path / "bad.json"
    bad_snapshot.write_text('{"result": [{"notes": "no id"}]}')
    runner = CliRunner()

    missing = runner.invoke(main, ["plan", str(tmp_path / "nope.toml"), "--snapshot", str(snapshot)])
    malformed = runner.invoke(main, ["plan", str(fleet), "--snapshot", str(bad_snapshot)])

    assert missing.exit_code == 2
    assert f"Error: cannot read fleet file '{tmp_path / 'nope.toml'}': No such file or directory" in missing.stderr
    assert malformed.exit_code == 2
    assert "is not a list of connector objects with an 'id'" in malformed.stderr


def test_plan_embargo_limit_is_usage_error(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    fleet.write_text('horizon_days = 400\n[[policy]]\nmatch = { all = true }\nembargo = ["2040-01-01..2040-05-29"]\n')

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot)])

    assert result.exit_code == 2
    assert "connector branch-0001 (conn-0001): 150 embargo dates, but the connectors API accepts at most 100" in result.stderr
    assert "Shorten horizon_days (now 400)" in result.stderr
    assert "Traceback" not in result.output


def test_apply_needs_plan_or_resume(tmp_path: Path) -> None:
    runner = CliRunner()

    neither = runner.invoke(main, ["apply", "--journal", str(tmp_path / "j.sqlite3")])
    both = runner.invoke(main, ["apply", "plan.json", "--resume", "x", "--journal", str(tmp_path / "j.sqlite3")])

    assert neither.exit_code == 2
    assert "Error: give either a plan or fleet file, or --resume RUN_ID" in neither.stderr
    assert both.exit_code == 2


def test_apply_edited_plan_rejected(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    out = tmp_path / "plan.json"
    CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--out", str(out)])
    out.write_text(out.read_text().replace('"interrupt_window_hour_of_day": 2', '"interrupt_window_hour_of_day": 5', 1))
    env = {"CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4", "CLOUDFLARE_ACCOUNT_ID": "acc", "CLOUDFLARE_API_TOKEN": "t"}

    result = CliRunner().invoke(main, ["apply", str(out), "--yes", "--journal", str(tmp_path / "j.sqlite3")], env=env)

    assert result.exit_code == 2
    assert "was changed after it was made" in result.stderr


def test_history_lists_runs_and_entries(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        run_id = journal.create_run(
            "apply",
            [NewEntry("conn-0001", "branch-0001 (conn-0001)", make_connector(1), {"interrupt_window_hour_of_day": 2})],
            source="plan.json",
        )
        journal.mark_in_flight(run_id, "conn-0001")
        journal.finish_entry(run_id, "conn-0001", "failed", error="HTTP 500 from the API")
        journal.finish_run(run_id)
    runner = CliRunner()

    listed = runner.invoke(main, ["history", "--journal", str(path)])
    shown = runner.invoke(main, ["history", run_id, "--journal", str(path)])
    as_json = runner.invoke(main, ["history", run_id, "--json", "--journal", str(path)])
    unknown = runner.invoke(main, ["history", "nope", "--journal", str(path)])
    no_journal = runner.invoke(main, ["history", "--journal", str(tmp_path / "none.sqlite3")])

    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].split() == ["RUN", "KIND", "STATUS", "STARTED", "FINISHED", "ENTRIES", "SOURCE"]
    assert run_id in listed.stdout
    assert "1 failed" in listed.stdout
    assert shown.exit_code == 0
    assert "branch-0001 (conn-0001)  failed  1" in shown.stdout
    assert "HTTP 500 from the API" in shown.stdout
    entries = json.loads(as_json.stdout)["entries"]
    assert entries[0]["status"] == "failed"
    assert entries[0]["attempts"] == 1
    assert "license_key" not in entries[0]["before"]
    assert unknown.exit_code == 2
    assert "no run 'nope'" in unknown.stderr
    assert no_journal.exit_code == 2
    assert f"journal '{tmp_path / 'none.sqlite3'}' does not exist; check the path given to --journal" in no_journal.stderr
    assert not (tmp_path / "none.sqlite3").exists()


def test_rollback_other_account_rejected(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        run_id = journal.create_run("apply", [], account_id="account-a")
    env = {"CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4", "CLOUDFLARE_ACCOUNT_ID": "account-b", "CLOUDFLARE_API_TOKEN": "t"}

    result = CliRunner().invoke(main, ["rollback", run_id, "--yes", "--journal", str(path)], env=env)

    assert result.exit_code == 2
    assert f"run {run_id} changed connectors of account account-a, not account-b" in result.stderr


def test_plan_ics_writes_calendar(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    calendar = tmp_path / "plan.ics"

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--ics", str(calendar), "--json"])

    assert result.exit_code == 0, result.output
    text = calendar.read_text()
    assert text.startswith("BEGIN:VCALENDAR")
    events = text.count("BEGIN:VEVENT")
    assert events > 0
    assert f"Wrote {events} windows to {calendar}." in result.stderr
    assert json.loads(result.stdout)["connectors"]


def test_plan_warns_policy_matching_nothing(tmp_path: Path) -> None:
    fleet, snapshot = write_inputs(tmp_path)
    fleet.write_text(FLEET + '[[policy]]\nname = "europe"\nmatch = { timezone = "Europa/*" }\nhour = 3\n')

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--markdown"])

    assert result.exit_code == 0, result.output
    assert "Warning: policy 'europe' matches no connectors; check its match table\n" in result.stderr
    assert "- fleet file: policy 'europe' matches no connectors; check its match table" in result.stdout


def test_resume_last_empty_journal_hint(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Journal(state / "planner" / "journal.sqlite3"):
        pass
    env = {"XDG_STATE_HOME": str(state), "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4",
           "CLOUDFLARE_ACCOUNT_ID": "acc", "CLOUDFLARE_API_TOKEN": "t"}

    result = CliRunner().invoke(main, ["apply", "--resume", "last", "--yes"], env=env)

    assert result.exit_code == 2
    assert "has no runs, so there is no last run; pass the --journal PATH that `planner apply` used" in result.stderr
