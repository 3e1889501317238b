"""Reading JSONL: one JSON value per line, blank lines skipped, a bad line named by its 1-based number."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A line that is not JSON (or not UTF-8); the message is `<file>:<line>: <why>`."""


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield `(line_number, value)` for every non-blank line. Lines end at "\\n" only: a raw "\\r", U+2028 or
    U+0085 inside a value does not split it; a UTF-8 byte order mark before line 1 is ignored. Raises
    `JsonlError` at the first bad line."""
    path = Path(path)
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise JsonlError(f"{path}:{number}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlError(f"{path}:{number}: not JSON ({exc.msg})") from None
            except RecursionError:
                raise JsonlError(f"{path}:{number}: not JSON (nested too deeply)") from None
