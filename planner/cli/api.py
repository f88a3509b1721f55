"""API options shared by every command that talks to Cloudflare, and `planner emulator`.

Commands that call the API stack `@client_options` and take an `api_options` argument::

    @click.command()
    @client_options
    def plan(api_options: ClientOptions) -> None:
        with handle_api_errors(), open_client(api_options) as client:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from planner.cloudflare import (
    ClientOptions,
    CloudflareError,
    ConfigError,
    Connector,
    ConnectorsClient,
    client_from_options,
)
from planner.cloudflare.emulated_api import PUT_MODES
from planner.cloudflare.models import redact_license_keys
from planner.cloudflare.emulator import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, Emulator, Faults
from planner.cloudflare.seed import generate_connectors, load_seed_file

F = TypeVar("F", bound=Callable[..., Any])



class FiniteFloatRange(click.FloatRange):
    """A `click.FloatRange` that also rejects inf and nan, which its bound checks let through."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


_POSITIVE_SECONDS = FiniteFloatRange(min=0, min_open=True)
_NON_NEGATIVE = FiniteFloatRange(min=0)
_RATE = FiniteFloatRange(0, 1)


def _fault_rate_option(name: str, help_text: str) -> Callable[[F], F]:
    return click.option(
        name, type=_RATE, default=0.0, show_default=True, metavar="SHARE", help=help_text
    )


def client_options(command: F) -> F:
    """Add --base-url, --account-id, --token-file, timeouts and --max-concurrency to a command.

    The values reach the command as one `api_options: ClientOptions` argument; options left
    out fall back to the CLOUDFLARE_* environment variables when the client is built.
    """
    return make_client_options()(command)


def make_client_options(token_file_flag: str = "--token-file") -> Callable[[F], F]:
    """Return a `client_options` decorator whose API token file option is `token_file_flag`.

    `planner serve` uses `--token-file` for its own feed token, so it names the API's
    `--api-token-file` instead.
    """

    def decorate(command: F) -> F:
        return _add_client_options(command, token_file_flag)

    return decorate


def _add_client_options(command: F, token_file_flag: str) -> F:
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        base_url: str | None,
        account_id: str | None,
        api_token_file: Path | None,
        connect_timeout: float | None,
        read_timeout: float | None,
        max_concurrency: int | None,
        **kwargs: Any,
    ) -> Any:
        kwargs["api_options"] = ClientOptions(
            base_url=base_url,
            account_id=account_id,
            token_file=api_token_file,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_concurrency=max_concurrency,
        )
        return command(*args, **kwargs)

    options = [
        click.option(
            "--base-url",
            metavar="URL",
            help="API base URL [default: $CLOUDFLARE_BASE_URL, else https://api.cloudflare.com/client/v4].",
        ),
        click.option(
            "--account-id",
            metavar="ID",
            help="Cloudflare account id [default: $CLOUDFLARE_ACCOUNT_ID].",
        ),
        click.option(
            token_file_flag,
            "api_token_file",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="PATH",
            help="File whose first line is the API token [default: $CLOUDFLARE_API_TOKEN, "
            "or $CLOUDFLARE_EMAIL with $CLOUDFLARE_API_KEY]. Tokens are never taken as "
            "option values, which would show in the process list.",
        ),
        click.option(
            "--connect-timeout",
            type=_POSITIVE_SECONDS,
            metavar="SECONDS",
            help="Seconds to wait for a connection to the API [default: 5].",
        ),
        click.option(
            "--read-timeout",
            type=_POSITIVE_SECONDS,
            metavar="SECONDS",
            help="Seconds to wait between two reads of an API response; a response that "
            "keeps arriving slowly can take longer in total [default: 30].",
        ),
        click.option(
            "--max-concurrency",
            type=click.IntRange(min=1),
            metavar="N",
            help="Maximum number of API requests in flight at once [default: 16].",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


def open_client(api_options: ClientOptions) -> ConnectorsClient:
    """Build a synchronous client; a configuration error becomes a usage error (exit 2)."""
    try:
        return client_from_options(api_options)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


@contextlib.contextmanager
def handle_api_errors() -> Iterator[None]:
    """Turn client errors into click errors: bad input exits 2, API and network failures 1."""
    try:
        yield
    except ValueError as error:
        if isinstance(error, CloudflareError):
            raise click.UsageError(str(error)) from None
        raise
    except CloudflareError as error:
        raise click.ClickException(str(error)) from None


@click.command()
@click.option(
    "--port",
    metavar="PORT",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="TCP port on 127.0.0.1; 0 picks a free port.",
)
@click.option(
    "--connectors",
    "connectors_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="JSON list of connector objects (or a list response) to serve.",
)
@click.option(
    "--generate",
    type=click.IntRange(min=0),
    metavar="N",
    help="Serve N generated connectors across real zones instead of a file.",
)
@click.option(
    "--seed",
    metavar="N",
    type=int,
    default=0,
    show_default=True,
    help="Seed for generated connectors, new ids and faults.",
)
@click.option(
    "--token",
    metavar="TOKEN",
    default=DEFAULT_TOKEN,
    show_default=True,
    help="The test token the emulator accepts as Bearer. Not a Cloudflare secret: "
    "never use a real token here.",
)
@click.option(
    "--account-id",
    metavar="ID",
    default=DEFAULT_ACCOUNT_ID,
    show_default=True,
    help="The account id in the emulated paths.",
)
@click.option(
    "--put-mode",
    type=click.Choice(PUT_MODES),
    default="merge",
    show_default=True,
    help="What PUT does with omitted fields: keep them (merge) or reset them to "
    "defaults (reset). The real API does not document it.",
)
@click.option(
    "--quota",
    metavar="N",
    type=click.IntRange(min=1),
    default=1200,
    show_default=True,
    help="Requests allowed per quota window; later requests get 429.",
)
@click.option(
    "--quota-window",
    metavar="SECONDS",
    type=_POSITIVE_SECONDS,
    default=300.0,
    show_default=True,
    help="Length of the quota window in seconds.",
)
@click.option(
    "--latency",
    metavar="MS",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Milliseconds of latency added to every response.",
)
@_fault_rate_option("--server-error-rate", "Share of requests that get a 500, 502 or 503 response.")
@_fault_rate_option(
    "--reset-before-rate", "Share of connections reset before the request is applied."
)
@_fault_rate_option(
    "--reset-after-rate", "Share of connections reset after the request is applied."
)
@_fault_rate_option(
    "--malformed-rate", "Share of requests applied and then given a truncated JSON body."
)
@_fault_rate_option(
    "--stall-rate", "Share of requests that wait --stall-seconds before being handled."
)
@click.option(
    "--stall-seconds",
    metavar="SECONDS",
    type=_NON_NEGATIVE,
    default=30.0,
    show_default=True,
    help="Length of a stall in seconds.",
)
@click.option(
    "--echo-license-key",
    is_flag=True,
    help="Include license_key in every response, as the API may do.",
)
@click.option(
    "--dump-state",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="On stop, write the stored connectors as JSON to FILE (licence keys redacted).",
)
@click.option(
    "--dump-requests",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="On stop, write every request received, with its status and fault, as JSON to FILE.",
)
def emulator(
    port: int,
    connectors_file: Path | None,
    generate: int | None,
    seed: int,
    token: str,
    account_id: str,
    put_mode: str,
    quota: int,
    quota_window: float,
    latency: float,
    server_error_rate: float,
    reset_before_rate: float,
    reset_after_rate: float,
    malformed_rate: float,
    stall_rate: float,
    stall_seconds: float,
    echo_license_key: bool,
    dump_state: Path | None,
    dump_requests: Path | None,
) -> None:
    """Serve a local emulator of the connectors API on 127.0.0.1 until interrupted.

    Point a client at it with CLOUDFLARE_BASE_URL (printed at start), CLOUDFLARE_ACCOUNT_ID
    and the emulator's token.
    """
    if connectors_file is not None and generate is not None:
        raise click.UsageError("give either --connectors or --generate, not both")
    try:
        if connectors_file is not None:
            connectors = load_seed_file(connectors_file)
        else:
            connectors = generate_connectors(generate or 0, seed=seed)
        faults = Faults(
            latency=latency / 1000,
            server_error_rate=server_error_rate,
            reset_before_rate=reset_before_rate,
            reset_after_rate=reset_after_rate,
            malformed_rate=malformed_rate,
            stall_rate=stall_rate,
            stall_seconds=stall_seconds,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    server = Emulator(
        connectors,
        account_id=account_id,
        token=token,
        put_mode=put_mode,  # type: ignore[arg-type]
        quota=quota,
        quota_window=quota_window,
        faults=faults,
        seed=seed,
        echo_license_key=echo_license_key,
        port=port,
    )

    def announce() -> None:
        click.echo(server.base_url)
        click.echo(
            f"Serving {len(connectors)} connectors for account {account_id}; press Ctrl-C to stop.",
            err=True,
        )

    try:
        asyncio.run(server.serve_forever(on_listening=announce))
    except KeyboardInterrupt:
        click.echo("Emulator stopped.", err=True)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port}: {error.strerror}; choose another --port"
        ) from None

    try:
        _write_dumps(server, dump_state, dump_requests)
    except OSError as error:
        raise click.ClickException(
            f"cannot write {error.filename!r}: {error.strerror}; check the --dump-* paths"
        ) from None


def _write_dumps(server: Emulator, state_file: Path | None, requests_file: Path | None) -> None:
    # Responses may carry a rotated licence key, so both dumps go through the redaction.
    if state_file is not None:
        state = [Connector.from_api(item).to_api() for item in server.dump_state()]
        state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        click.echo(f"Wrote {len(state)} connectors to {state_file}.", err=True)
    if requests_file is not None:
        records = [_redacted_record(record.to_json()) for record in server.request_log()]
        requests_file.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
        click.echo(f"Wrote {len(records)} requests to {requests_file}.", err=True)


def _redacted_record(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "response": redact_license_keys(record.get("response"))}
