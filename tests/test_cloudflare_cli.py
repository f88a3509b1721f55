"""`planner emulator` and the shared API options other commands build on."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cloudflare_fixtures import (
    ACCOUNT_ID,
    BERLIN,
    LICENSE_KEY,
    TOKEN,
    emulator_fixture,  # noqa: F401
    seed_connectors,
)

from planner.cli import main
from planner.cli.api import client_options, handle_api_errors, open_client
from planner.cloudflare import ClientConfig, ClientOptions, ConnectorsClient
from planner.cloudflare.emulator import Emulator

PLANNER = [sys.executable, "-c", "from planner.cli import main; main()"]


@click.command()
@client_options
def show(api_options: ClientOptions) -> None:
    """A stand-in for a command that reads one connector."""
    with handle_api_errors(), open_client(api_options) as client:
        click.echo(repr(client.get_connector(BERLIN["id"])))


@click.command()
@client_options
def echo_options(api_options: ClientOptions) -> None:
    """A stand-in that prints the parsed options."""
    click.echo(repr(api_options))


class TestClientOptions:
    def test_options_reach_the_command(self, tmp_path: Path) -> None:
        """Every option lands in one ClientOptions value."""
        token_file = tmp_path / "token"
        result = CliRunner().invoke(
            echo_options,
            [
                "--base-url",
                "http://127.0.0.1:1/client/v4",
                "--account-id",
                "acc",
                "--token-file",
                str(token_file),
                "--connect-timeout",
                "2",
                "--read-timeout",
                "7.5",
                "--max-concurrency",
                "4",
            ],
        )

        assert result.exit_code == 0
        assert result.stdout.strip() == repr(
            ClientOptions(
                base_url="http://127.0.0.1:1/client/v4",
                account_id="acc",
                token_file=token_file,
                connect_timeout=2.0,
                read_timeout=7.5,
                max_concurrency=4,
            )
        )

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--read-timeout", "0"],
            ["--read-timeout", "inf"],
            ["--connect-timeout", "nan"],
            ["--max-concurrency", "0"],
            ["--token", "x"],
        ],
    )
    def test_bad_option_values_exit_2(self, arguments: list[str]) -> None:
        """Zero or non-finite timeouts, zero concurrency and a --token option are usage errors."""
        result = CliRunner().invoke(echo_options, arguments)

        assert result.exit_code == 2

    def test_help_names_environment_variables(self) -> None:
        """The help names the variable that each option replaces."""
        result = CliRunner().invoke(echo_options, ["--help"])

        for name in ("CLOUDFLARE_BASE_URL", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN"):
            assert name in result.stdout

    def test_read_timeout_help_says_between_reads(self) -> None:
        """--read-timeout bounds each read, and its help must not promise the whole response."""
        result = CliRunner().invoke(echo_options, ["--help"], terminal_width=200)

        assert "between two reads of an API response" in result.stdout

    def test_command_against_emulator(self, emulator: Emulator, tmp_path: Path) -> None:
        """A command reads the token from a file and the rest from options."""
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n", encoding="utf-8")

        result = CliRunner().invoke(
            show,
            [
                "--base-url",
                emulator.base_url,
                "--account-id",
                ACCOUNT_ID,
                "--token-file",
                str(token_file),
            ],
            env={"CLOUDFLARE_API_TOKEN": None, "CLOUDFLARE_ACCOUNT_ID": None},
        )

        assert result.exit_code == 0, result.output
        assert BERLIN["notes"] in result.stdout
        assert TOKEN not in result.output

    def test_missing_account_is_usage_error(self, emulator: Emulator) -> None:
        """Without an account id the command exits 2 and names the variable."""
        result = CliRunner().invoke(
            show,
            ["--base-url", emulator.base_url],
            env={"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": None},
        )

        assert result.exit_code == 2
        assert "missing account id; set CLOUDFLARE_ACCOUNT_ID" in result.stderr

    def test_api_failure_exits_1_without_traceback(self, emulator: Emulator) -> None:
        """A rejected token exits 1 with the API's code and the fix, and no traceback."""
        result = CliRunner().invoke(
            show,
            ["--base-url", emulator.base_url],
            env={"CLOUDFLARE_API_TOKEN": "bad-token", "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID},
        )

        assert result.exit_code == 1
        assert result.stderr.startswith("Error: GET connector")
        assert "10000 Authentication error" in result.stderr
        assert "Traceback" not in result.output
        assert "bad-token" not in result.output


class TestEmulatorCommand:
    def test_serves_until_interrupted(self, tmp_path: Path) -> None:
        """The command prints the base URL, serves the file's connectors, and stops on Ctrl-C."""
        seeds = tmp_path / "connectors.json"
        seeds.write_text(json.dumps(seed_connectors()), encoding="utf-8")
        process = subprocess.Popen(
            [
                *PLANNER,
                "emulator",
                "--port",
                "0",
                "--connectors",
                str(seeds),
                "--token",
                "cli-token",
                "--echo-license-key",
                "--dump-state",
                str(tmp_path / "state.json"),
                "--dump-requests",
                str(tmp_path / "requests.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().strip()
            config = ClientConfig.from_options(
                ClientOptions(base_url=base_url),
                env={
                    "CLOUDFLARE_ACCOUNT_ID": "023e105f4ecef8ad9ca31a8372d0c353",
                    "CLOUDFLARE_API_TOKEN": "cli-token",
                },
            )
            with ConnectorsClient(config) as client:
                count = len(client.list_connectors())
        finally:
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=10)

        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/client/v4")
        assert count == 6
        assert process.returncode == 0
        assert "Emulator stopped." in stderr
        assert "cli-token" not in stdout + stderr
        assert "Traceback" not in stderr
        state = (tmp_path / "state.json").read_text(encoding="utf-8")
        requests = json.loads((tmp_path / "requests.json").read_text(encoding="utf-8"))
        assert len(json.loads(state)) == 6
        assert [record["method"] for record in requests] == ["GET"]
        assert LICENSE_KEY not in state
        assert LICENSE_KEY not in json.dumps(requests)
        assert "<redacted>" in state

    def test_connectors_and_generate_conflict(self, tmp_path: Path) -> None:
        """--connectors and --generate together are a usage error."""
        result = CliRunner().invoke(
            main, ["emulator", "--connectors", str(tmp_path / "x.json"), "--generate", "3"]
        )

        assert result.exit_code == 2
        assert "either --connectors or --generate" in result.stderr

    def test_bad_connectors_file(self, tmp_path: Path) -> None:
        """A file that is not a list of connectors exits 2 and names the file."""
        seeds = tmp_path / "seeds.json"
        seeds.write_text("{not json", encoding="utf-8")

        result = CliRunner().invoke(main, ["emulator", "--connectors", str(seeds)])

        assert result.exit_code == 2
        assert "seeds.json" in result.stderr
        assert "not valid JSON" in result.stderr

    def test_fault_rates_above_one(self) -> None:
        """Fault rates adding up to more than one are a usage error."""
        result = CliRunner().invoke(
            main, ["emulator", "--server-error-rate", "0.8", "--stall-rate", "0.5"]
        )

        assert result.exit_code == 2
        assert "add up to at most 1" in result.stderr

    @pytest.mark.parametrize(
        "arguments",
        [
            ["--quota-window", "inf"],
            ["--quota-window", "nan"],
            ["--latency", "inf"],
            ["--latency", "nan"],
            ["--stall-seconds", "inf"],
            ["--server-error-rate", "nan"],
        ],
    )
    def test_non_finite_numbers_exit_2(self, arguments: list[str]) -> None:
        """inf and nan, which click's FloatRange accepts, are usage errors naming the value."""
        result = CliRunner().invoke(main, ["emulator", "--port", "0", *arguments])

        assert result.exit_code == 2
        assert f"{arguments[1]!r} is not a finite number" in result.stderr

    def test_port_in_use(self) -> None:
        """A taken port exits 1 and suggests another --port."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = CliRunner().invoke(main, ["emulator", "--port", str(port)])

        assert result.exit_code == 1
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "choose another --port" in result.stderr


def test_planner_entry_point_lists_emulator() -> None:
    """The emulator is registered on the main command group."""
    result = CliRunner().invoke(main, ["--help"])

    assert "emulator" in result.stdout
