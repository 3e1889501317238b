"""Ingestion of the feedback inbox into the feedback store (lib/feedback/store.py), then out of the inbox.

For each batch of inbox entries, one transaction records the reviews (`feedback`, one row per feedback_id), their
insight decisions (`decisions`) and the files themselves (`inbox_files`: name, sha256, status, reason, where the
file goes). Only after the commit is each file moved: into `archive/YYYY-MM-DD/` (ingested reviews and
duplicates) or into `quarantine/` with `<name>.reason.txt` beside it. So the inbox holds only what is new, and a
run killed at any point converges: before the commit nothing is stored and the files are still in the inbox;
after it, the next run finds the file's name and sha256 recorded and only finishes moving it.

The same feedback_id twice counts once: the earliest file (by mtime, then name) wins, a later one with the same
content is a duplicate, one with other content is quarantined as a conflict. A quarantined name's verdict is
replaced by its next delivery; a fixed file under that name takes it out of the quarantine. A file that is not
JSON yet and younger than `settle_s` (still being copied in place) is left for the next run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from datapilot_pipeline.lib.feedback import store
from datapilot_pipeline.lib.atomic import atomic_write_text, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile, StoredReview
from datapilot_pipeline.lib.hashing import file_sha256
from datapilot_pipeline.lib.feedback.inbox import (
    MAX_FEEDBACK_BYTES, FeedbackFileError, list_inbox, parse_feedback_bytes, read_feedback_file,
)
from datapilot_pipeline.lib.feedback.tables import decision_rows, feedback_row

ARCHIVE, QUARANTINE, REASON_SUFFIX = "archive", "quarantine", ".reason.txt"
BATCH_FILES = 200  # files per transaction: a batch is stored whole or not at all
SETTLE_S = 2.0
PREVIEW_ROWS = 10


@dataclass
class IngestResult:
    """What one ingestion run did; `new_*`, `duplicates`, `quarantined` and `recovered` count this run only."""

    feedback_dir: Path
    store: str  # the store's URL, password hidden
    new_feedback: int = 0
    new_decisions: int = 0
    duplicates: int = 0
    quarantined: int = 0
    recovered: int = 0  # files an interrupted run had stored but not yet moved, or the same bytes delivered again
    deferred: int = 0  # files still being written, left for the next run
    total_feedback: int = 0
    total_decisions: int = 0
    total_quarantined: int = 0
    approval_rate: float | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    new_feedback_ids: list[str] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)  # the first new feedback rows, without raw_json
    quarantine_preview: list[dict] = field(default_factory=list)  # the latest quarantined entries

    @property
    def archive_dir(self) -> Path:
        return self.feedback_dir / ARCHIVE

    @property
    def quarantine_dir(self) -> Path:
        return self.feedback_dir / QUARANTINE


@dataclass
class _Entry:
    path: Path
    parsed: FeedbackFile | None
    reason: str | None
    sha: str | None


@dataclass
class _Move:
    src: Path
    dest: Path
    reason: str | None = None  # written beside a quarantined file
    supersedes: Path | None = None  # a quarantined copy this delivery replaces


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_entry(path: Path, st) -> tuple[FeedbackFile | None, str | None, str | None]:
    """(feedback, reason, sha256) for one inbox entry; exactly one of feedback and reason is set."""
    if not stat.S_ISREG(st.st_mode) or path.suffix != ".json" or st.st_size > MAX_FEEDBACK_BYTES:
        # read_feedback_file names the reason without reading a link, a folder or an oversized body.
        sha = file_sha256(path) if stat.S_ISREG(st.st_mode) else None
        try:
            return read_feedback_file(path), None, sha
        except FeedbackFileError as exc:
            return None, exc.reason, sha
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        return parse_feedback_bytes(data, path), None, sha
    except FeedbackFileError as exc:
        return None, exc.reason, sha


def _examine(path: Path, st, settle_s: float) -> _Entry | None:
    """The entry read and judged; None when it is gone or may still be being written."""
    try:
        parsed, reason, sha = _read_entry(path, st)
    except FileNotFoundError:
        return None  # moved by a concurrent run
    except OSError as exc:
        parsed, reason, sha = None, f"unreadable ({exc.strerror or type(exc).__name__})", None
    if reason and reason.startswith("malformed JSON") and time.time() - st.st_mtime < settle_s:
        return None
    return _Entry(path, parsed, reason, sha)


def _entries_oldest_first(inbox: Path) -> list[tuple[Path, os.stat_result]]:
    entries = []
    for path in list_inbox(inbox):
        try:
            entries.append((path, path.lstat()))
        except FileNotFoundError:
            continue  # removed between listing and reading
    return sorted(entries, key=lambda entry: (entry[1].st_mtime_ns, entry[0].name))


def _free(dest: Path, taken: set[Path]) -> Path:
    """`dest`, or `name.N.suffix` when an archived file or an earlier file of this batch already has that name."""
    candidate, n = dest, 0
    while candidate in taken or os.path.lexists(candidate):
        n += 1
        candidate = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
    taken.add(candidate)
    return candidate


def ingest_inbox(inbox: Path, out_dir: Path, store_url: str | None = None, settle_s: float = SETTLE_S) -> IngestResult:
    """Store every new inbox entry and move it out of the inbox; see the module docstring."""
    inbox, out_dir = Path(inbox), Path(out_dir)
    url = store_url or store.store_url_for(out_dir)
    result = IngestResult(out_dir, store.safe_url(url))
    store.engine_for(url)  # created (with its tables) even when the inbox is empty
    entries = _entries_oldest_first(inbox)
    for start in range(0, len(entries), BATCH_FILES):
        batch = [_examine(path, st, settle_s) for path, st in entries[start:start + BATCH_FILES]]
        result.deferred += batch.count(None)
        for move in _store_batch(url, [e for e in batch if e is not None], out_dir, result):
            _carry_out(move)
    totals = store.summary(url)
    result.total_feedback, result.total_decisions = totals["total_feedback"], totals["total_decisions"]
    result.total_quarantined, result.approval_rate = totals["total_quarantined"], totals["approval_rate"]
    result.quarantine_preview = store.read_quarantine(url, PREVIEW_ROWS).to_dict("records")
    return result


def _store_batch(url: str, batch: list[_Entry], out_dir: Path, result: IngestResult) -> list[_Move]:
    """Record the batch in one transaction; returns the file moves to make once it is committed."""
    seen_at = _now()
    archive, quarantine = out_dir / ARCHIVE / seen_at[:10], out_dir / QUARANTINE
    rows: dict[str, list[dict]] = {"feedback": [], "decisions": [], "inbox_files": []}
    moves: list[_Move] = []
    taken: set[Path] = set()
    with store.write_transaction(url) as conn:
        recorded = {(r["name"], r["sha256"]): r for r in store.files_named(conn, [e.path.name for e in batch])
                    if r["status"] != "quarantined" and r["sha256"]}
        known = store.feedback_by_id(conn, [e.parsed.feedback_id for e in batch if e.parsed is not None])
        for entry in batch:
            name = entry.path.name
            if (name, entry.sha) in recorded:  # stored by a run that stopped before moving it, or sent again
                moves.append(_Move(entry.path, _free(archive / name, taken), supersedes=quarantine / name))
                result.recovered += 1
                continue
            status, reason, feedback_id = "quarantined", entry.reason, None
            if entry.parsed is not None:
                feedback_id = entry.parsed.feedback_id
                raw = dumps_compact(entry.parsed.model_dump(mode="json"))
                content = hashlib.sha256(raw.encode("utf-8")).hexdigest()  # of the validated model, not the bytes
                if "variant" not in entry.parsed.model_fields_set:  # kept unset: the A/B test must not read it as control
                    raw = dumps_compact(entry.parsed.model_dump(mode="json", exclude={"variant"}))
                if feedback_id not in known:
                    known[feedback_id] = (content, name)
                    rows["feedback"].append(feedback_row(entry.parsed, name, raw, content, seen_at))
                    rows["decisions"].extend(decision_rows(entry.parsed))
                    result.new_feedback_ids.append(feedback_id)
                    status = "ingested"
                elif known[feedback_id][0] == content:
                    status = "duplicate"
                else:
                    reason = f"feedback_id {feedback_id} was already ingested from {known[feedback_id][1]} " \
                             "with different content"
            if status == "quarantined":
                dest = quarantine / name
                moves.append(_Move(entry.path, dest, reason=reason))
                result.quarantine_reasons[reason] = result.quarantine_reasons.get(reason, 0) + 1
                result.quarantined += 1
            else:
                dest = _free(archive / name, taken)
                moves.append(_Move(entry.path, dest, supersedes=quarantine / name))
                result.duplicates += status == "duplicate"
            rows["inbox_files"].append({"path": str(entry.path), "name": name, "sha256": entry.sha, "status": status,
                                        "reason": reason, "feedback_id": feedback_id, "moved_to": str(dest),
                                        "seen_at": seen_at})
        store.forget_quarantined(conn, [e.path.name for e in batch])
        for table, new in rows.items():
            store.insert_rows(conn, table, new)
    result.new_feedback += len(rows["feedback"])
    result.new_decisions += len(rows["decisions"])
    room = PREVIEW_ROWS - len(result.preview)
    result.preview += [{k: v for k, v in row.items() if k != "raw_json"} for row in rows["feedback"][:max(room, 0)]]
    return moves


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _write_reason(quarantined: Path, reason: str) -> None:
    atomic_write_text(quarantined.with_name(quarantined.name + REASON_SUFFIX), reason + "\n")


def _carry_out(move: _Move) -> None:
    """Move one committed file out of the inbox; a file already gone was moved by a concurrent run."""
    if not os.path.lexists(move.src):
        return
    move.dest.parent.mkdir(parents=True, exist_ok=True)
    if move.reason is not None:
        _write_reason(move.dest, move.reason)
        _remove(move.dest)  # the previous quarantined delivery of this name
    try:
        os.replace(move.src, move.dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(move.src, move.dest)  # the archive is on another file system
    if move.supersedes is not None:
        _remove(move.supersedes.with_name(move.supersedes.name + REASON_SUFFIX))
        _remove(move.supersedes)


def feedback_table(feedback_dir: str | os.PathLike, month: str | None = None) -> pd.DataFrame:
    """The stored reviews, one row per feedback_id, in ingestion order (columns of `FEEDBACK_COLUMNS`); with
    `month` (`YYYY-MM`) only those written in that UTC month, read through the store's month index."""
    from datapilot_pipeline.lib.feedback.tables import FEEDBACK_COLUMNS

    where = store.month_filter(month) if month is not None else None
    return store.read_table(store.store_url_for(feedback_dir), "feedback", FEEDBACK_COLUMNS, where=where)


def decisions_table(feedback_dir: str | os.PathLike, month: str | None = None) -> pd.DataFrame:
    """The stored insight decisions, one row per reviewed insight (columns of `DECISION_COLUMNS`); with `month`
    (`YYYY-MM`) only the decisions of reviews written in that UTC month."""
    from datapilot_pipeline.lib.feedback.tables import DECISION_COLUMNS

    where = store.month_filter(month) if month is not None else None
    return store.read_table(store.store_url_for(feedback_dir), "decisions", DECISION_COLUMNS, where=where)


def stored_reviews_in_month(feedback_dir: str | os.PathLike, month: str) -> list[FeedbackFile]:
    """The stored reviews written in the UTC month `YYYY-MM`, in ingestion order, read through the month index
    (empty when no store exists yet; reading creates none)."""
    url = store.store_url_for(feedback_dir)
    if not store.exists(url):
        return []
    table = store.read_table(url, "feedback", ["raw_json"], where=store.month_filter(month))
    return [FeedbackFile.model_validate_json(raw) for raw in table["raw_json"]]


def quarantine_table(feedback_dir: str | os.PathLike) -> pd.DataFrame:
    """The current quarantine: each quarantined name's latest verdict (path, reason, sha256, seen_at, moved_to)."""
    return store.read_quarantine(store.store_url_for(feedback_dir))


def stored_reviews(feedback_dir: str | os.PathLike, ingested_after: str = "") -> list[tuple[Path, FeedbackFile]]:
    """(file name it came from, review) of every stored review in ingestion order, or only those ingested after
    the UTC time `ingested_after` (`YYYY-MM-DDTHH:MM:SSZ`); empty when no store exists yet (reading creates none)."""
    url = store.store_url_for(feedback_dir)
    if not store.exists(url):
        return []
    since = (lambda t: t.c.ingested_at > ingested_after) if ingested_after else None
    table = store.read_table(url, "feedback", ["source_file", "raw_json"], where=since)
    return [(Path(name), FeedbackFile.model_validate_json(raw)) for name, raw in zip(table["source_file"],
                                                                                    table["raw_json"])]


def load_feedback_files(feedback_dir: str | os.PathLike) -> list[FeedbackFile]:
    """Every stored review as a model, in ingestion order (empty before the first run)."""
    return [review for _, review in stored_reviews(feedback_dir)]


GROUP_BATCH = 1000  # rows fetched per round trip when streaming the store


def iter_stored_groups(feedback_dir: str | os.PathLike, batch: int = GROUP_BATCH) -> Iterator[list[StoredReview]]:
    """Every stored review grouped by job, in job-id order (code-point order on both backends), read through a
    server-side cursor `batch` rows at a time: one job's reviews in memory, not the store. Reviews come as stored
    (`StoredReview`: job id and JSON), parsed where they are used. Nothing when no store exists yet (reading
    creates none)."""
    url = store.store_url_for(feedback_dir)
    if not store.exists(url):
        return
    group: list[StoredReview] = []
    for job_id, raw in store.iter_by_job(url, ["job_id", "raw_json"], batch):
        if group and group[0].job_id != job_id:
            yield group
            group = []
        group.append(StoredReview(job_id, raw))
    if group:
        yield group


def stored_reviews_with_ids(feedback_dir: str | os.PathLike, ids: list[str]) -> list[tuple[Path, FeedbackFile]]:
    """(file name it came from, review) of the stored reviews among `ids` (in ingestion order)."""
    url = store.store_url_for(feedback_dir)
    if not store.exists(url) or not ids:
        return []
    found = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        table = store.read_table(url, "feedback", ["source_file", "raw_json"],
                                 where=lambda t, chunk=chunk: t.c.feedback_id.in_(chunk))
        found += [(Path(name), FeedbackFile.model_validate_json(raw))
                  for name, raw in zip(table["source_file"], table["raw_json"])]
    return found


def merge_groups(stored: Iterable[list[StoredReview]],
                 extra: Iterable[FeedbackFile]) -> Iterator[list[StoredReview | FeedbackFile]]:
    """The stored groups (job-id order) with `extra` reviews (the inbox's, not yet ingested) joined to their job's
    group, or as groups of their own at their place in job-id order."""
    from datapilot_pipeline.lib.export.eligibility import group_by_job

    pending = group_by_job(extra)
    k = 0
    for group in stored:
        job_id = group[0].job_id
        while k < len(pending) and pending[k][0].job_id < job_id:
            yield pending[k]
            k += 1
        if k < len(pending) and pending[k][0].job_id == job_id:
            group = group + pending[k]
            k += 1
        yield group
    yield from pending[k:]
