"""The Connector model, configuration from options and environment, and the rate limiter."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.cloudflare import (
    REDACTED,
    ClientConfig,
    ClientOptions,
    ConfigError,
    Connector,
    Credentials,
    InvalidInputError,
    QuotaReport,
    RateLimit,
    parse_ratelimit_headers,
)
from planner.cloudflare.models import window_request_fields
from planner.cloudflare.ratelimit import QuotaWaitTooLongError, RateLimiter
from planner.engine import DAY_NAMES, WindowSpec

FULL = {
    "id": "c1",
    "notes": "edge",
    "activated": True,
    "primary": True,
    "site_id": "s1",
    "last_updated": "2026-11-30T12:00:00Z",
    "timezone": "America/New_York",
    "interrupt_window_days_of_week": ["Saturday"],
    "interrupt_window_hour_of_day": 22,
    "interrupt_window_duration_hours": 4,
    "interrupt_window_embargo_dates": ["2026-12-25"],
    "device": {"id": "d1", "type": "LICENSED", "new_device_field": 3},
    "license_key": "LK-TOP-SECRET",
    "field_from_2027": {"nested": True},
}


class TestConnector:
    def test_round_trip_keeps_unknown_fields(self) -> None:
        """to_api gives back every field as sent, the licence key redacted."""
        data = Connector.from_api(FULL).to_api()

        assert data == {**FULL, "license_key": REDACTED}

    def test_missing_fields_are_tolerated(self) -> None:
        """Only `id` is needed; the other fields become None and stay missing in to_api."""
        connector = Connector.from_api({"id": "c9"})

        assert connector.timezone is None
        assert connector.to_api() == {"id": "c9"}

    @pytest.mark.parametrize("data", [{}, {"id": 5}, {"id": ""}, ["id"]])
    def test_without_string_id_is_rejected(self, data: object) -> None:
        """A connector needs a non-empty string id."""
        with pytest.raises(ValueError):
            Connector.from_api(data)  # type: ignore[arg-type]

    def test_license_key_never_in_repr_or_str(self) -> None:
        """repr and str show the redaction marker in place of the key."""
        connector = Connector.from_api(FULL)

        assert "LK-TOP-SECRET" not in repr(connector)
        assert "LK-TOP-SECRET" not in str(connector)
        assert f"license_key='{REDACTED}'" in repr(connector)
        assert connector.license_key == "LK-TOP-SECRET"

    def test_numbers_become_floats(self) -> None:
        """Window numbers are floats, as in every SDK; booleans are not turned into numbers."""
        connector = Connector.from_api({**FULL, "interrupt_window_duration_hours": True})

        assert connector.interrupt_window_hour_of_day == 22.0
        assert isinstance(connector.interrupt_window_hour_of_day, float)
        assert connector.interrupt_window_duration_hours is True

    def test_window_spec_from_connector(self) -> None:
        """The window converts to the engine's spec."""
        spec = Connector.from_api(FULL).window_spec()

        assert spec.timezone == "America/New_York"
        assert spec.days_of_week == ("Saturday",)
        assert spec.hour_of_day == 22.0
        assert spec.duration_hours == 4.0
        assert spec.embargo_dates == (dt.date(2026, 12, 25),)

    def test_empty_days_mean_every_day(self) -> None:
        """The API's empty day list is read as all seven days."""
        connector = Connector.from_api({**FULL, "interrupt_window_days_of_week": []})

        assert connector.window_spec().days_of_week == DAY_NAMES

    def test_with_window_from_spec(self) -> None:
        """with_window takes all five fields from a spec and keeps the rest."""
        spec = WindowSpec.parse(
            timezone="Asia/Kolkata",
            days_of_week=["Tue", "Wed"],
            hour_of_day=1.5,
            duration_hours=2,
            embargo_dates=[],
        )
        changed = Connector.from_api(FULL).with_window(spec)

        assert changed.window_fields() == spec.to_api()
        assert changed.window_spec() == spec
        assert changed.notes == "edge"
        assert changed.extra == {"field_from_2027": {"nested": True}}

    def test_writable_fields_exclude_read_only_and_secret(self) -> None:
        """A PUT body from writable_fields has no id, timestamps, device or licence key."""
        body = Connector.from_api(FULL).writable_fields()

        assert set(body) == {
            "activated",
            "notes",
            "primary",
            "site_id",
            "timezone",
            "interrupt_window_days_of_week",
            "interrupt_window_hour_of_day",
            "interrupt_window_duration_hours",
            "interrupt_window_embargo_dates",
        }

    @given(
        hour=st.integers(0, 23) | st.sampled_from([0.5, 1.5, 22.25]),
        duration=st.integers(1, 24),
        days=st.lists(st.sampled_from(DAY_NAMES), min_size=1, unique=True),
    )
    def test_spec_round_trips_through_connector(
        self, hour: float, duration: int, days: list[str]
    ) -> None:
        """spec -> connector -> spec gives the same spec for every valid window."""
        spec = WindowSpec.parse(
            timezone="Europe/Berlin", days_of_week=days, hour_of_day=hour, duration_hours=duration
        )

        assert Connector.from_api({"id": "x"}).with_window(spec).window_spec() == spec


@given(
    # Longer than any extra key and prefixed with letters, so only a leak can contain it.
    license_key=st.text(
        alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=16, max_size=40
    ).map(lambda text: "LK-" + text),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda name: name != "license_key"),
        st.integers() | st.booleans() | st.none(),
        max_size=4,
    ),
)
def test_license_key_redacted_for_any_connector(license_key: str, extra: dict[str, object]) -> None:
    """Whatever else a connector carries, its licence key is absent from repr and to_api."""
    connector = Connector.from_api({**extra, "id": "c1", "license_key": license_key})

    assert license_key not in repr(connector)
    assert license_key not in str(connector.to_api())
    assert connector.to_api()["license_key"] == REDACTED


def test_nested_license_key_is_redacted() -> None:
    """A license_key inside device or an unknown field is redacted like the top-level one."""
    data = {
        **FULL,
        "device": {"id": "d1", "license_key": "LK-IN-DEVICE"},
        "field_from_2027": [{"license_key": "LK-IN-LIST"}],
    }

    shown = Connector.from_api(data).to_api()

    assert shown["device"]["license_key"] == REDACTED
    assert shown["field_from_2027"][0]["license_key"] == REDACTED
    assert "LK-IN" not in repr(Connector.from_api(data))


@pytest.mark.parametrize("value", [math.nan, math.inf, {1, 2}])
def test_window_change_needs_json_values(value: object) -> None:
    """A window value that JSON cannot carry raises InvalidInputError naming the field."""
    with pytest.raises(InvalidInputError, match="invalid interrupt_window_hour_of_day"):
        window_request_fields({"interrupt_window_hour_of_day": value})


class TestConfig:
    ENV = {"CLOUDFLARE_ACCOUNT_ID": "acc", "CLOUDFLARE_API_TOKEN": "env-token"}

    def test_environment_defaults(self) -> None:
        """Without options, the environment and the real API's URL are used."""
        config = ClientConfig.from_options(env=self.ENV)

        assert config.base_url == "https://api.cloudflare.com/client/v4"
        assert config.account_id == "acc"
        assert config.credentials.headers() == {"Authorization": "Bearer env-token"}

    def test_options_win_over_environment(self, tmp_path: Path) -> None:
        """--base-url, --account-id and --token-file replace their variables."""
        token_file = tmp_path / "token"
        token_file.write_text("file-token\n", encoding="utf-8")
        options = ClientOptions(
            base_url="http://127.0.0.1:9/client/v4/",
            account_id="other",
            token_file=token_file,
            connect_timeout=1.5,
            read_timeout=2.5,
            max_concurrency=3,
        )

        config = ClientConfig.from_options(
            options, env={**self.ENV, "CLOUDFLARE_BASE_URL": "http://x"}
        )

        assert config.base_url == "http://127.0.0.1:9/client/v4"
        assert config.account_id == "other"
        assert config.credentials.token == "file-token"
        assert (config.connect_timeout, config.read_timeout, config.max_concurrency) == (
            1.5,
            2.5,
            3,
        )

    def test_email_and_api_key(self) -> None:
        """A global API key is sent with its email."""
        env = {
            "CLOUDFLARE_ACCOUNT_ID": "acc",
            "CLOUDFLARE_EMAIL": "a@example.com",
            "CLOUDFLARE_API_KEY": "global-key",
        }

        headers = ClientConfig.from_options(env=env).credentials.headers()

        assert headers == {"X-Auth-Email": "a@example.com", "X-Auth-Key": "global-key"}

    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"CLOUDFLARE_API_TOKEN": "t"}, "missing account id; set CLOUDFLARE_ACCOUNT_ID"),
            ({"CLOUDFLARE_ACCOUNT_ID": "a"}, "missing credentials; set CLOUDFLARE_API_TOKEN"),
            (
                {"CLOUDFLARE_ACCOUNT_ID": "a", "CLOUDFLARE_EMAIL": "e"},
                "CLOUDFLARE_API_KEY is not set",
            ),
            (
                {
                    "CLOUDFLARE_ACCOUNT_ID": "a",
                    "CLOUDFLARE_API_TOKEN": "t",
                    "CLOUDFLARE_BASE_URL": "ftp://x",
                },
                "invalid base URL 'ftp://x'",
            ),
            (
                {
                    "CLOUDFLARE_ACCOUNT_ID": "a",
                    "CLOUDFLARE_API_TOKEN": "t",
                    "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4?x=1",
                },
                "without a query or fragment",
            ),
            (
                {
                    "CLOUDFLARE_ACCOUNT_ID": "a",
                    "CLOUDFLARE_API_TOKEN": "t",
                    "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4#top",
                },
                "without a query or fragment",
            ),
        ],
    )
    def test_configuration_errors(self, env: dict[str, str], message: str) -> None:
        """Each missing or invalid value raises ConfigError naming the fix."""
        with pytest.raises(ConfigError, match=message):
            ClientConfig.from_options(env=env)

    def test_token_file_problems(self, tmp_path: Path) -> None:
        """A missing or empty token file is named in the error."""
        empty = tmp_path / "empty"
        empty.write_text("\n", encoding="utf-8")

        with pytest.raises(ConfigError, match="cannot read token file .*missing"):
            ClientConfig.from_options(ClientOptions(token_file=tmp_path / "missing"), env=self.ENV)
        with pytest.raises(ConfigError, match="is empty"):
            ClientConfig.from_options(ClientOptions(token_file=empty), env=self.ENV)

    def test_token_file_not_utf8(self, tmp_path: Path) -> None:
        """A token file that is not UTF-8 is a ConfigError that does not quote its bytes."""
        latin1 = tmp_path / "latin1"
        latin1.write_bytes("t\xf6k-SECRET\n".encode("latin-1"))

        with pytest.raises(ConfigError, match="is not UTF-8 text") as caught:
            ClientConfig.from_options(ClientOptions(token_file=latin1), env=self.ENV)

        assert "SECRET" not in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__

    @pytest.mark.parametrize("token", ["two words", "line\nbreak", "", "tök-SECRET", "tab\tx"])
    def test_malformed_token_is_rejected(self, token: str) -> None:
        """A token that cannot be a header value is rejected without showing it."""
        with pytest.raises(ConfigError, match="contains spaces, control characters") as caught:
            Credentials(token=token)

        assert token not in str(caught.value) or not token

    def test_credentials_repr_hides_secrets(self) -> None:
        """Neither a token nor an API key shows in a repr."""
        config = ClientConfig.from_options(env=self.ENV)

        assert "env-token" not in repr(config)
        assert "global-key" not in repr(Credentials(email="e@x", api_key="global-key"))


class TestRateLimiter:
    def test_parse_headers(self) -> None:
        """Cloudflare's header forms are read, case-insensitively on names."""
        headers = {"ratelimit": '"default";r=42;t=17', "ratelimit-policy": '"burst";q=1200;w=300'}

        assert parse_ratelimit_headers(headers) == QuotaReport(
            remaining=42, reset_seconds=17, quota=1200
        )
        assert parse_ratelimit_headers({}) is None
        assert parse_ratelimit_headers({"ratelimit": "garbage"}) is None

    def test_window_is_never_exceeded(self) -> None:
        """With a limit of 3 per 10 s, the fourth start waits until the first leaves the window."""
        clock = FakeClock()
        limiter = RateLimiter(RateLimit(requests=3, period=10), clock=clock.now, sleep=clock.sleep)

        waits = asyncio.run(acquire_many(limiter, 4))

        assert waits == [0, 0, 0, 10]

    def test_low_quota_slows_down(self) -> None:
        """With 1 request left for 6 s, the next request waits 6 / 2 = 3 s."""
        clock = FakeClock()
        limiter = RateLimiter(
            RateLimit(requests=1200, period=300), clock=clock.now, sleep=clock.sleep
        )
        limiter.observe(QuotaReport(remaining=1, reset_seconds=6, quota=1200))

        assert asyncio.run(acquire_many(limiter, 1)) == [3]

    def test_pause_beyond_max_wait_raises(self) -> None:
        """A quota reset further away than max_wait raises at once instead of sleeping."""
        clock = FakeClock()
        limiter = RateLimiter(RateLimit(max_wait=300), clock=clock.now, sleep=clock.sleep)
        limiter.observe(QuotaReport(remaining=0, reset_seconds=100_000, quota=1200))

        with pytest.raises(QuotaWaitTooLongError) as caught:
            asyncio.run(acquire_many(limiter, 1))

        assert caught.value.wait == 100_000
        assert clock.time == 1000.0

    def test_pause_is_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        """A pause from the Ratelimit header logs one WARNING with the wait and the quota."""
        clock = FakeClock()
        limiter = RateLimiter(RateLimit(), clock=clock.now, sleep=clock.sleep)
        limiter.observe(QuotaReport(remaining=0, reset_seconds=40, quota=1200))

        with caplog.at_level(logging.WARNING, logger="planner.cloudflare"):
            waits = asyncio.run(acquire_many(limiter, 1))

        assert waits == [40]
        assert len(caplog.records) == 1
        assert "waiting 40.00 s" in caplog.records[0].getMessage()
        assert "0 requests left, reset in 40 s" in caplog.records[0].getMessage()

    def test_oversized_header_numbers_are_dropped(self) -> None:
        """A number too long for a float makes the header unusable instead of crashing."""
        huge = "9" * 400

        assert parse_ratelimit_headers({"ratelimit": f'"default";r={huge};t=5'}) is None

    @pytest.mark.parametrize("max_wait", [-1.0, math.inf, math.nan])
    def test_invalid_max_wait(self, max_wait: float) -> None:
        """max_wait must be a finite number of seconds."""
        with pytest.raises(ValueError, match="max_wait must be a finite number"):
            RateLimit(max_wait=max_wait)

    def test_ample_quota_does_not_slow_down(self) -> None:
        """Plenty of quota left means no pause."""
        clock = FakeClock()
        limiter = RateLimiter(RateLimit(), clock=clock.now, sleep=clock.sleep)
        limiter.observe(QuotaReport(remaining=900, reset_seconds=200, quota=1200))

        assert asyncio.run(acquire_many(limiter, 2)) == [0, 0]


class FakeClock:
    def __init__(self) -> None:
        self.time = 1000.0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += seconds


async def acquire_many(limiter: RateLimiter, count: int) -> list[float]:
    return [await limiter.acquire() for _ in range(count)]
