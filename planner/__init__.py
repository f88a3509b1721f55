"""Upgrade interrupt windows for Cloudflare One Appliances (Magic WAN Connectors).

The public API is re-exported here; the modules behind it are private to the package.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
