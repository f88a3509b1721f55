"""The worked cases in tests/data/windows.json, computed with the IANA database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from planner.engine import WindowSpec, expand

CASES = json.loads((Path(__file__).parent / "data" / "windows.json").read_text(encoding="utf-8"))


def _spec(case: dict[str, Any]) -> WindowSpec:
    spec = case["spec"]
    return WindowSpec.parse(
        timezone=spec["timezone"],
        days_of_week=spec["days"],
        hour_of_day=spec["hour"],
        duration_hours=spec["duration"],
        embargo_dates=spec["embargo"],
    )


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_worked_case(case: dict[str, Any]) -> None:
    """Each worked case yields exactly its expected windows, field by field."""
    windows = expand(
        _spec(case),
        datetime.fromisoformat(case["from"]),
        datetime.fromisoformat(case["until"]),
        embargo_rule=case["spec"].get("embargo_rule", "overlap"),
    )

    assert len(windows) == len(case["windows"])
    for window, expected in zip(windows, case["windows"], strict=True):
        got = window.as_dict()
        for key, value in expected.items():
            assert got[key] == value, key
