"""Test settings shared by every test module."""

from __future__ import annotations

import os

from hypothesis import settings

# Every server in the tests listens on 127.0.0.1; a proxy from the environment must not carry the
# test traffic (or the test token) to another host, whatever client a test uses.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)

# CI runs the same examples every time, so a red build points at a change and not at a new
# random draw. Local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
