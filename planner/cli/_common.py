"""Helpers shared by the click commands: usage errors and JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

import click

# Exit statuses, as click uses them: 1 for an operational failure, 2 for bad input.
EXIT_FAILURE = 1
EXIT_USAGE = 2


def fail_usage(messages: Iterable[str]) -> NoReturn:
    """Print one `Error:` line per message on stderr and exit with status 2."""
    for message in messages:
        click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def echo_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def read_json_file(path: str, what: str) -> Any:
    """Load a JSON file, or exit with status 2 and a message naming the file and the problem."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        fail_usage([f"cannot read {what} {path!r}: {error.strerror}"])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail_usage([f"{what} {path!r} is not valid JSON: {error}"])
    except RecursionError:
        fail_usage([f"{what} {path!r} nests JSON too deeply to read; check that it is an API response"])
