"""`planner plan`, `apply`, `rollback` and `history`: fleet rollouts from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import click

from planner._files import write_atomically
from planner.cli._common import EXIT_FAILURE, echo_json, fail_usage, read_json_file
from planner.cli.api import client_options
from planner.cloudflare import (
    AsyncConnectorsClient,
    ClientOptions,
    CloudflareError,
    ConfigError,
    async_client_from_options,
)
from planner.fleet import (
    FleetError,
    FleetFileError,
    Journal,
    JournalError,
    JournalNotFoundError,
    Plan,
    PlanError,
    RemoteError,
    Rollout,
    RunNotFoundError,
    RunRecord,
    RunResult,
    default_journal_path,
    execute,
    is_missing,
    load_fleet_file,
    load_plan,
    make_plan,
    prepare_apply,
    prepare_resume,
    prepare_rollback,
    rollback_target,
    run_process_gone,
    save_plan,
)
from planner.fleet._calendar import plan_calendar
from planner.fleet._client import ClientConnectorsAPI
from planner.fleet._report import plan_csv, plan_markdown, plan_table

# Exit statuses after a signal, as shells report them: 128 + SIGINT (2) and 128 + SIGTERM (15).
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

journal_option = click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="SQLite journal of rollout runs [default: journal.sqlite3 in the user's state directory].",
)



def _resolve(journal: Journal, run_id: str, journal_path: Path | None) -> str:
    try:
        return journal.run(journal.resolve_run_id(run_id)).run_id
    except RunNotFoundError as error:
        fail_usage([_run_not_found(error, journal_path)])


def _run_not_found(error: RunNotFoundError, journal_path: Path | None) -> str:
    if error.run_id is not None:
        return f"{error}; `planner history{_journal_flag(journal_path)}` lists the runs"
    if journal_path is None:
        return f"{error}; pass the --journal PATH that `planner apply` used"
    return str(error)


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
    for warning in planned.warnings:
        click.echo(f"Warning: {warning}", err=True)
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

    # A dry run of a plan reads no journal, so it must not create one either.
    if dry_run and resume_run is None:
        journal_context: contextlib.AbstractContextManager[Journal | None] = contextlib.nullcontext()
    else:
        journal_context = _journal(journal_path, create=resume_run is None)
    with journal_context as journal:
        resumed = None if resume_run is None or journal is None else _resolve(journal, resume_run, journal_path)

        async def prepare(api: ClientConnectorsAPI) -> Rollout:
            if resumed is not None:
                assert journal is not None
                _check_account(journal, resumed, api)
                return await prepare_resume(journal, resumed, api, force=force)
            assert source is not None
            planned = _load_plan_or_fleet(source, await api.list_connectors() if source.suffix == ".toml" else None)
            rollout = await prepare_apply(planned, api, force=force)
            # History shows the file the user applied; the plan's own source is the fleet file.
            return dataclasses.replace(rollout, source=str(source))

        _run_rollout(prepare, api_options, journal, journal_path, dry_run=dry_run, yes=yes)


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
    with _journal(journal_path, create=False) as journal:
        try:
            target = rollback_target(journal, run_id)
        except RunNotFoundError as error:
            fail_usage([_run_not_found(error, journal_path)])
        except JournalError as error:
            fail_usage([str(error)])
        # "last" may not be the run the user expects, so name the run before any request is sent.
        click.echo(f"Rolling back run {_describe_run(target)}.", err=True)

        async def prepare(api: ClientConnectorsAPI) -> Rollout:
            _check_account(journal, target.run_id, api)
            return await prepare_rollback(journal, target.run_id, api)

        _run_rollout(prepare, api_options, journal, journal_path, dry_run=dry_run, yes=yes)


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
                (run.run_id, run.kind if run.parent_run_id is None else f"{run.kind} of {run.parent_run_id}", _status(run),
                 _stamp(run.started_at), _stamp(run.finished_at), _counts(run.counts), run.source or "")
                for run in runs
            ]
            click.echo(_table(rows) if runs else "No runs in the journal.")
            return

        run_id = _resolve(journal, run_id, journal_path)
        record = journal.run(run_id)
        entries = journal.entries(run_id)
        if as_json:
            echo_json({**record.to_json(), "entries": [entry.to_json() for entry in entries]})
            return
        click.echo(f"Run {record.run_id} ({record.kind}), {_status(record)}, started {_stamp(record.started_at)}, "
                   f"finished {_stamp(record.finished_at)}: {_counts(record.counts)}")
        entry_rows: list[tuple[str, ...]] = [("CONNECTOR", "STATUS", "ATTEMPTS", "UPDATED", "ERROR")]
        entry_rows += [(entry.label, entry.status, str(entry.attempts), _stamp(entry.updated_at), entry.error or "")
                       for entry in entries]
        click.echo(_table(entry_rows))


def _run_rollout(
    prepare: Callable[[ClientConnectorsAPI], Coroutine[Any, Any, Rollout]],
    api_options: ClientOptions,
    journal: Journal | None,
    journal_path: Path | None,
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    """Prepare a rollout, show it, ask for confirmation and execute it, then report the run.

    The confirmation is asked between two turns of the event loop, so Ctrl-C at the prompt
    stops the command at once instead of waiting for the loop to notice the cancellation.
    """
    with _translate_errors(), asyncio.Runner() as runner:
        client = runner.run(_open_client(api_options))
        try:
            api = ClientConnectorsAPI(client)
            rollout = runner.run(prepare(api))
            if not _show_and_confirm(rollout, dry_run=dry_run, yes=yes):
                return
            assert journal is not None
            result = _execute(runner, rollout, api, journal, journal_path)
        finally:
            runner.run(client.aclose())
        _report(result, journal_path)


def _show_and_confirm(rollout: Rollout, *, dry_run: bool, yes: bool) -> bool:
    """Print the skipped connectors and the counts, and return True when the requests should be sent.

    A dry run prints the requests and returns False. A declined confirmation exits with status 1.
    """
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
        return False

    if rollout.kind == "rollback":
        verb = "Roll back"
    elif rollout.run_id is not None:
        verb = "Resume"
    else:
        verb = "Apply"
    if to_send and not yes and not _confirm(f"{verb}: {summary}. Send {len(to_send)} PATCH request(s)?"):
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_FAILURE)
    return True


def _confirm(question: str) -> bool:
    """Ask a yes/no question on stderr, "no" by default.

    Unlike `click.confirm`, this lets KeyboardInterrupt through, so Ctrl-C at the prompt
    exits 130 like Ctrl-C anywhere else instead of 1 like answering "no".
    """
    while True:
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        try:
            answer = input().strip().lower()
        except EOFError:
            click.echo(err=True)
            return False
        if answer in ("y", "yes"):
            return True
        if answer in ("", "n", "no"):
            return False
        click.echo(f"Error: invalid input {answer!r}; enter y or n.", err=True)


def _execute(
    runner: asyncio.Runner, rollout: Rollout, api: ClientConnectorsAPI, journal: Journal, journal_path: Path | None
) -> RunResult:
    """Execute the rollout with a progress bar. On Ctrl-C or SIGTERM, print how to finish the run and exit."""
    started: list[str] = []
    to_send = len(rollout.to_send)
    # Without a terminal the bar prints only its label, once, so the label must read as a sentence.
    bar: contextlib.AbstractContextManager[Any] = (
        click.progressbar(length=to_send, label=f"Sending {to_send} PATCH request(s)", file=sys.stderr)
        if to_send else contextlib.nullcontext()
    )
    try:
        with bar as shown:
            return runner.run(_cancel_on_sigterm(execute(
                rollout, api, journal, concurrency=api.max_concurrency, account_id=api.account_id,
                progress=None if shown is None else lambda finished, total, label, status: shown.update(1),
                on_start=started.append,
            )))
    except (KeyboardInterrupt, asyncio.CancelledError) as stop:
        # asyncio.Runner raises KeyboardInterrupt for Ctrl-C, and CancelledError for the SIGTERM handler's cancel.
        interrupted = isinstance(stop, KeyboardInterrupt)
        message = "Interrupted" if interrupted else "Terminated"
        if started:
            message += (f": run {started[0]} is marked interrupted; finish it with "
                        f"`planner apply --resume {started[0]}{_journal_flag(journal_path)}`")
        click.echo(f"\n{message}.", err=True)
        sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_TERMINATED)


async def _cancel_on_sigterm(awaitable: Awaitable[RunResult]) -> RunResult:
    """Await `awaitable`, cancelling it on SIGTERM so the run is marked interrupted like on Ctrl-C."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # NOTE: add_signal_handler is missing on Windows, where SIGTERM still ends the process at once.
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await awaitable
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)


async def _open_client(api_options: ClientOptions) -> AsyncConnectorsClient:
    # Built inside the runner's loop, which every later request runs on.
    return async_client_from_options(api_options)


def _check_account(journal: Journal, run_id: str, api: ClientConnectorsAPI) -> None:
    recorded = journal.run(run_id).account_id
    if recorded is not None and recorded != api.account_id:
        fail_usage([f"run {run_id} changed connectors of account {recorded}, not {api.account_id}; "
                    "set CLOUDFLARE_ACCOUNT_ID or --account-id to that account"])


def _report(result: RunResult, journal_path: Path | None) -> None:
    for entry in result.entries:
        if entry.status == "failed":
            click.echo(f"Failed {entry.label}: {entry.error}", err=True)
    run = result.run
    click.echo(f"Run {run.run_id} {run.status}: {_counts(run.counts)}.")
    if result.succeeded:
        return

    flag = _journal_flag(journal_path)
    hints = []
    missing = sum(1 for entry in result.entries if is_missing(entry))
    if run.counts.get("failed", 0) > missing:
        hints.append(f"Retry the failed connectors with `planner apply --resume {run.run_id}{flag}`.")
    if run.counts.get("conflict"):
        hints.append(f"Overwrite the conflicts with `planner apply --resume {run.run_id} --force{flag}`, "
                     "or leave them as they are.")
    if run.kind == "apply" and run.counts.get("done"):
        hints.append(f"Undo the run with `planner rollback {run.run_id}{flag}`.")
    for hint in hints:
        click.echo(hint, err=True)
    sys.exit(EXIT_FAILURE)


def _journal_flag(journal_path: Path | None) -> str:
    """Return the ` --journal PATH` that a printed command must repeat, or "" for the default journal."""
    return "" if journal_path is None else f" --journal {shlex.quote(str(journal_path))}"


def _status(run: RunRecord) -> str:
    # A SIGKILL leaves a run marked running, with no process left to finish it.
    if run_process_gone(run):
        return f"running, but process {run.pid} is gone"
    return run.status


def _describe_run(run: RunRecord) -> str:
    kind = run.kind if run.parent_run_id is None else f"{run.kind} of {run.parent_run_id}"
    # A rollback's source repeats "rollback of RUN", which the kind already says.
    source = f", from {run.source}" if run.source and run.parent_run_id is None else ""
    if run.finished_at is None:
        return f"{run.run_id} ({kind}{source}, {_status(run)}, started {_stamp(run.started_at)})"
    return f"{run.run_id} ({kind}{source}, {run.status}, finished {_stamp(run.finished_at)})"


def _run(coroutine: Any) -> Any:
    """Run a coroutine, turning API failures into exit status 1 and bad input into 2."""
    with _translate_errors():
        return asyncio.run(coroutine)


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    """Turn Ctrl-C into exit status 130, API failures into 1 and bad input into 2, each with one line."""
    try:
        yield
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
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
    """Open the journal; with `create=False`, a missing file is a usage error, not a new journal."""
    target = path if path is not None else default_journal_path()
    try:
        journal = Journal(target, create=create)
    except JournalNotFoundError as error:
        fix = "pass the --journal PATH that `planner apply` used" if path is None else "check the path given to --journal"
        fail_usage([f"{error}; {fix}"])
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

