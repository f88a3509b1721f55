"""`planner ics --live` and `planner serve --live` against the emulator over real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from cloudflare_fixtures import ACCOUNT_ID, LICENSE_KEY, TOKEN, seed_connectors
from ical_fixtures import parse_with_ical
from planner.cli import main
from planner.cloudflare.emulator import Emulator

RANGE = ["--from", "2027-01-01", "--until", "2027-02-01"]


def _environment(server: Emulator, token: str = TOKEN) -> dict[str, str]:
    return {
        "CLOUDFLARE_API_TOKEN": token,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
        "CLOUDFLARE_BASE_URL": server.base_url,
    }


def test_ics_live_exports_every_connector() -> None:
    """--live lists the connectors through the API and exports each one's windows."""
    connectors = seed_connectors()
    with Emulator(connectors, account_id=ACCOUNT_ID, token=TOKEN) as server:
        result = CliRunner(env=_environment(server)).invoke(main, ["ics", "--live", *RANGE])

    assert result.exit_code == 0, result.stderr
    calendar = parse_with_ical(result.stdout)
    described = " ".join(event.description or "" for event in calendar.events)
    for connector in connectors:
        assert connector["id"] in described
    assert LICENSE_KEY not in result.stdout


def test_ics_live_wrong_token() -> None:
    """A rejected token exits 1 with the API's reason and never prints the token."""
    with Emulator(seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN) as server:
        result = CliRunner(env=_environment(server, token="wrong-token-value")).invoke(main, ["ics", "--live", *RANGE])

    assert result.exit_code == 1
    assert "10000" in result.stderr
    assert "wrong-token-value" not in result.stderr + result.stdout


def test_ics_live_and_snapshot_conflict(tmp_path: Path) -> None:
    """A snapshot and the live API cannot both be the source."""
    result = CliRunner().invoke(main, ["ics", "--live", "--snapshot", str(tmp_path / "s.json")])

    assert result.exit_code == 2
    assert result.stderr == "Error: --snapshot and --live cannot be combined; read the connectors from one source\n"


def test_serve_needs_one_source() -> None:
    """serve without --snapshot or --live exits 2 naming both."""
    result = CliRunner().invoke(main, ["serve", "--port", "0"])

    assert result.exit_code == 2
    assert result.stderr == "Error: give exactly one source: --snapshot FILE or --live\n"


def test_serve_live_keeps_last_good_calendars() -> None:
    """serve --live refreshes from the API; when the API goes away it keeps serving and logs why."""
    server = Emulator(seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN).start()
    process = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve", "--live", "--port", "0", "--refresh", "1",
         "--read-timeout", "2", "--connect-timeout", "1"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **_environment(server), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        url = None
        for _ in range(40):
            found = re.search(r"Serving calendars on (http://\S+)/", process.stderr.readline())
            if found:
                url = found.group(1)
                break
        assert url is not None
        with urllib.request.urlopen(f"{url}/calendars/fleet.ics", timeout=10) as response:
            first_body = response.read()
            assert response.status == 200

        server.stop()
        time.sleep(3)  # at least one refresh against the stopped API

        with urllib.request.urlopen(f"{url}/calendars/fleet.ics", timeout=10) as response:
            assert response.status == 200
            assert response.read() == first_body
    finally:
        server.stop()
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=20)

    assert process.returncode == 0, log[-3000:]
    # The client logs each failed attempt while it retries; the feed keeps its last calendars.
    assert "WARNING planner.cloudflare" in log
    assert TOKEN not in log


def test_ics_live_skips_unreadable_connector() -> None:
    """One connector the engine cannot read is skipped with a warning; the others are exported."""
    connectors = seed_connectors()
    connectors[1]["timezone"] = "Mars/Olympus_Mons"
    with Emulator(connectors, account_id=ACCOUNT_ID, token=TOKEN) as server:
        result = CliRunner(env=_environment(server)).invoke(main, ["ics", "--live", *RANGE])

    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("Warning: skipped ")
    assert "Mars/Olympus_Mons" in result.stderr
    described = " ".join(event.description or "" for event in parse_with_ical(result.stdout).events)
    assert connectors[0]["id"] in described
    assert connectors[1]["id"] not in described


def test_lone_surrogate_in_notes(tmp_path: Path) -> None:
    """A lone UTF-16 surrogate in notes, valid in JSON, becomes U+FFFD instead of a crash."""
    connector = seed_connectors()[0]
    connector["notes"] = "bad \ud800 notes"
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps([connector]), encoding="utf-8")

    result = CliRunner().invoke(main, ["ics", "--snapshot", str(snapshot), *RANGE])

    assert result.exit_code == 0, result.stderr
    assert "bad \ufffd notes" in result.stdout


def test_serve_rejects_api_token_as_feed_token(tmp_path: Path) -> None:
    """The feed token goes into subscribers' URLs, so it may not be the API token."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    environment = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID, "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4"}

    result = CliRunner(env=environment).invoke(main, ["serve", "--live", "--port", "0", "--token-file", str(token_file)])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --token-file holds the API token; the feed token is handed to every subscriber")
    assert TOKEN not in result.stderr


def test_serve_missing_credentials_names_api_token_option() -> None:
    """Without API credentials, serve names its own option for the API token."""
    environment = {"CLOUDFLARE_API_TOKEN": None, "CLOUDFLARE_API_KEY": None, "CLOUDFLARE_EMAIL": None, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID}

    result = CliRunner(env=environment).invoke(main, ["serve", "--live", "--port", "0"])

    assert result.exit_code == 2
    assert "--api-token-file PATH" in result.stderr
    assert "--token-file PATH" not in result.stderr.replace("--api-token-file", "")
