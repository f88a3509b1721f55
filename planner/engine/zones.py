"""Time zones: loading from the IANA database, name checks, suggestions and versions.

The engine reads zones from the `tzdata` package by default, so every machine computes the same
windows whatever its operating system ships. The system database (`/usr/share/zoneinfo` and the
other `zoneinfo.TZPATH` entries) can be chosen instead. Reading a zone file is the engine's only
contact with the outside world: the files are static data, loaded once and cached.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import re
import zoneinfo
from pathlib import Path
from typing import Literal

TzDatabase = Literal["tzdata", "system"]

TZ_DATABASES: tuple[TzDatabase, ...] = ("tzdata", "system")

# IANA names are ASCII path segments; checking the form first keeps values such as "../etc/passwd"
# or an absolute path away from the file system.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


# Files in a zone database that are not places: a placeholder zone, links to the machine's own
# setting, and the "right/" variants that count leap seconds, which civil time does not.
_NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})


class ZoneNotFoundError(KeyError):
    """A time zone name that the chosen database does not contain."""


@functools.cache
def zone_names(database: TzDatabase = "tzdata") -> frozenset[str]:
    """Return every zone name that `database` contains."""
    if database == "tzdata":
        listing = importlib.resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
        return frozenset(
            line.strip() for line in listing.splitlines() if line.strip() and line.strip() not in _NOT_ZONES
        )
    names: set[str] = set()
    for root in zoneinfo.TZPATH:
        base = Path(root)
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            name = path.relative_to(base).as_posix()
            if (
                path.is_file()
                and _ZONE_NAME.fullmatch(name)
                and name not in _NOT_ZONES
                and not name.startswith(("posix/", "right/"))
                and _is_tzif(path)
            ):
                names.add(name)
    return frozenset(names)


def _is_tzif(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"TZif"


@functools.cache
def load_zone(name: str, database: TzDatabase = "tzdata") -> zoneinfo.ZoneInfo:
    """Load the zone `name` from `database`.

    Raises `ZoneNotFoundError` when the database has no such zone.
    """
    if not _ZONE_NAME.fullmatch(name) or name not in zone_names(database):
        raise ZoneNotFoundError(name)
    if database == "system":
        return zoneinfo.ZoneInfo.no_cache(name)

    # zoneinfo.ZoneInfo(name) would prefer the system database when one exists, so the package's
    # file is opened directly.
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with resource.open("rb") as handle:
        return zoneinfo.ZoneInfo.from_file(handle, key=name)


@functools.cache
def tzdata_version(database: TzDatabase = "tzdata") -> str:
    """Return the IANA release of `database`, such as "2026a", or "unknown" when the database has no version line."""
    if database == "tzdata":
        import tzdata  # type: ignore[import-untyped]

        return str(tzdata.IANA_VERSION)
    for root in zoneinfo.TZPATH:
        source = Path(root) / "tzdata.zi"
        if source.is_file():
            with source.open(encoding="utf-8") as handle:
                first_line = handle.readline()
            if first_line.startswith("# version "):
                return first_line.removeprefix("# version ").strip()
    return "unknown"


def windows_zone_to_iana(name: str) -> str | None:
    """Return the IANA zone for a Windows zone name such as "W. Europe Standard Time", or None.

    The mapping is the CLDR table that the `tzlocal` package ships.
    """
    from tzlocal.windows_tz import win_tz

    iana = win_tz.get(name)
    if iana is None:
        folded = name.casefold()
        iana = next((value for key, value in win_tz.items() if key.casefold() == folded), None)
    return iana


def suggest_zones(name: str, database: TzDatabase = "tzdata", limit: int = 3) -> list[str]:
    """Return up to `limit` zone names close to `name`, closest first."""
    names = zone_names(database)
    by_folded = {candidate.casefold(): candidate for candidate in names}
    exact = by_folded.get(name.casefold())
    if exact is not None:
        return [exact]
    matches = difflib.get_close_matches(name.casefold(), by_folded, n=limit, cutoff=0.75)
    return [by_folded[match] for match in matches]
