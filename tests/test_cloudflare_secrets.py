"""Tokens and licence keys never reach logs, error messages or printed connectors."""

from __future__ import annotations

import logging

import httpx
import pytest
from cloudflare_fixtures import ACCOUNT_ID, BERLIN, LICENSE_KEY, TOKEN, make_client, seed_connectors

from planner.cloudflare import CloudflareError, Credentials
from planner.cloudflare.emulator import Emulator


def test_secrets_stay_out_of_logs_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG, a session with errors, retries and rotations leaks nothing."""
    printed: list[str] = []
    with Emulator(
        seed_connectors(), account_id=ACCOUNT_ID, token=TOKEN, echo_license_key=True
    ) as server:
        base = f"{server.base_url}/accounts/{ACCOUNT_ID}/magic/connectors/{BERLIN['id']}"
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            rotated = http.patch(base, json={"provision_license": True}).json()["result"][
                "license_key"
            ]

        with caplog.at_level(logging.DEBUG):
            server.fail_next("reset_after", method="PATCH")
            server.fail_next("error_503", method="GET")
            with make_client(server) as client:
                connectors = client.list_connectors()
                printed += [repr(item) for item in connectors]
                printed.append(str(client.get_connector(BERLIN["id"])))
                printed.append(
                    repr(client.edit_window(BERLIN["id"], {"interrupt_window_hour_of_day": 1}))
                )
                for bad_call in (
                    lambda: client.get_connector("missing"),
                    lambda: client.edit_window(
                        BERLIN["id"], {"interrupt_window_duration_hours": 99}
                    ),
                ):
                    with pytest.raises(CloudflareError) as caught:
                        bad_call()
                    printed += [str(caught.value), repr(caught.value)]
            with make_client(server, credentials=Credentials(token="other-secret-token")) as wrong:
                with pytest.raises(CloudflareError) as caught:
                    wrong.list_connectors()
                printed += [str(caught.value), repr(caught.value), repr(wrong.config)]

    text = caplog.text + "\n".join(printed)
    assert "planner.cloudflare" in caplog.text
    assert "<redacted>" in "\n".join(printed)
    for secret in (TOKEN, "other-secret-token", LICENSE_KEY, rotated):
        assert secret not in text


def test_credentials_repr() -> None:
    """Credentials show their kind, never their value."""
    assert repr(Credentials(token="tok-123")) == "Credentials(<token, redacted>)"
    assert "key-456" not in repr(Credentials(email="a@example.com", api_key="key-456"))
