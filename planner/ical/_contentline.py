"""Content lines written by hand: value formatting, TEXT escaping and 75-octet folding.

Building a component tree with `icalendar` for every window costs far more than the windows
themselves in a fleet calendar, so the exporter writes RFC 5545 content lines directly. This
module contains the few rules that this takes (RFC 5545 section 3.1 for lines, 3.3 for values).
"""

from __future__ import annotations

import re

from datetime import UTC, date, datetime, timedelta

CRLF = "\r\n"

# RFC 5545 section 3.1: lines should not be longer than 75 octets, line break excluded. A folded
# line continues after CRLF and one space, and that space counts towards the next line's 75.
MAX_LINE_OCTETS = 75

# TEXT values escape backslash, semicolon and comma, and write a line break as "\n" (section
# 3.3.11). Other control characters are not allowed in TEXT at all (section 3.1, except HTAB), so
# they are dropped.
_TEXT_ESCAPES = {
    ord("\\"): "\\\\",
    ord(";"): "\\;",
    ord(","): "\\,",
    ord("\n"): "\\n",
    **{code: None for code in range(0x20) if code not in (0x09, 0x0A)},
    0x7F: None,
}


def escape_text(value: str) -> str:
    """Escape `value` for a TEXT property value, reading CRLF and CR as one line break."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.translate(_TEXT_ESCAPES)


def fold(line: str) -> str:
    """Return `line` folded at 75 octets and ended by CRLF, never splitting a UTF-8 sequence."""
    if len(line) <= MAX_LINE_OCTETS and line.isascii():
        return line + CRLF
    if line.isascii():
        parts = [line[:MAX_LINE_OCTETS]]
        parts.extend(
            line[index : index + MAX_LINE_OCTETS - 1]
            for index in range(MAX_LINE_OCTETS, len(line), MAX_LINE_OCTETS - 1)
        )
        return (CRLF + " ").join(parts) + CRLF
    return _fold_unicode(line)


# JSON can carry a lone UTF-16 surrogate ("\ud800"), which UTF-8 cannot encode.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _fold_unicode(line: str) -> str:
    line = _LONE_SURROGATE.sub("\ufffd", line)
    parts: list[str] = []
    current: list[str] = []
    size = 0
    limit = MAX_LINE_OCTETS
    for character in line:
        width = len(character.encode("utf-8"))
        if size + width > limit:
            parts.append("".join(current))
            current = []
            size = 0
            limit = MAX_LINE_OCTETS - 1
        current.append(character)
        size += width
    parts.append("".join(current))
    return (CRLF + " ").join(parts) + CRLF


def format_local(value: datetime) -> str:
    """Format the wall time of `value` as a DATE-TIME in local form, such as 20260308T033000."""
    return (
        f"{value.year:04d}{value.month:02d}{value.day:02d}"
        f"T{value.hour:02d}{value.minute:02d}{value.second:02d}"
    )


def format_utc(value: datetime) -> str:
    """Format an aware `value` as a DATE-TIME in UTC form, such as 20260308T073000Z."""
    return format_local(value.astimezone(UTC)) + "Z"


def format_date(value: date) -> str:
    """Format `value` as a DATE, such as 20261224."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def format_duration(value: timedelta) -> str:
    """Format a positive `value` as an exact DURATION in hours, minutes and seconds.

    RFC 5545 section 3.3.6 makes days and weeks nominal (a day can last 23 or 25 hours), so a 24
    hour window is written PT24H rather than P1D to keep its elapsed length.
    """
    total = int(value.total_seconds())
    if total <= 0 or value != timedelta(seconds=total):
        raise ValueError(f"duration {value!r} must be a positive whole number of seconds")
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds:
        text += f"{seconds}S"
    return text


def format_offset(value: timedelta) -> str:
    """Format a UTC offset as a UTC-OFFSET value, such as +0545 or -0330 (seconds when needed)."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}{minutes:02d}"
    if seconds:
        text += f"{seconds:02d}"
    return text
