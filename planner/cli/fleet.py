"""`planner plan`, `apply`, `rollback` and `history`: fleet rollouts from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import click

from planner._files import write_atomically
from planner.cli._common import EXIT_FAILURE, echo_json, fail_usage, read_json_file
from planner.cli.api import client_options
from planner.cloudflare import ClientOptions, CloudflareError, ConfigError, async_client_from_options
from planner.fleet import (
    FleetError,
    FleetFileError,
    Journal,
    JournalError,
    Plan,
    PlanError,
    RemoteError,
    Rollout,
    RunResult,
    default_journal_path,
    execute,
    load_fleet_file,
    load_plan,
    make_plan,
    prepare_apply,
    prepare_resume,
    prepare_rollback,
    save_plan,
)
from planner.fleet._calendar import plan_calendar
from planner.fleet._client import ClientConnectorsAPI
from planner.fleet._report import plan_csv, plan_markdown, plan_table

journal_option = click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="SQLite journal of rollout runs [default: journal.sqlite3 in the user's state directory].",
)



def _resolve(journal: Journal, run_id: str) -> str:
    try:
        return journal.resolve_run_id(run_id)
    except JournalError as error:
        fail_usage([str(error)])

@click.command()
@click.argument("fleet_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--snapshot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Read the connectors from this JSON file (the API's list response, or its list of "
              "connector objects) instead of the API.")
@click.option("--json", "output_format", flag_value="json", help="Print the plan as JSON.")
@click.option("--markdown", "output_format", flag_value="markdown",
              help="Print the plan as a Markdown change record for a change-advisory board.")
@click.option("--csv", "output_format", flag_value="csv", help="Print one CSV row per connector.")
@click.option("--ics", "ics_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the desired windows over the horizon to FILE as iCalendar.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN.json",
              help="Save the plan (before-states, desired windows, tzdata version, content hash) for `planner apply`.")
@client_options
def plan(
    fleet_file: Path,
    snapshot: Path | None,
    output_format: str | None,
    ics_path: Path | None,
    out_path: Path | None,
    api_options: ClientOptions,
) -> None:
    """Compute the desired window of every connector FLEET_FILE selects, and show the changes."""
    fleet = _load_fleet(fleet_file)
    if snapshot is not None:
        connectors = _read_snapshot(snapshot)
    else:
        connectors = _run(_list_live(api_options))

    planned = _make_plan(fleet, connectors)
    if out_path is not None:
        try:
            save_plan(planned, out_path)
        except OSError as error:
            fail_usage([f"cannot write plan {str(out_path)!r}: {error.strerror}"])
        click.echo(f"Saved the plan to {out_path} ({planned.content_hash}).", err=True)
    if ics_path is not None:
        export = plan_calendar(planned)
        try:
            write_atomically(ics_path, export.text.encode("utf-8"))
        except OSError as error:
            fail_usage([f"cannot write calendar {str(ics_path)!r}: {error.strerror}"])
        for warning in export.warnings:
            click.echo(f"Warning: {warning}", err=True)
        click.echo(f"Wrote {export.event_count} windows to {ics_path}.", err=True)

    if output_format == "json":
        echo_json(planned.to_json())
    elif output_format == "markdown":
        click.echo(plan_markdown(planned), nl=False)
    elif output_format == "csv":
        click.echo(plan_csv(planned), nl=False)
    else:
        click.echo(plan_table(planned))


@click.command()
@click.argument("source", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resume",
    "resume_run",
    metavar="RUN_ID",
    help='Finish a run that was interrupted or had failures ("last" for the newest run).',
)
@click.option("--force", is_flag=True,
              help="Overwrite connectors whose window changed since the plan was made, instead of skipping them.")
@click.option("--dry-run", is_flag=True, help="Print the requests that would be sent, and send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@journal_option
@client_options
def apply(
    source: Path | None,
    resume_run: str | None,
    force: bool,
    dry_run: bool,
    yes: bool,
    journal_path: Path | None,
    api_options: ClientOptions,
) -> None:
    """Set the planned windows on the connectors, from SOURCE (a saved plan, or a fleet file to plan now).

    Exit status: 0 when every connector ended as desired, 1 when any failed or was skipped as a
    conflict, 2 for bad input.
    """
    if (source is None) == (resume_run is None):
        fail_usage(["give either a plan or fleet file, or --resume RUN_ID"])

    with _journal(journal_path) as journal:
        resumed = None if resume_run is None else _resolve(journal, resume_run)

        async def run() -> None:
            async with _live_api(api_options) as api:
                if resumed is not None:
                    _check_account(journal, resumed, api)
                    rollout = await prepare_resume(journal, resumed, api, force=force)
                else:
                    assert source is not None
                    planned = _load_plan_or_fleet(source, await api.list_connectors() if source.suffix == ".toml" else None)
                    rollout = await prepare_apply(planned, api, force=force)
                    # History shows the file the user applied; the plan's own source is the fleet file.
                    rollout = dataclasses.replace(rollout, source=str(source))
                await _confirm_and_execute(rollout, api, journal, dry_run=dry_run, yes=yes)

        _run(run())


@click.command()
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Print the requests that would be sent, and send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@journal_option
@client_options
def rollback(run_id: str, dry_run: bool, yes: bool, journal_path: Path | None, api_options: ClientOptions) -> None:
    """Restore the windows that run RUN_ID replaced, on every connector that still has what the run set.

    RUN_ID "last" means the newest run in the journal. The rollback is itself a run in the journal,
    so it can be resumed or rolled back in turn.
    """
    with _journal(journal_path) as journal:
        resolved = _resolve(journal, run_id)

        async def run() -> None:
            async with _live_api(api_options) as api:
                _check_account(journal, resolved, api)
                rollout = await prepare_rollback(journal, resolved, api)
                await _confirm_and_execute(rollout, api, journal, dry_run=dry_run, yes=yes)

        _run(run())


@click.command()
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def history(run_id: str | None, as_json: bool, journal_path: Path | None) -> None:
    """List the rollout runs in the journal, or the entries of run RUN_ID ("last" for the newest)."""
    with _journal(journal_path, create=False) as journal:
        if run_id is None:
            runs = journal.runs()
            if as_json:
                echo_json([run.to_json() for run in runs])
                return
            rows: list[tuple[str, ...]] = [("RUN", "KIND", "STATUS", "STARTED", "FINISHED", "ENTRIES", "SOURCE")]
            rows += [
                (run.run_id, run.kind if run.parent_run_id is None else f"{run.kind} of {run.parent_run_id}", run.status,
                 _stamp(run.started_at), _stamp(run.finished_at), _counts(run.counts), run.source or "")
                for run in runs
            ]
            click.echo(_table(rows) if runs else "No runs in the journal.")
            return

        try:
            run_id = journal.resolve_run_id(run_id)
            record = journal.run(run_id)
            entries = journal.entries(run_id)
        except JournalError as error:
            fail_usage([str(error)])
        if as_json:
            echo_json({**record.to_json(), "entries": [entry.to_json() for entry in entries]})
            return
        click.echo(f"Run {record.run_id} ({record.kind}), {record.status}, started {_stamp(record.started_at)}, "
                   f"finished {_stamp(record.finished_at)}: {_counts(record.counts)}")
        entry_rows: list[tuple[str, ...]] = [("CONNECTOR", "STATUS", "ATTEMPTS", "UPDATED", "ERROR")]
        entry_rows += [(entry.label, entry.status, str(entry.attempts), _stamp(entry.updated_at), entry.error or "")
                       for entry in entries]
        click.echo(_table(entry_rows))


async def _confirm_and_execute(rollout: Rollout, api: ClientConnectorsAPI, journal: Journal, *, dry_run: bool, yes: bool) -> None:
    for action in rollout.actions:
        if action.kind in ("conflict", "missing"):
            click.echo(f"Skipping {action.label}: {action.reason}", err=True)
    to_send = rollout.to_send
    summary = (
        f"{len(to_send)} to change, {rollout.count('unchanged') + rollout.count('done')} already as desired, "
        f"{rollout.count('conflict')} conflicts, {rollout.count('missing')} missing"
    )

    if dry_run:
        for action in to_send:
            click.echo(json.dumps({"method": "PATCH", "connector_id": action.connector_id, "body": dict(action.fields)},
                                  ensure_ascii=False))
        click.echo(f"Dry run, nothing sent: {summary}.", err=True)
        if rollout.count("conflict") or rollout.count("missing"):
            sys.exit(EXIT_FAILURE)
        return

    if rollout.kind == "rollback":
        verb = "Roll back"
    elif rollout.run_id is not None:
        verb = "Resume"
    else:
        verb = "Apply"
    if to_send and not yes:
        click.confirm(f"{verb}: {summary}. Send {len(to_send)} PATCH request(s)?", abort=True, err=True)

    started: list[str] = []
    with click.progressbar(length=len(to_send), label=f"{verb}", file=sys.stderr) as bar:
        try:
            result = await execute(
                rollout, api, journal, concurrency=api.max_concurrency, account_id=api.account_id,
                progress=lambda finished, total, label, status: bar.update(1), on_start=started.append,
            )
        except asyncio.CancelledError:
            if started:
                click.echo(f"\nInterrupted. Finish the run with: planner apply --resume {started[0]}", err=True)
            raise
    _report(result)


def _check_account(journal: Journal, run_id: str, api: ClientConnectorsAPI) -> None:
    recorded = journal.run(run_id).account_id
    if recorded is not None and recorded != api.account_id:
        fail_usage([f"run {run_id} changed connectors of account {recorded}, not {api.account_id}; "
                    "set CLOUDFLARE_ACCOUNT_ID or --account-id to that account"])


def _report(result: RunResult) -> None:
    for entry in result.entries:
        if entry.status == "failed":
            click.echo(f"Failed {entry.label}: {entry.error}", err=True)
    run = result.run
    click.echo(f"Run {run.run_id} {run.status}: {_counts(run.counts)}.")
    if not result.succeeded:
        click.echo(
            f"Retry the failed connectors with `planner apply --resume {run.run_id}`; "
            f"undo with `planner rollback {run.run_id}`.", err=True,
        )
        sys.exit(EXIT_FAILURE)


def _run(coroutine: Any) -> Any:
    """Run a coroutine, turning API failures into exit status 1 and bad input into 2."""
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except (ConfigError, FleetFileError, PlanError, JournalError) as error:
        fail_usage([str(error)])
    except (RemoteError, CloudflareError, FleetError) as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_FAILURE)


@contextlib.asynccontextmanager
async def _live_api(api_options: ClientOptions) -> AsyncIterator[ClientConnectorsAPI]:
    client = async_client_from_options(api_options)
    try:
        yield ClientConnectorsAPI(client)
    finally:
        await client.aclose()


async def _list_live(api_options: ClientOptions) -> list[dict[str, Any]]:
    async with _live_api(api_options) as api:
        return await api.list_connectors()


@contextlib.contextmanager
def _journal(path: Path | None, *, create: bool = True) -> Iterator[Journal]:
    target = path if path is not None else default_journal_path()
    if not create and not target.exists():
        fail_usage([f"no journal at {str(target)!r}; runs are recorded there by `planner apply`, or give --journal PATH"])
    try:
        journal = Journal(target)
    except JournalError as error:
        fail_usage([str(error)])
    with journal:
        yield journal


def _load_fleet(path: Path) -> Any:
    try:
        return load_fleet_file(path)
    except OSError as error:
        fail_usage([f"cannot read fleet file {str(path)!r}: {error.strerror}"])
    except FleetFileError as error:
        fail_usage([str(error)])


def _make_plan(fleet: Any, connectors: list[dict[str, Any]]) -> Plan:
    # The engine never reads the clock, so the command supplies the instant the plan is made.
    try:
        return make_plan(fleet, connectors, datetime.datetime.now(datetime.UTC))
    except PlanError as error:
        fail_usage([str(error)])


def _load_plan_or_fleet(source: Path, connectors: list[dict[str, Any]] | None) -> Plan:
    if connectors is not None:
        return _make_plan(_load_fleet(source), connectors)
    try:
        return load_plan(source)
    except OSError as error:
        fail_usage([f"cannot read plan {str(source)!r}: {error.strerror}"])
    except PlanError as error:
        fail_usage([str(error)])


def _read_snapshot(path: Path) -> list[dict[str, Any]]:
    data = read_json_file(str(path), "snapshot")
    if isinstance(data, dict) and "result" in data:
        data = data["result"]
    if not isinstance(data, list) or not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in data):
        fail_usage([f"snapshot {str(path)!r} is not a list of connector objects with an 'id'; "
                    "save the API's list response, for example with `planner connectors list --json`"])
    return data


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)


def _counts(counts: Any) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no connectors"


def _stamp(instant: datetime.datetime | None) -> str:
    return "-" if instant is None else instant.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")

