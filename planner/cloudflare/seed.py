"""Connector objects for the emulator: a seed file reader and a generator of realistic fleets."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

# (site code, IANA zone): real zones on every continent, several with DST and one with a
# 30-minute offset, so generated fleets exercise the engine's zone handling.
_SITES: tuple[tuple[str, str], ...] = (
    ("fra", "Europe/Berlin"),
    ("lon", "Europe/London"),
    ("par", "Europe/Paris"),
    ("mad", "Europe/Madrid"),
    ("war", "Europe/Warsaw"),
    ("ist", "Europe/Istanbul"),
    ("nyc", "America/New_York"),
    ("chi", "America/Chicago"),
    ("den", "America/Denver"),
    ("lax", "America/Los_Angeles"),
    ("sao", "America/Sao_Paulo"),
    ("mex", "America/Mexico_City"),
    ("jnb", "Africa/Johannesburg"),
    ("nbo", "Africa/Nairobi"),
    ("dxb", "Asia/Dubai"),
    ("bom", "Asia/Kolkata"),
    ("sin", "Asia/Singapore"),
    ("tyo", "Asia/Tokyo"),
    ("syd", "Australia/Sydney"),
    ("adl", "Australia/Adelaide"),
    ("akl", "Pacific/Auckland"),
    ("utc", "UTC"),
)
_START_HOURS = (0, 1, 2, 3, 4, 22, 23, 1.5)
_DURATIONS = (2, 3, 4, 4, 6)
_DAY_CHOICES: tuple[tuple[str, ...], ...] = (
    (),
    ("Saturday", "Sunday"),
    ("Sunday",),
    ("Tuesday", "Wednesday", "Thursday"),
    ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
)
_EMBARGO_CHOICES: tuple[tuple[str, ...], ...] = (
    (),
    (),
    ("2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31", "2027-01-01"),
    ("2026-11-27", "2026-11-30"),
)


def load_seed_file(path: Path) -> list[dict[str, Any]]:
    """Read connector objects from a JSON list, or from a list response envelope.

    Raises ValueError naming the file when it is not JSON or contains something else.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read connectors file {str(path)!r}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"connectors file {str(path)!r} is not valid JSON: {error}") from None

    if isinstance(data, dict) and isinstance(data.get("result"), list):
        data = data["result"]
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in data
    ):
        raise ValueError(
            f"connectors file {str(path)!r} must contain a JSON list of connector objects, "
            "each with a string 'id'"
        )
    return data


def generate_connectors(count: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """Generate `count` connector objects across real zones, deterministic for a seed.

    About two thirds of the sites are high-availability pairs: both members share a `site_id`,
    exactly one has `primary: true`, and they start with the same window (the unsafe case a
    rollout has to fix). Every object has the fields the 2026 schema marks as required.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rng = random.Random(seed)
    connectors: list[dict[str, Any]] = []
    site_number = 0
    while len(connectors) < count:
        site_number += 1
        code, zone = _SITES[site_number % len(_SITES)]
        members = 2 if rng.random() < 0.66 and count - len(connectors) >= 2 else 1
        site_id = _hex_id(rng)
        window = {
            "timezone": zone,
            "interrupt_window_days_of_week": list(rng.choice(_DAY_CHOICES)),
            "interrupt_window_hour_of_day": rng.choice(_START_HOURS),
            "interrupt_window_duration_hours": rng.choice(_DURATIONS),
            "interrupt_window_embargo_dates": list(rng.choice(_EMBARGO_CHOICES)),
        }
        for member in range(members):
            connectors.append(_connector(rng, code, site_number, member, members, site_id, window))
    return connectors


def _connector(
    rng: random.Random,
    code: str,
    site_number: int,
    member: int,
    members: int,
    site_id: str,
    window: dict[str, Any],
) -> dict[str, Any]:
    licensed = rng.random() < 0.2
    device: dict[str, Any] = {"id": _hex_id(rng), "type": "LICENSED" if licensed else "MANAGED"}
    if not licensed:
        device["serial_number"] = f"CF1{rng.randrange(10**9):09d}"

    heartbeat = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(86400))
    role = ""
    if members == 2:
        role = " primary" if member == 0 else " secondary"
    return {
        "id": _hex_id(rng),
        "notes": f"{code}-{site_number:04d}-{member + 1}{role}",
        "activated": True,
        "primary": member == 0,
        "site_id": site_id,
        "last_updated": "2026-11-30T12:00:00.000000Z",
        "last_heartbeat": heartbeat.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "last_seen_version": rng.choice(("2026.9.1", "2026.10.0", "2026.11.2")),
        "device": device,
        **{
            name: list(value) if isinstance(value, list) else value
            for name, value in window.items()
        },
    }


def _hex_id(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex
