"""The `planner` command line: click commands that parse, call the library and format output."""

from __future__ import annotations

import click

from planner import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="planner")
def main() -> None:
    """Plan, export and roll out upgrade interrupt windows for Cloudflare One Appliances."""


# Each command lives in its own module and is added to `main` here.
from planner.cli import api as _api  # noqa: E402
from planner.cli import connectors as _connectors  # noqa: E402
from planner.cli import fleet as _fleet  # noqa: E402
from planner.cli import ics as _ics  # noqa: E402
from planner.cli import windows as _windows  # noqa: E402

main.add_command(_api.emulator)
main.add_command(_connectors.connectors)
main.add_command(_windows.windows)
main.add_command(_ics.ics)
main.add_command(_ics.serve)
main.add_command(_fleet.plan)
main.add_command(_fleet.apply)
main.add_command(_fleet.rollback)
main.add_command(_fleet.history)
