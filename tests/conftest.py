"""Test settings shared by every test module."""

from __future__ import annotations

import os

from hypothesis import settings

# CI runs the same examples every time, so a red build points at a change and not at a new
# random draw; local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
