"""Write samples/connectors.json: a fleet snapshot in the API's list format.

The snapshot is committed; this script documents how it was made and remakes it byte for byte.
Run: python samples/make_snapshot.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# (site, city, zone, days, hour, duration, HA pair): zones on every continent, 30- and 45-minute
# offsets, southern-hemisphere DST, and zones whose rules changed recently (Mexico City, Tehran,
# Asuncion, Almaty, Nuuk and Apia stopped or changed DST between 2021 and 2024).
SITES = [
    ("nyc", "new-york", "America/New_York", ["Sunday"], 2, 4, True),
    ("chi", "chicago", "America/Chicago", ["Saturday", "Sunday"], 1, 3, False),
    ("den", "denver", "America/Denver", ["Sunday"], 3, 2, False),
    ("lax", "los-angeles", "America/Los_Angeles", ["Saturday"], 23, 4, True),
    ("yyt", "st-johns", "America/St_Johns", ["Sunday"], 2.5, 2, False),
    ("mex", "mexico-city", "America/Mexico_City", ["Sunday"], 2, 4, False),
    ("gru", "sao-paulo", "America/Sao_Paulo", ["Sunday"], 3, 3, True),
    ("scl", "santiago", "America/Santiago", ["Saturday"], 23.5, 2, False),
    ("asu", "asuncion", "America/Asuncion", ["Sunday"], 0, 3, False),
    ("goh", "nuuk", "America/Nuuk", ["Saturday"], 22, 4, False),
    ("lhr", "london", "Europe/London", ["Sunday"], 1, 3, True),
    ("fra", "frankfurt", "Europe/Berlin", ["Saturday", "Sunday"], 2, 4, True),
    ("muc", "munich", "Europe/Berlin", ["Sunday"], 2.5, 2, False),
    ("cdg", "paris", "Europe/Paris", ["Sunday"], 3, 2, False),
    ("mad", "madrid", "Europe/Madrid", ["Saturday"], 22, 4, False),
    ("hel", "helsinki", "Europe/Helsinki", ["Sunday"], 3, 2, False),
    ("kbp", "kyiv", "Europe/Kyiv", ["Sunday"], 2, 3, False),
    ("ist", "istanbul", "Europe/Istanbul", ["Sunday"], 2, 3, False),
    ("cai", "cairo", "Africa/Cairo", ["Friday"], 0, 4, False),
    ("los", "lagos", "Africa/Lagos", ["Sunday"], 2, 3, False),
    ("jnb", "johannesburg", "Africa/Johannesburg", ["Sunday"], 1, 4, True),
    ("cmn", "casablanca", "Africa/Casablanca", ["Sunday"], 2, 2, False),
    ("nbo", "nairobi", "Africa/Nairobi", ["Saturday", "Sunday"], 1, 2, False),
    ("dxb", "dubai", "Asia/Dubai", ["Friday", "Saturday"], 2, 4, True),
    ("thr", "tehran", "Asia/Tehran", ["Friday"], 1.5, 3, False),
    ("bom", "mumbai", "Asia/Kolkata", ["Sunday"], 2.5, 3, True),
    ("ktm", "kathmandu", "Asia/Kathmandu", ["Saturday"], 2, 2, False),
    ("ala", "almaty", "Asia/Almaty", ["Sunday"], 3, 2, False),
    ("sin", "singapore", "Asia/Singapore", ["Sunday"], 2, 4, True),
    ("hkg", "hong-kong", "Asia/Hong_Kong", ["Sunday"], 3, 3, False),
    ("nrt", "tokyo", "Asia/Tokyo", ["Sunday"], 2, 4, True),
    ("syd", "sydney", "Australia/Sydney", ["Sunday"], 2, 4, True),
    ("adl", "adelaide", "Australia/Adelaide", ["Sunday"], 2.5, 2, False),
    ("ucl", "eucla", "Australia/Eucla", ["Saturday"], 22, 4, False),
    ("lhi", "lord-howe", "Australia/Lord_Howe", ["Sunday"], 2, 2, False),
    ("akl", "auckland", "Pacific/Auckland", ["Sunday"], 2.5, 3, True),
    ("cht", "chatham", "Pacific/Chatham", ["Sunday"], 3, 2, False),
    ("apw", "apia", "Pacific/Apia", ["Saturday"], 23, 3, False),
    ("mcm", "mcmurdo", "Antarctica/McMurdo", ["Sunday"], 2, 2, False),
    ("trl", "troll", "Antarctica/Troll", ["Sunday"], 1, 2, False),
    ("utc", "cloud-edge", "UTC", ["Tuesday", "Wednesday", "Thursday"], 3, 1, False),
    ("hnl", "honolulu", "Pacific/Honolulu", ["Sunday"], 2, 3, False),
    ("anc", "anchorage", "America/Anchorage", ["Sunday"], 2, 3, False),
    ("bog", "bogota", "America/Bogota", ["Sunday"], 1, 3, False),
    ("hav", "havana", "America/Havana", ["Sunday"], 0.5, 2, False),
    ("ruh", "riyadh", "Asia/Riyadh", ["Friday"], 2, 3, False),
    ("dac", "dhaka", "Asia/Dhaka", ["Friday"], 2, 2, False),
    ("rgn", "yangon", "Asia/Yangon", ["Sunday"], 2, 2, False),
]


# ISO 3166 country of each site, which the notes carry so that fleet files can match by country
# ("branch-us-*") and apply that country's public holidays.
COUNTRY = {
    "nyc": "us", "chi": "us", "den": "us", "lax": "us", "yyt": "ca", "mex": "mx", "gru": "br", "scl": "cl",
    "asu": "py", "goh": "gl", "lhr": "gb", "fra": "de", "muc": "de", "cdg": "fr", "mad": "es", "hel": "fi",
    "kbp": "ua", "ist": "tr", "cai": "eg", "los": "ng", "jnb": "za", "cmn": "ma", "nbo": "ke", "dxb": "ae",
    "thr": "ir", "bom": "in", "ktm": "np", "ala": "kz", "sin": "sg", "hkg": "hk", "nrt": "jp", "syd": "au",
    "adl": "au", "ucl": "au", "lhi": "au", "akl": "nz", "cht": "nz", "apw": "ws", "mcm": "aq", "trl": "aq",
    "utc": "", "hnl": "us", "anc": "us", "bog": "co", "hav": "cu", "ruh": "sa", "dac": "bd", "rgn": "mm",
}


def _hex(*parts: object) -> str:
    return hashlib.sha256("/".join(str(part) for part in parts).encode()).hexdigest()[:32]


def connectors() -> list[dict[str, object]]:
    fleet = []
    for site, city, zone, days, hour, duration, ha_pair in SITES:
        site_id = _hex("site", site)
        members = [True, False] if ha_pair else [True]
        for index, primary in enumerate(members):
            serial = f"CF1A{_hex('serial', site, index)[:10].upper()}"
            fleet.append(
                {
                    "id": _hex("connector", site, index),
                    "activated": True,
                    "notes": f"branch-{COUNTRY[site]}-{city}-{index + 1}" if site != "utc" else "hub-cloud-edge-1",
                    "site_id": site_id,
                    "primary": primary,
                    "timezone": zone,
                    "interrupt_window_days_of_week": days,
                    "interrupt_window_hour_of_day": hour,
                    "interrupt_window_duration_hours": duration,
                    "interrupt_window_embargo_dates": [],
                    "last_updated": "2026-11-20T09:30:00Z",
                    "last_heartbeat": "2026-12-04T08:00:00Z",
                    "last_seen_version": "2026.11.2",
                    "device": {"id": _hex("device", site, index), "serial_number": serial, "type": "MANAGED"},
                }
            )
    return fleet


def main() -> None:
    envelope = {"success": True, "errors": [], "messages": [], "result": connectors()}
    target = Path(__file__).with_name("connectors.json")
    target.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(envelope['result'])} connectors to {target}")


if __name__ == "__main__":
    main()
