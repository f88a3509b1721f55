"""Content-line writing: TEXT escaping, 75-octet folding and value formats."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.ical._contentline import (
    escape_text,
    fold,
    format_duration,
    format_offset,
)


def _physical_lines(folded: str) -> list[bytes]:
    assert folded.endswith("\r\n")
    return folded.encode("utf-8")[:-2].split(b"\r\n")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=400))
def test_fold_keeps_lines_short_and_unfolds_back(line: str) -> None:
    folded = fold(line)
    physical = _physical_lines(folded)
    for number, octets in enumerate(physical):
        assert len(octets) <= 75, octets
        if number:
            assert octets.startswith(b" ")
        octets.decode("utf-8")  # no UTF-8 sequence is split across lines
    assert folded[:-2].replace("\r\n ", "") == line


def test_fold_short_ascii_line_unchanged() -> None:
    assert fold("SUMMARY:short") == "SUMMARY:short\r\n"


def test_fold_exactly_75_octets_not_folded() -> None:
    line = "X" * 75
    assert fold(line) == line + "\r\n"
    assert fold(line + "Y") == line + "\r\n Y\r\n"


def test_fold_never_splits_multibyte_character() -> None:
    line = "SUMMARY:" + "€" * 40
    for octets in _physical_lines(fold(line)):
        assert len(octets) <= 75
        octets.decode("utf-8")


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a,b;c\\d", "a\\,b\\;c\\\\d"),
        ("line one\nline two", "line one\\nline two"),
        ("crlf\r\nand cr\r", "crlf\\nand cr\\n"),
        ("bell\x07 and tab\t", "bell and tab\t"),
    ],
)
def test_escape_text(value: str, escaped: str) -> None:
    assert escape_text(value) == escaped


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_escaped_text_reads_back_with_icalendar(value: str) -> None:
    """icalendar reads a folded, escaped SUMMARY back to the original text."""
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        "UID:x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\n"
        + fold(f"SUMMARY:{escape_text(value)}")
        + "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=4), "PT4H"),
        (timedelta(hours=24), "PT24H"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(minutes=45), "PT45M"),
    ],
)
def test_format_duration_is_exact(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_duration_rejects_zero() -> None:
    with pytest.raises(ValueError, match="positive"):
        format_duration(timedelta(0))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=5, minutes=45), "+0545"),
        (timedelta(hours=-3, minutes=-30), "-0330"),
        (timedelta(0), "+0000"),
        (timedelta(minutes=53, seconds=28), "+005328"),
    ],
)
def test_format_offset(value: timedelta, text: str) -> None:
    assert format_offset(value) == text
