"""Reading feedback files from an inbox: every good file parsed, every bad one named with its reason.

A bad file never stops a scan. Reasons are short, stable phrases so they can be counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from datapilot_pipeline.lib.contracts import FeedbackFile, first_error

MAX_FEEDBACK_BYTES = 5 * 1024 * 1024
IGNORED_NAMES = {"README.md", ".gitkeep"}


class FeedbackFileError(ValueError):
    """A feedback file that cannot be used; `reason` is one line."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


def parse_feedback_bytes(data: bytes, path: Path = Path("<bytes>")) -> FeedbackFile:
    """Decode, parse and validate one feedback file's bytes; raises `FeedbackFileError`."""
    if len(data) > MAX_FEEDBACK_BYTES:
        raise FeedbackFileError(path, f"file is larger than {MAX_FEEDBACK_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FeedbackFileError(path, "not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedbackFileError(path, f"malformed JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise FeedbackFileError(path, "malformed JSON (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise FeedbackFileError(path, f"top level is a JSON {type(raw).__name__}, not an object")
    version = raw.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > 1:
        raise FeedbackFileError(path, f"schema_version {version} is newer than this pipeline supports (1)")
    try:
        return FeedbackFile.model_validate(raw)
    except ValidationError as exc:
        raise FeedbackFileError(path, "invalid: " + first_error(exc)) from None


def read_feedback_file(path: str | os.PathLike) -> FeedbackFile:
    """Read one feedback file; refuses links and non-files. Raises `FeedbackFileError`."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise FeedbackFileError(path, "not a regular file")
    if path.suffix != ".json":
        raise FeedbackFileError(path, "not a feedback file (expected a .json name)")
    if path.stat().st_size > MAX_FEEDBACK_BYTES:
        raise FeedbackFileError(path, f"file is larger than {MAX_FEEDBACK_BYTES // (1024 * 1024)} MB")
    return parse_feedback_bytes(path.read_bytes(), path)


def list_inbox(inbox: str | os.PathLike) -> list[Path]:
    """Every entry of the inbox in a stable order (by name), except hidden names (writers' temp
    files) and the folder's README. Non-feedback entries are listed so they can be reported."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    with os.scandir(inbox) as entries:
        names = [e.name for e in entries if not e.name.startswith(".") and e.name not in IGNORED_NAMES]
    return [inbox / name for name in sorted(names)]


def iter_feedback(paths: Iterable[Path]) -> Iterator[FeedbackFile | Rejected]:
    """Parse each path; yields the `FeedbackFile` or a `Rejected` with the reason."""
    for path in paths:
        try:
            yield read_feedback_file(path)
        except FeedbackFileError as exc:
            yield Rejected(path, exc.reason)
        except OSError as exc:
            yield Rejected(path, f"unreadable ({exc.strerror or exc.__class__.__name__})")


def load_inbox(inbox: str | os.PathLike) -> tuple[list[tuple[Path, FeedbackFile]], list[Rejected]]:
    """Every good feedback file (with its path) and every rejected one with its reason."""
    good: list[tuple[Path, FeedbackFile]] = []
    bad: list[Rejected] = []
    paths = list_inbox(inbox)
    for path, result in zip(paths, iter_feedback(paths)):
        if isinstance(result, Rejected):
            bad.append(result)
        else:
            good.append((path, result))
    return good, bad


def drop_repeated_ids(good: list[tuple[Path, FeedbackFile]]) -> tuple[list[tuple[Path, FeedbackFile]],
                                                                      list[Path], list[Rejected]]:
    """The first file of each feedback_id (in the given order), the later identical deliveries, and the later
    files that reuse a feedback_id with other content (rejected, as the ingestion quarantines them)."""
    first: dict[str, tuple[Path, FeedbackFile]] = {}
    duplicates: list[Path] = []
    conflicts: list[Rejected] = []
    for path, feedback in good:
        seen = first.get(feedback.feedback_id)
        if seen is None:
            first[feedback.feedback_id] = (path, feedback)
        elif seen[1] == feedback:
            duplicates.append(path)
        else:
            conflicts.append(Rejected(path, f"feedback_id {feedback.feedback_id} was already read from "
                                            f"{seen[0].name} with different content"))
    return list(first.values()), duplicates, conflicts


def feedback_filename(job_id: str, created_at: str, feedback_id: str) -> str:
    """`feedback_<job_id>_<UTC yyyymmddThhmmssZ>_<short uuid>.json` (DESIGN.md)."""
    from datetime import datetime, timezone

    stamp = datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(timezone.utc)
    return f"feedback_{job_id}_{stamp:%Y%m%dT%H%M%SZ}_{feedback_id.replace('-', '')[:8]}.json"
