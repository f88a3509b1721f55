"""`planner connectors list|show|set` against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cloudflare_fixtures import (  # noqa: F401
    ACCOUNT_ID,
    BERLIN,
    LICENSE_KEY,
    TOKEN,
    emulator_fixture,  # noqa: F401
    seed_connectors,
)

from planner.cli import main
from planner.cloudflare.emulator import Emulator

BERLIN_ID = BERLIN["id"]


def run(server: Emulator, *arguments: str) -> Result:
    env = {
        "CLOUDFLARE_BASE_URL": server.base_url,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
        "CLOUDFLARE_API_TOKEN": TOKEN,
    }
    return CliRunner().invoke(main, ["connectors", *arguments], env=env)


def writes(server: Emulator) -> list[tuple[str, object]]:
    return [
        (record.method, record.body)
        for record in server.request_log()
        if record.method in {"PATCH", "PUT"}
    ]


class TestList:
    def test_json_rows(self, emulator: Emulator) -> None:
        """--json lists id, notes, site, timezone, window summary and next open window."""
        result = run(emulator, "list", "--json")
        rows = json.loads(result.stdout)
        berlin = rows[0]

        assert result.exit_code == 0
        assert len(rows) == 6
        assert berlin["id"] == BERLIN_ID
        assert berlin["site_id"] == BERLIN["site_id"]
        assert berlin["timezone"] == "Europe/Berlin"
        assert berlin["window"] == "Sat, Sun at 02:00 for 4 h (Europe/Berlin)"
        assert berlin["next_open_window"]["start"].endswith("Z")

    def test_table(self, emulator: Emulator) -> None:
        """The table has a header and one line per connector."""
        result = run(emulator, "list")
        lines = result.stdout.splitlines()

        assert result.exit_code == 0
        assert lines[0].startswith("ID")
        assert len(lines) == 7
        assert BERLIN["notes"] in lines[1]

    def test_device_type_filter(self, emulator: Emulator) -> None:
        """--device-type passes the API's filter."""
        result = run(emulator, "list", "--json", "--device-type", "MANAGED")

        assert result.exit_code == 0
        assert emulator.request_log()[-1].query == {"device_type": "MANAGED"}


class TestShow:
    def test_json_redacts_license_key(self) -> None:
        """show --json prints the API's field names with the licence key redacted."""
        with Emulator(
            seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN, echo_license_key=True
        ) as server:
            result = run(server, "show", BERLIN_ID, "--json")
        data = json.loads(result.stdout)

        assert result.exit_code == 0
        assert data["interrupt_window_days_of_week"] == ["Saturday", "Sunday"]
        assert data["license_key"] == "<redacted>"
        assert LICENSE_KEY not in result.output

    def test_text_lists_next_windows(self, emulator: Emulator) -> None:
        """The text form lists the fields and the next three windows."""
        result = run(emulator, "show", BERLIN_ID)

        assert result.exit_code == 0
        assert f"notes: {BERLIN['notes']}" in result.stdout
        assert result.stdout.count("  next: ") == 3

    def test_non_ascii_token_exits_2(self, emulator: Emulator) -> None:
        """A token httpx cannot send is a usage error that never shows the token."""
        env = {
            "CLOUDFLARE_BASE_URL": emulator.base_url,
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
            "CLOUDFLARE_API_TOKEN": "tök-SECRET",
        }
        result = CliRunner().invoke(main, ["connectors", "show", BERLIN_ID], env=env)

        assert result.exit_code == 2
        assert "non-ASCII characters" in result.stderr
        assert "SECRET" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert emulator.request_log() == []

    def test_non_utf8_token_file_exits_2(self, emulator: Emulator, tmp_path: Path) -> None:
        """A token file with non-UTF-8 bytes is a usage error that never shows its content."""
        token_file = tmp_path / "token"
        token_file.write_bytes(b"\xff\xfeSECRET\n")
        env = {"CLOUDFLARE_BASE_URL": emulator.base_url, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID}
        result = CliRunner().invoke(
            main, ["connectors", "show", BERLIN_ID, "--token-file", str(token_file)], env=env
        )

        assert result.exit_code == 2
        assert "is not UTF-8 text" in result.stderr
        assert "SECRET" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

    def test_unknown_id_exits_1(self, emulator: Emulator) -> None:
        """An unknown id is an API failure: exit 1, the status and the fix."""
        result = run(emulator, "show", "nope")

        assert result.exit_code == 1
        assert "HTTP 404" in result.stderr
        assert "Check the connector id" in result.stderr


ODD_NOTES = "a\ud800b\x1b[31mred\rc\x9bd"


@pytest.fixture(name="odd_emulator")
def odd_emulator_fixture() -> Iterator[Emulator]:
    """An emulator whose Berlin connector has a lone surrogate and controls in `notes`."""
    seeds = seed_connectors()
    seeds[0]["notes"] = ODD_NOTES
    with Emulator(seeds, account_id=ACCOUNT_ID, token=TOKEN) as server:
        yield server


class TestOddText:
    @pytest.mark.parametrize("command", [["list"], ["show", BERLIN_ID]])
    def test_text_replaces_surrogates_and_controls(
        self, odd_emulator: Emulator, command: list[str]
    ) -> None:
        """Lone surrogates, ESC, CR and C1 controls print as U+FFFD instead of crashing."""
        result = run(odd_emulator, *command)

        assert result.exit_code == 0, result.output
        assert "a\ufffdb\ufffd[31mred\ufffdc\ufffdd" in result.stdout
        assert "\x1b" not in result.stdout
        assert "\r" not in result.stdout

    @pytest.mark.parametrize("command", [["list", "--json"], ["show", BERLIN_ID, "--json"]])
    def test_json_escapes_and_keeps_value(self, odd_emulator: Emulator, command: list[str]) -> None:
        """JSON output escapes those characters, so it parses back to the exact notes."""
        result = run(odd_emulator, *command)
        data = json.loads(result.stdout)
        notes = data[0]["notes"] if isinstance(data, list) else data["notes"]

        assert result.exit_code == 0, result.output
        assert notes == ODD_NOTES
        assert "\x9b" not in result.stdout
        assert "\x1b" not in result.stdout


class TestSet:
    def test_patch_sends_only_given_fields(self, emulator: Emulator) -> None:
        """set sends the normalised values of the options given, nothing else."""
        result = run(emulator, "set", BERLIN_ID, "--days", "Mon-Wed", "--hour", "23.5")

        assert result.exit_code == 0, result.output
        assert writes(emulator) == [
            (
                "PATCH",
                {
                    "interrupt_window_days_of_week": ["Monday", "Tuesday", "Wednesday"],
                    "interrupt_window_hour_of_day": 23.5,
                },
            )
        ]
        assert "Before: Sat, Sun at 02:00" in result.stdout
        assert "After:  Mon-Wed at 23:30" in result.stdout

    def test_put_keeps_other_fields(self) -> None:
        """--method put sends every writable field, so a resetting PUT loses nothing."""
        with Emulator(
            seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN, put_mode="reset"
        ) as server:
            result = run(server, "set", BERLIN_ID, "--duration", "3", "--method", "put")
            stored = server.connector(BERLIN_ID)

        assert result.exit_code == 0, result.output
        assert stored is not None
        assert stored["interrupt_window_duration_hours"] == 3
        assert stored["notes"] == BERLIN["notes"]
        assert stored["interrupt_window_embargo_dates"] == BERLIN["interrupt_window_embargo_dates"]

    def test_dry_run_sends_nothing(self, emulator: Emulator) -> None:
        """--dry-run prints the body it would send and writes nothing."""
        result = run(emulator, "set", BERLIN_ID, "--timezone", "Asia/Tokyo", "--dry-run")

        assert result.exit_code == 0
        assert "would send PATCH with {'timezone': 'Asia/Tokyo'}" in result.stdout
        assert writes(emulator) == []

    def test_no_embargo_clears_dates(self, emulator: Emulator) -> None:
        """--no-embargo sends an empty embargo list."""
        result = run(emulator, "set", BERLIN_ID, "--no-embargo")

        assert result.exit_code == 0
        assert writes(emulator) == [("PATCH", {"interrupt_window_embargo_dates": []})]

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (["--duration", "30"], "--duration: "),
            (["--timezone", "Mars/Olympus"], "--timezone: "),
            (["--days", "Funday"], "--days: "),
            (["--embargo", "2026-13-01"], "--embargo: "),
            ([], "nothing to change"),
            (["--embargo", "2026-12-24", "--no-embargo"], "cannot be combined"),
        ],
    )
    def test_bad_input_exits_2_before_sending(
        self, emulator: Emulator, arguments: list[str], message: str
    ) -> None:
        """Invalid values are rejected by the engine's rules, and nothing is written."""
        result = run(emulator, "set", BERLIN_ID, *arguments)

        assert result.exit_code == 2
        assert message in result.stderr
        assert "Traceback" not in result.output
        assert writes(emulator) == []
