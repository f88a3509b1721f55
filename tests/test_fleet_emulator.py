"""Fleet rollouts against the API emulator over real sockets: round trips, faults and conflicts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from planner.cli import main
from planner.cloudflare import RateLimit
from planner.cloudflare.emulator import Emulator, Faults
from planner.cloudflare.seed import generate_connectors
from planner.fleet import (
    Journal,
    Plan,
    RunResult,
    differing_fields,
    execute,
    make_plan,
    parse_fleet_file,
    prepare_apply,
    prepare_rollback,
    strip_secrets,
    window_fields,
)
from planner.fleet import ClientConnectorsAPI

from fleet_emulator import FLEET_TEXT, cli_env, comparable, run_with_api
from fleet_fixtures import NOW


def apply_fleet(server: Emulator, journal: Journal, **overrides: Any) -> tuple[Plan, RunResult]:
    async def scenario(api: ClientConnectorsAPI) -> tuple[Plan, RunResult]:
        plan = make_plan(parse_fleet_file(FLEET_TEXT), await api.list_connectors(), NOW)
        result = await execute(await prepare_apply(plan, api), api, journal, concurrency=api.max_concurrency)
        return plan, result

    return run_with_api(server, scenario, **overrides)


def assert_at_desired(server: Emulator, plan: Plan) -> None:
    for item in plan.connectors:
        stored = server.connector(item.connector_id)
        assert stored is not None
        assert differing_fields(window_fields(stored), item.desired) == (), item.label


def assert_before_states_kept(journal: Journal, run_id: str, original: list[dict[str, Any]]) -> None:
    by_id = {connector["id"]: strip_secrets(connector) for connector in original}
    entries = journal.entries(run_id)
    assert {entry.connector_id for entry in entries} == set(by_id)
    for entry in entries:
        assert dict(entry.before) == by_id[entry.connector_id], entry.label


def test_apply_then_rollback_restores_every_field(tmp_path: Path) -> None:
    seeds = generate_connectors(40, seed=3)
    with Emulator(seeds) as server, Journal(tmp_path / "journal.sqlite3") as journal:
        original = server.dump_state()
        plan, applied = apply_fleet(server, journal)
        assert_at_desired(server, plan)

        async def roll_back(api: ClientConnectorsAPI) -> RunResult:
            return await execute(await prepare_rollback(journal, applied.run.run_id, api), api, journal)

        rolled = run_with_api(server, roll_back)
        final = server.dump_state()
        methods = {record.method for record in server.request_log()}
        bodies = [record.body for record in server.request_log() if record.method == "PATCH"]

    assert applied.succeeded
    assert applied.run.counts.get("done", 0) == len(plan.changed) > 30
    assert any(item.shifted_from_hour is not None for item in plan.connectors)
    assert rolled.succeeded
    assert rolled.run.parent_run_id == applied.run.run_id
    assert comparable(final) == comparable(original)
    assert methods == {"GET", "PATCH"}
    assert all("provision_license" not in body for body in bodies)


def test_faults_leave_every_connector_at_desired_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    seeds = generate_connectors(60, seed=5)
    # Stalls outlast the client's read timeout but end before the emulator stops.
    faults = Faults(server_error_rate=0.15, reset_before_rate=0.05, reset_after_rate=0.05, stall_rate=0.03, stall_seconds=0.5)
    caplog.set_level(logging.WARNING, logger="planner.cloudflare")
    with Emulator(seeds, faults=faults, seed=11) as server, Journal(tmp_path / "journal.sqlite3") as journal:
        original = server.dump_state()
        plan, result = apply_fleet(server, journal, read_timeout=0.3)
        log = server.request_log()

        assert_at_desired(server, plan)
        assert_before_states_kept(journal, result.run.run_id, original)

    assert result.succeeded, result.run.counts
    kinds = {record.fault for record in log}
    assert {"error_500", "reset_before", "reset_after"} <= kinds
    assert any("ReadTimeout" in record.getMessage() for record in caplog.records)


def test_429_storm_under_small_quota(tmp_path: Path) -> None:
    seeds = generate_connectors(30, seed=8)
    # The client believes Cloudflare's full quota, but the emulator allows 10 requests a second.
    with Emulator(seeds, quota=10, quota_window=1.0) as server, Journal(tmp_path / "journal.sqlite3") as journal:
        original = server.dump_state()
        plan, result = apply_fleet(server, journal, rate_limit=RateLimit(), max_concurrency=16)
        statuses = [record.status for record in server.request_log()]

        assert_at_desired(server, plan)
        assert_before_states_kept(journal, result.run.run_id, original)

    # The client slows down once the Ratelimit header shows the quota spent. How many requests meet
    # a 429 before that depends on timing, but at least one always does.
    assert result.succeeded
    assert statuses.count(429) >= 1


def write_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET_TEXT)
    return path


def test_cli_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    plan_path = tmp_path / "plan.json"
    journal = tmp_path / "journal.sqlite3"
    with Emulator(generate_connectors(12, seed=4)) as server:
        original = server.dump_state()
        env = cli_env(server)

        planned = runner.invoke(main, ["plan", str(fleet), "--out", str(plan_path)], env=env)
        applied = runner.invoke(main, ["apply", str(plan_path), "--yes", "--journal", str(journal)], env=env)
        listed = runner.invoke(main, ["history", "--json", "--journal", str(journal)])
        run_id = json.loads(listed.stdout)[0]["run_id"]
        shown = runner.invoke(main, ["history", run_id, "--journal", str(journal)])
        rolled = runner.invoke(main, ["rollback", run_id, "--yes", "--journal", str(journal)], env=env)
        final = server.dump_state()

    assert planned.exit_code == 0, planned.output
    assert "CONNECTOR" in planned.stdout
    assert applied.exit_code == 0, applied.output
    assert f"Run {run_id} completed:" in applied.stdout
    assert shown.exit_code == 0
    assert shown.stdout.count(" done ") >= 1
    assert rolled.exit_code == 0, rolled.output
    assert comparable(final) == comparable(original)
    assert "CF-LK" not in planned.output + applied.output + listed.output + shown.output + rolled.output


def test_cli_conflict_when_edited_after_plan(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    plan_path = tmp_path / "plan.json"
    with Emulator(generate_connectors(6, seed=4)) as server:
        env = cli_env(server)
        assert runner.invoke(main, ["plan", str(fleet), "--out", str(plan_path)], env=env).exit_code == 0
        edited = json.loads(plan_path.read_text())["connectors"][2]
        run_with_api(server, lambda api: api.edit_window(edited["id"], {"interrupt_window_hour_of_day": 13}))

        applied = runner.invoke(main, ["apply", str(plan_path), "--yes", "--journal", str(tmp_path / "j.sqlite3")], env=env)
        kept = server.connector(edited["id"])

    assert applied.exit_code == 1
    assert f"Skipping {edited['label']}: changed since the plan was made (interrupt_window_hour_of_day)" in applied.stderr
    assert "1 conflict" in applied.stdout
    assert kept is not None
    assert kept["interrupt_window_hour_of_day"] == 13


def test_cli_dry_run_and_declined_confirmation_send_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    journal = str(tmp_path / "j.sqlite3")
    with Emulator(generate_connectors(6, seed=4)) as server:
        env = cli_env(server)
        dry = runner.invoke(main, ["apply", str(fleet), "--dry-run", "--journal", journal], env=env)
        dry_journal_exists = Path(journal).exists()
        declined = runner.invoke(main, ["apply", str(fleet), "--journal", journal], env=env, input="n\n")
        methods = {record.method for record in server.request_log()}

    assert dry.exit_code == 0, dry.output
    bodies = [json.loads(line) for line in dry.stdout.splitlines()]
    assert len(bodies) == 6
    assert all(body["method"] == "PATCH" for body in bodies)
    assert "Dry run, nothing sent: 6 to change" in dry.stderr
    assert declined.exit_code == 1
    assert "Send 6 PATCH request(s)? [y/N]" in declined.stderr
    assert declined.stderr.rstrip().endswith("Aborted!")
    assert methods == {"GET"}
    assert not dry_journal_exists


def test_cli_fleet_file_errors_with_locations(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[[policy]]\nmatch = { notes = 3 }\nhour = 25\n[stagger]\nstart_hours = "late"\n')
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text("[]")

    result = CliRunner().invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot)])

    assert result.exit_code == 2
    assert f"Error: fleet file '{fleet}' has 3 problems:" in result.stderr
    assert "[[policy]] #1, key 'match.notes': expected a non-empty string, got 3" in result.stderr
    assert "[[policy]] #1, key 'hour': 25 is out of range" in result.stderr
    assert "[stagger], key 'start_hours': expected a band of start hours" in result.stderr
    assert "Traceback" not in result.output


def test_cli_rollback_last_twice_rejected(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    journal = str(tmp_path / "j.sqlite3")
    with Emulator(generate_connectors(6, seed=4)) as server:
        env = cli_env(server)
        applied = runner.invoke(main, ["apply", str(fleet), "--yes", "--journal", journal], env=env)
        first = runner.invoke(main, ["rollback", "last", "--yes", "--journal", journal], env=env)
        patches = sum(record.method == "PATCH" for record in server.request_log())
        second = runner.invoke(main, ["rollback", "last", "--yes", "--journal", journal], env=env)
        patches_after = sum(record.method == "PATCH" for record in server.request_log())
    runs = json.loads(runner.invoke(main, ["history", "--json", "--journal", journal]).stdout)
    rollback_id, apply_id = runs[0]["run_id"], runs[1]["run_id"]

    assert applied.exit_code == 0, applied.output
    assert first.exit_code == 0, first.output
    assert f"Rolling back run {apply_id} (apply, from {fleet}, completed, finished " in first.stderr
    assert second.exit_code == 2
    assert (f"Error: the newest run {rollback_id} is a rollback of {apply_id}; give its id, {rollback_id}, "
            "to undo the rollback itself") in second.stderr
    assert patches_after == patches
    assert len(runs) == 2


def test_cli_hints_repeat_journal_and_force_resume(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    plan_path = tmp_path / "plan.json"
    journal = tmp_path / "my journal.sqlite3"
    with Emulator(generate_connectors(6, seed=4)) as server:
        env = cli_env(server)
        assert runner.invoke(main, ["plan", str(fleet), "--out", str(plan_path)], env=env).exit_code == 0
        edited = json.loads(plan_path.read_text())["connectors"][2]
        run_with_api(server, lambda api: api.edit_window(edited["id"], {"interrupt_window_hour_of_day": 13}))

        applied = runner.invoke(main, ["apply", str(plan_path), "--yes", "--journal", str(journal)], env=env)
        plain = runner.invoke(main, ["apply", "--resume", "last", "--yes", "--journal", str(journal)], env=env)
        forced = runner.invoke(main, ["apply", "--resume", "last", "--yes", "--force", "--journal", str(journal)], env=env)
        overwritten = server.connector(edited["id"])

    run_id = json.loads(runner.invoke(main, ["history", "--json", "--journal", str(journal)]).stdout)[0]["run_id"]
    quoted = f"'{journal}'"
    assert applied.exit_code == 1
    assert f"`planner apply --resume {run_id} --force --journal {quoted}`" in applied.stderr
    assert f"`planner rollback {run_id} --journal {quoted}`" in applied.stderr
    assert "Retry the failed connectors" not in applied.stderr
    assert plain.exit_code == 1
    assert "1 conflict" in plain.stdout
    assert forced.exit_code == 0, forced.output
    assert f"Run {run_id} completed:" in forced.stdout
    assert overwritten is not None
    assert overwritten["interrupt_window_hour_of_day"] == edited["desired"]["interrupt_window_hour_of_day"]


def test_cli_missing_default_journal_not_created(tmp_path: Path) -> None:
    runner = CliRunner()
    state = tmp_path / "state"
    with Emulator(generate_connectors(2, seed=4)) as server:
        env = {**cli_env(server), "XDG_STATE_HOME": str(state)}
        resumed = runner.invoke(main, ["apply", "--resume", "last", "--yes"], env=env)
        rolled = runner.invoke(main, ["rollback", "last", "--yes"], env=env)
        listed = runner.invoke(main, ["history"], env=env)

    for result in (resumed, rolled, listed):
        assert result.exit_code == 2
        assert "does not exist; pass the --journal PATH that `planner apply` used" in result.stderr
    assert not state.exists()


def test_cli_no_retry_hint_for_deleted(tmp_path: Path) -> None:
    runner = CliRunner()
    fleet = write_fleet(tmp_path)
    plan_path = tmp_path / "plan.json"
    seeds = generate_connectors(4, seed=4)
    snapshot = tmp_path / "snapshot.json"
    # The snapshot still lists a connector that the account no longer has.
    snapshot.write_text(json.dumps([*seeds, {**seeds[0], "id": "deleted-connector", "site_id": "gone"}]))
    with Emulator(seeds) as server:
        env = cli_env(server)
        assert runner.invoke(main, ["plan", str(fleet), "--snapshot", str(snapshot), "--out", str(plan_path)]).exit_code == 0
        applied = runner.invoke(main, ["apply", str(plan_path), "--yes", "--journal", str(tmp_path / "j.sqlite3")], env=env)

    assert applied.exit_code == 1
    assert "deleted-connector" in applied.stderr
    assert "not found in the account" in applied.stderr
    assert "Retry the failed connectors" not in applied.stderr
    assert "Undo the run with `planner rollback " in applied.stderr
