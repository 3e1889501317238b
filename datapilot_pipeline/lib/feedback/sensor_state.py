"""Incremental inbox scanning for the new-feedback sensor: a tick parses only the files that arrived since the
previous tick, so its cost is one `stat` per inbox entry plus one parse per *new* file.

The ingestion moves every file it stores out of the inbox (to the archive), and every run that ingests also exports.
So a counted review whose file has left the inbox was covered by that run's export: each tick drops it from the
count (one `stat` per pending file, at most the threshold). After `make run` the demo's reviews are archived and
the sensor requests nothing; reviews an export already covered never trigger a second one.

Arrival order is `(st_ctime_ns, name)`. The inode change time is set by the rename that publishes an atomically
written file (and by every write of a file copied in place), and no tool can set it back the way `cp -p` or rsync
set mtime, so a file that lands after a tick always sorts after that tick's position. Files younger than
`settle_s` are left for the next tick: a file still being copied in place is not read half-written.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.feedback.inbox import IGNORED_NAMES, FeedbackFileError, read_feedback_file

CURSOR_VERSION = 1


class CursorError(ValueError):
    """A stored sensor cursor that this code cannot read."""


@dataclass(frozen=True)
class SensorCursor:
    """Where the sensor stands: the last consumed arrival position, and eligible examples counted since the last
    export request. Serialized as JSON in Dagster's sensor cursor, so it survives daemon restarts."""

    ctime_ns: int = 0
    name: str = ""
    pending: int = 0  # eligible examples since the last export request
    files_seen: int = 0
    rejected: int = 0
    exports_requested: int = 0
    # feedback_ids counted in `pending`, so a review delivered again before the export is not counted twice.
    # Bounded by the threshold: the list is emptied when an export is requested.
    pending_ids: tuple[str, ...] = ()
    # The inbox file of each pending id (same order); empty in a cursor written before files were tracked.
    pending_files: tuple[str, ...] = ()

    def position(self) -> tuple[int, str]:
        return (self.ctime_ns, self.name)

    def encode(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, **asdict(self)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> "SensorCursor":
        """The cursor stored by a previous tick; `None` or empty means a sensor that never ran."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CursorError(f"sensor cursor is not JSON ({exc.msg}); reset it from the UI or CLI") from None
        if not isinstance(raw, dict) or raw.get("v") != CURSOR_VERSION:
            raise CursorError(f"sensor cursor has an unknown format: {text[:80]!r}")
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        lists = {k: fields.pop(k, []) for k in ("pending_ids", "pending_files")}
        bad = [k for k, v in fields.items() if not isinstance(v, str if k == "name" else int) or isinstance(v, bool)]
        bad += [k for k, v in lists.items() if not isinstance(v, list) or not all(isinstance(i, str) for i in v)]
        if bad:
            raise CursorError(f"sensor cursor has invalid field(s): {', '.join(sorted(bad))}")
        return cls(**fields, **{k: tuple(v) for k, v in lists.items()})

    def without_ingested(self, inbox: str | os.PathLike) -> "SensorCursor":
        """The cursor less the pending reviews whose files a run has since moved out of the inbox (ingested and
        exported by that run)."""
        if not self.pending_ids or len(self.pending_files) != len(self.pending_ids):
            return self
        inbox = Path(inbox)
        kept = [(i, name) for i, name in zip(self.pending_ids, self.pending_files) if os.path.lexists(inbox / name)]
        if len(kept) == len(self.pending_ids):
            return self
        return replace(self, pending=len(kept), pending_ids=tuple(i for i, _ in kept),
                       pending_files=tuple(name for _, name in kept))


@dataclass(frozen=True)
class InboxEntry:
    ctime_ns: int
    name: str
    path: Path

    def position(self) -> tuple[int, str]:
        return (self.ctime_ns, self.name)


def new_entries(inbox: str | os.PathLike, after: tuple[int, str], settle_s: float = 0.0,
                now_ns: int | None = None) -> list[InboxEntry]:
    """Feedback files of `inbox` whose arrival position is after `after` and older than `settle_s`, oldest first.

    Only `os.scandir` and one `stat` per entry: nothing is opened. Hidden names (writers' temp files), the README,
    non-`.json` names, links and folders are not feedback and are passed over."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    horizon = (now_ns if now_ns is not None else time.time_ns()) - int(settle_s * 1e9)
    found: list[InboxEntry] = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in IGNORED_NAMES or not name.endswith(".json"):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                ctime_ns = entry.stat(follow_symlinks=False).st_ctime_ns
            except FileNotFoundError:  # removed between listing and stat
                continue
            if ctime_ns > horizon or (ctime_ns, name) <= after:
                continue
            found.append(InboxEntry(ctime_ns, name, inbox / name))
    found.sort(key=InboxEntry.position)
    return found


@dataclass(frozen=True)
class ScanResult:
    cursor: SensorCursor
    new_files: int
    new_eligible: int
    new_rejected: int
    reasons: dict[str, int]
    new_duplicates: int = 0  # files repeating a feedback_id already counted (this tick or a pending earlier one)


def _parsed(entries: list[InboxEntry]) -> Iterator[tuple[InboxEntry, FeedbackFile | str]]:
    for entry in entries:
        try:
            yield entry, read_feedback_file(entry.path)
        except FeedbackFileError as exc:
            yield entry, exc.reason
        except OSError as exc:
            yield entry, f"unreadable ({exc.strerror or exc.__class__.__name__})"


def scan(inbox: str | os.PathLike, cursor: SensorCursor, is_eligible: Callable[[FeedbackFile], bool],
         settle_s: float = 0.0, now_ns: int | None = None) -> ScanResult:
    """Read the files that arrived after `cursor`, count the eligible ones and move the cursor past them.

    A bad file is counted in `reasons` (reason -> files) and passed over; it never stops the scan. A review
    delivered twice (same feedback_id) counts once until the next export request; a second copy with different
    content in the same tick is a reason.
    """
    cursor = cursor.without_ingested(inbox)
    entries = new_entries(inbox, cursor.position(), settle_s=settle_s, now_ns=now_ns)
    eligible = duplicates = 0
    reasons: dict[str, int] = {}
    seen: dict[str, FeedbackFile] = {}
    counted = set(cursor.pending_ids)
    new_ids: list[str] = []
    new_files: list[str] = []
    for entry, result in _parsed(entries):
        if not isinstance(result, str) and result.feedback_id in seen:
            if seen[result.feedback_id] == result:
                duplicates += 1
                continue
            result = "feedback_id delivered again with different content"
        if isinstance(result, str):
            reasons[result] = reasons.get(result, 0) + 1
            continue
        seen[result.feedback_id] = result
        if result.feedback_id in counted:  # delivered again after an earlier tick counted it
            duplicates += 1
        elif is_eligible(result):
            eligible += 1
            new_ids.append(result.feedback_id)
            new_files.append(entry.name)
    rejected = sum(reasons.values())
    moved = cursor
    if entries:
        last = entries[-1]
        moved = replace(cursor, ctime_ns=last.ctime_ns, name=last.name, pending=cursor.pending + eligible,
                        pending_ids=cursor.pending_ids + tuple(new_ids),
                        pending_files=cursor.pending_files + tuple(new_files),
                        files_seen=cursor.files_seen + len(entries), rejected=cursor.rejected + rejected)
    return ScanResult(moved, len(entries), eligible, rejected, reasons, duplicates)


def after_export_request(cursor: SensorCursor) -> SensorCursor:
    """The cursor once an export run has been requested: the count starts again from zero."""
    return replace(cursor, pending=0, pending_ids=(), pending_files=(),
                   exports_requested=cursor.exports_requested + 1)


def export_run_key(cursor: SensorCursor) -> str:
    """A run key unique to the arrival position at which the threshold was reached: the same position can never
    request a second run, even if a tick is retried before its cursor was saved."""
    return f"export-{cursor.ctime_ns}-{cursor.name}"


def count_eligible_since(inbox: str | os.PathLike, since_ns: int, is_eligible: Callable[[FeedbackFile], bool],
                         feedback_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """(eligible, rejected) reviews that arrived after `since_ns` (nanoseconds since the epoch): files still in the
    inbox, plus the reviews of `feedback_dir`'s store ingested after that time (their files left the inbox)."""
    result = scan(inbox, SensorCursor(ctime_ns=since_ns, name="\uffff"), is_eligible)
    eligible = result.new_eligible
    if feedback_dir is not None:
        from datapilot_pipeline.lib.feedback.ingest import stored_reviews

        after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since_ns / 1e9))
        eligible += sum(map(is_eligible, (review for _, review in stored_reviews(feedback_dir, ingested_after=after))))
    return eligible, result.new_rejected
