"""Shared CLI plumbing: one clear line on stderr and an exit code for bad input, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad usage or bad input: reported as `datapilot: error: <message>` with exit code 2."""


class Interrupted(Exception):
    """Ctrl-C with something to say about what was kept: `datapilot: <message>`, exit code 130."""


def run_handler(handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    try:
        return int(handler(args) or 0)
    except UsageError as exc:
        print(f"datapilot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"datapilot: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("datapilot: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def existing_file(value: str) -> Path:
    """argparse `type=` for an input file that must exist (a directory is named as one)."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory; give a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def output_dir(path: Path, flag: str) -> Path:
    """Check, before any work, that the folder an option names for output is a folder or can be made one
    (nothing is created here): a file there, or no writable folder above it, is a UsageError."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file; give a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: cannot create the directory ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot create the directory ({existing} is not writable)")
    return path


def output_file(path: Path, flag: str) -> Path:
    """An output file path: not a directory, and its folder can be created."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file path")
    output_dir(path.parent, f"{flag} folder")
    return path


def int_in_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse `type=` for an int within [low, high]."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {number}")
        return number

    return parse
