"""Ingestion of the feedback inbox into Parquet tables under `data/feedback/`.

- `feedback.parquet`: one row per feedback file (by feedback_id), with `raw_json` to rebuild the model;
- `decisions.parquet`: one row per insight decision, with the evidence verdict against the job's EDA;
- `quarantine.parquet`: every unusable inbox entry with its reason (files are never moved or deleted);
- `manifest.json`: name, size and mtime of every entry already handled, so a re-run reads only new files.

The same feedback_id seen twice (even under two names) counts once: the earliest file (by mtime, then
name) wins; a later file with that id but different content is quarantined as a conflict.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd

from datapilot_pipeline.lib.atomic import atomic_open, atomic_write_json, dumps_compact
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.hashing import file_sha256
from datapilot_pipeline.lib.inbox import (
    MAX_FEEDBACK_BYTES, FeedbackFileError, list_inbox, parse_feedback_bytes, read_feedback_file,
)
from datapilot_pipeline.lib.ingest_tables import (
    DECISION_COLUMNS, FEEDBACK_COLUMNS, QUARANTINE_COLUMNS, append_rows, decision_rows, feedback_row, read_table,
)

FEEDBACK_TABLE, DECISIONS_TABLE, QUARANTINE_TABLE, MANIFEST = (
    "feedback.parquet", "decisions.parquet", "quarantine.parquet", "manifest.json")
PREVIEW_ROWS = 10


@dataclass
class IngestResult:
    """What one ingestion run did; counts of `new_*` and `duplicates` are for this run only."""

    feedback_path: Path
    decisions_path: Path
    quarantine_path: Path
    new_feedback: int = 0
    new_decisions: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unchanged: int = 0
    total_feedback: int = 0
    total_decisions: int = 0
    total_quarantined: int = 0
    approval_rate: float | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    new_feedback_ids: list[str] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)  # the first new feedback rows, without raw_json
    quarantine_preview: list[dict] = field(default_factory=list)  # the latest quarantined entries


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


def _entries_oldest_first(inbox: Path) -> list[tuple[Path, os.stat_result]]:
    entries = []
    for path in list_inbox(inbox):
        try:
            entries.append((path, path.lstat()))
        except FileNotFoundError:
            continue  # removed between listing and reading
    return sorted(entries, key=lambda entry: (entry[1].st_mtime_ns, entry[0].name))


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    # Two runs at once would each append the same new files; a lock file serializes them.
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ".ingest.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_table(path: Path, df: pd.DataFrame) -> None:
    with atomic_open(path, "wb") as fh:
        df.to_parquet(fh, index=False)


def _load_manifest(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    # The manifest only saves re-reading; the tables are the record, and feedback_ids dedupe a full re-read.
    return manifest if isinstance(manifest, dict) else {}


def ingest_inbox(inbox: Path, out_dir: Path) -> IngestResult:
    """Read every new or changed inbox entry into the tables under `out_dir`; see the module docstring."""
    inbox, out_dir = Path(inbox), Path(out_dir)
    paths = {name: out_dir / name for name in (FEEDBACK_TABLE, DECISIONS_TABLE, QUARANTINE_TABLE, MANIFEST)}
    result = IngestResult(paths[FEEDBACK_TABLE], paths[DECISIONS_TABLE], paths[QUARANTINE_TABLE])
    with _locked(out_dir):
        manifest = _load_manifest(paths[MANIFEST])
        feedback = read_table(paths[FEEDBACK_TABLE], FEEDBACK_COLUMNS)
        decisions = read_table(paths[DECISIONS_TABLE], DECISION_COLUMNS)
        quarantine = read_table(paths[QUARANTINE_TABLE], QUARANTINE_COLUMNS)
        known = dict(zip(feedback["feedback_id"], feedback["content_sha256"]))
        sources = dict(zip(feedback["feedback_id"], feedback["source_file"]))
        new_feedback, new_decisions, new_quarantine, reread = [], [], [], set()
        seen_at = _now()
        for path, st in _entries_oldest_first(inbox):
            signature = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
            previous = manifest.get(path.name)
            if previous and {k: previous.get(k) for k in signature} == signature:
                result.unchanged += 1
                continue
            try:
                parsed, reason, sha = _read_entry(path, st)
            except OSError as exc:
                parsed, reason, sha = None, f"unreadable ({exc.strerror or type(exc).__name__})", None
            status = "quarantined"
            if parsed is not None:
                raw = dumps_compact(parsed.model_dump(mode="json"))
                content = hashlib.sha256(raw.encode("utf-8")).hexdigest()  # of the validated model, not the bytes
                if "variant" not in parsed.model_fields_set:  # kept unset: the A/B test must not read it as control
                    raw = dumps_compact(parsed.model_dump(mode="json", exclude={"variant"}))
                if parsed.feedback_id not in known:
                    known[parsed.feedback_id], sources[parsed.feedback_id] = content, path.name
                    new_feedback.append(feedback_row(parsed, path.name, raw, content, seen_at))
                    new_decisions.extend(decision_rows(parsed))
                    result.new_feedback_ids.append(parsed.feedback_id)
                    status = "ingested"
                elif known[parsed.feedback_id] == content:
                    result.duplicates += 1
                    status = "duplicate"
                else:
                    reason = (f"feedback_id {parsed.feedback_id} was already ingested from "
                              f"{sources[parsed.feedback_id]} with different content")
            if status == "quarantined":
                new_quarantine.append({"path": str(path), "reason": reason, "sha256": sha, "seen_at": seen_at})
                result.quarantine_reasons[reason] = result.quarantine_reasons.get(reason, 0) + 1
            reread.add(str(path))
            manifest[path.name] = {**signature, "sha256": sha, "status": status}

        feedback = append_rows(feedback, new_feedback, FEEDBACK_COLUMNS)
        decisions = append_rows(decisions, new_decisions, DECISION_COLUMNS)
        # The quarantine shows each entry's latest verdict: a re-read entry replaces its old rows.
        quarantine = append_rows(quarantine[~quarantine["path"].isin(reread)].reset_index(drop=True),
                                 new_quarantine, QUARANTINE_COLUMNS)
        # Tables before the manifest: a crash in between re-reads files, it never forgets one.
        for name, table in ((FEEDBACK_TABLE, feedback), (DECISIONS_TABLE, decisions), (QUARANTINE_TABLE, quarantine)):
            if reread or not paths[name].exists():
                _write_table(paths[name], table)
        if reread or not paths[MANIFEST].exists():
            atomic_write_json(paths[MANIFEST], manifest)

    result.new_feedback, result.new_decisions = len(new_feedback), len(new_decisions)
    result.preview = [{k: v for k, v in row.items() if k != "raw_json"} for row in new_feedback[:PREVIEW_ROWS]]
    result.quarantined = len(new_quarantine)
    result.total_feedback, result.total_decisions = len(feedback), len(decisions)
    result.total_quarantined = len(quarantine)
    result.quarantine_preview = quarantine.tail(PREVIEW_ROWS).to_dict("records")
    result.approval_rate = approval_rate(decisions)
    return result


def approval_rate(decisions: pd.DataFrame) -> float | None:
    """Approved decisions / reviewed (non-skipped) decisions; None when nothing was reviewed."""
    reviewed = decisions[decisions["action"] != "skip"]
    if reviewed.empty:
        return None
    return float((reviewed["action"] == "approve").mean())


def load_feedback_files(out_dir: Path) -> list[FeedbackFile]:
    """Every ingested feedback file as a model, in ingestion order (empty before the first run)."""
    table = read_table(Path(out_dir) / FEEDBACK_TABLE, FEEDBACK_COLUMNS)
    return [FeedbackFile.model_validate_json(raw) for raw in table["raw_json"]]
