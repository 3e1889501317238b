"""Inbox ingestion: good files kept once, bad entries quarantined with a reason, re-runs incremental."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest

from datapilot_pipeline.lib import ingest
from datapilot_pipeline.lib.feedback import FeedbackCollector
from datapilot_pipeline.lib.inbox import MAX_FEEDBACK_BYTES, read_feedback_file
from datapilot_pipeline.lib.ingest import ingest_inbox, load_feedback_files
from datapilot_pipeline.lib.ingest_tables import markdown_table
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs


def _good(inbox: Path, **overrides) -> Path:
    return FeedbackCollector(inbox=inbox).collect_feedback(**feedback_kwargs(**overrides))


def _variant_of(path: Path, target: Path, **changes) -> Path:
    raw = json.loads(path.read_text())
    raw.update(changes)
    target.write_text(json.dumps(raw))
    return target


# name -> (how to make it, a phrase its quarantine reason must contain)
BAD_ENTRIES = {
    "malformed.json": (lambda p, good: p.write_text('{"schema_version": 1,'), "malformed JSON"),
    "latin1.json": (lambda p, good: p.write_bytes('{"reviewer_id": "jos\xe9"}'.encode("latin-1")), "not UTF-8"),
    "array.json": (lambda p, good: p.write_text("[1, 2]"), "JSON list"),
    "wrong_type.json": (lambda p, good: _variant_of(good, p, overall_score="4", feedback_id=str(uuid.uuid4())),
                        "overall_score"),
    "path_job.json": (lambda p, good: _variant_of(good, p, job_id="../../etc/passwd", feedback_id=str(uuid.uuid4())),
                      "job_id"),
    "dot_reviewer.json": (lambda p, good: _variant_of(good, p, reviewer_id="..", feedback_id=str(uuid.uuid4())),
                          "reviewer_id"),
    "future.json": (lambda p, good: _variant_of(good, p, schema_version=2), "schema_version 2"),
    "huge.json": (lambda p, good: p.write_bytes(b" " * (MAX_FEEDBACK_BYTES + 1)), "larger than"),
    "notes.txt": (lambda p, good: p.write_text("call Jane about job 7"), "not a feedback file"),
    "subdir": (lambda p, good: p.mkdir(), "not a regular file"),
    "link.json": (lambda p, good: p.symlink_to(good), "not a regular file"),
    "conflict.json": (lambda p, good: _variant_of(good, p, overall_score=1), "different content"),
}


@pytest.fixture
def mixed_inbox(tmp_path: Path) -> tuple[Path, list[Path]]:
    inbox = tmp_path / "inbox"
    good = [_good(inbox, job_id=f"job_{n}", reviewer_id=f"analyst_{n}", overall_score=n + 2) for n in range(3)]
    shutil.copy(good[0], inbox / "zz_copy_of_first.json")  # same feedback_id under another name
    for name, (make, _) in BAD_ENTRIES.items():
        make(inbox / name, good[0])
    return inbox, good


def test_mixed_inbox_keeps_every_good_record_and_quarantines_every_bad_entry(tmp_path, mixed_inbox):
    inbox, good = mixed_inbox
    before = {p.name: (p.read_bytes() if p.is_file() else None) for p in inbox.iterdir()}
    result = ingest_inbox(inbox, tmp_path / "out")

    assert (result.new_feedback, result.duplicates, result.quarantined) == (3, 1, len(BAD_ENTRIES))
    feedback = pd.read_parquet(result.feedback_path)
    assert sorted(feedback["feedback_id"]) == sorted(read_feedback_file(p).feedback_id for p in good)
    assert sorted(feedback["source_file"]) == sorted(p.name for p in good)
    quarantine = pd.read_parquet(result.quarantine_path)
    reasons = {Path(p).name: r for p, r in zip(quarantine["path"], quarantine["reason"])}
    assert set(reasons) == set(BAD_ENTRIES)
    for name, (_, phrase) in BAD_ENTRIES.items():
        assert phrase in reasons[name], (name, reasons[name])
    sha = dict(zip(quarantine["path"].map(lambda p: Path(p).name), quarantine["sha256"]))
    assert pd.isna(sha["subdir"]) and len(sha["malformed.json"]) == 64
    assert sum(result.quarantine_reasons.values()) == len(BAD_ENTRIES)
    after = {p.name: (p.read_bytes() if p.is_file() else None) for p in inbox.iterdir()}
    assert after == before, "users' files are never moved, changed or deleted"


def test_decisions_carry_the_evidence_verdict_against_the_jobs_eda(tmp_path):
    path = _good(tmp_path / "inbox")
    result = ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    decisions = pd.read_parquet(result.decisions_path).set_index("insight_id")
    assert list(decisions["action"]) == ["approve", "edit", "reject", "skip"]
    assert decisions["evidence_valid"].to_dict() == {"i1": True, "i2": True, "i3": False, "i4": False}
    assert "claims 50000.0" in decisions.loc["i3", "evidence_problems"]
    assert decisions.loc["i1", "human_score"] == 5 and pd.isna(decisions.loc["i4", "human_score"])
    assert decisions.loc["i3", "notes"] == "Hallucinated maximum"
    assert set(decisions["feedback_id"]) == {read_feedback_file(path).feedback_id}
    assert result.approval_rate == pytest.approx(1 / 3)  # 1 approve of 3 non-skipped decisions
    feedback = pd.read_parquet(result.feedback_path).iloc[0]
    assert (feedback["n_items"], feedback["n_approved"], feedback["n_skipped"]) == (4, 1, 1)
    assert feedback["dataset_name"] == "sales_q3.csv"


def test_edited_evidence_is_judged_too(tmp_path):
    items = [{"insight_id": "i3", "action": "edit", "human_score": 3,
              "edited_evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800}}},
             {"insight_id": "i4", "action": "edit", "human_score": 2,
              "edited_evidence": {"columns": ["region"], "row_indices": [10]}}]
    _good(tmp_path / "inbox", feedback_items=items)
    decisions = pd.read_parquet(ingest_inbox(tmp_path / "inbox", tmp_path / "out").decisions_path)
    assert list(decisions["edited_evidence_valid"]) == [True, False]
    assert ingest_inbox(tmp_path / "inbox", tmp_path / "out").approval_rate == 0.0


def test_rerun_adds_nothing_and_reads_nothing(tmp_path, mixed_inbox, monkeypatch):
    inbox, _ = mixed_inbox
    first = ingest_inbox(inbox, tmp_path / "out")
    tables = [first.feedback_path, first.decisions_path, first.quarantine_path]
    stamps = [p.stat().st_mtime_ns for p in tables]
    before = [pd.read_parquet(p) for p in tables]
    reads: list[str] = []
    monkeypatch.setattr(ingest, "_read_entry", lambda path, st: reads.append(path.name))
    second = ingest_inbox(inbox, tmp_path / "out")
    assert reads == []
    assert (second.new_feedback, second.quarantined, second.duplicates) == (0, 0, 0)
    assert second.unchanged == len(list(inbox.iterdir()))
    assert (second.total_feedback, second.total_decisions, second.total_quarantined) == (3, 12, len(BAD_ENTRIES))
    assert [p.stat().st_mtime_ns for p in tables] == stamps, "nothing new, nothing rewritten"
    for old, path in zip(before, tables):
        pd.testing.assert_frame_equal(pd.read_parquet(path), old)


def test_a_rerun_reads_only_new_files(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    _good(inbox)
    ingest_inbox(inbox, tmp_path / "out")
    newer = _good(inbox, job_id="job_late")
    reads: list[str] = []
    real = ingest._read_entry
    monkeypatch.setattr(ingest, "_read_entry", lambda path, st: reads.append(path.name) or real(path, st))
    result = ingest_inbox(inbox, tmp_path / "out")
    assert reads == [newer.name]
    assert (result.new_feedback, result.total_feedback, result.total_decisions) == (1, 2, 8)
    assert result.new_feedback_ids == [read_feedback_file(newer).feedback_id]


def test_a_touched_duplicate_or_a_lost_manifest_never_double_counts(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    path = _good(inbox)
    ingest_inbox(inbox, out)
    os.utime(path, ns=(1, 1))  # same content, new mtime: re-read, recognized by feedback_id
    touched = ingest_inbox(inbox, out)
    assert (touched.new_feedback, touched.duplicates, touched.total_feedback) == (0, 1, 1)
    (out / "manifest.json").write_text("{not json")
    rebuilt = ingest_inbox(inbox, out)
    assert (rebuilt.new_feedback, rebuilt.duplicates, rebuilt.total_feedback, rebuilt.total_decisions) == (0, 1, 1, 4)


def test_a_fixed_file_leaves_the_quarantine(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    good = _good(tmp_path / "elsewhere")
    broken = inbox / good.name
    broken.parent.mkdir()
    broken.write_text(good.read_text()[:100])
    assert ingest_inbox(inbox, out).total_quarantined == 1
    shutil.copy(good, broken)
    os.utime(broken, ns=(10**18, 10**18))
    fixed = ingest_inbox(inbox, out)
    assert (fixed.new_feedback, fixed.total_quarantined) == (1, 0)
    assert pd.read_parquet(fixed.quarantine_path).empty


def test_an_empty_or_missing_inbox_writes_empty_tables_with_columns(tmp_path):
    result = ingest_inbox(tmp_path / "no_inbox", tmp_path / "out")
    assert (result.total_feedback, result.approval_rate) == (0, None)
    assert "raw_json" in pd.read_parquet(result.feedback_path).columns
    assert "evidence_valid" in pd.read_parquet(result.decisions_path).columns
    assert load_feedback_files(tmp_path / "out") == []
    assert load_feedback_files(tmp_path / "never_ingested") == []


def test_load_feedback_files_rebuilds_the_models(tmp_path):
    paths = [_good(tmp_path / "inbox", job_id=f"job_{n}") for n in range(2)]
    ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    rebuilt = {f.feedback_id: f for f in load_feedback_files(tmp_path / "out")}
    for path in paths:
        original = read_feedback_file(path)
        assert rebuilt[original.feedback_id] == original


def test_markdown_table_escapes_cells():
    text = markdown_table([{"a": "x|y", "b": 0.123456, "c": None}, {"a": "two\nlines", "b": 3}], ["a", "b", "c"])
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x\\|y | 0.123 |  |", "| two lines | 3 |  |"]


def test_a_synthetic_review_stream_is_ingested_whole(tmp_path):
    from datapilot_pipeline.lib.synthetic import write_feedback_files

    paths = write_feedback_files(tmp_path / "inbox", 40, seed=3)
    result = ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    assert (result.new_feedback, result.quarantined, result.duplicates) == (len(paths), 0, 0)
    files = load_feedback_files(tmp_path / "out")
    assert result.total_decisions == sum(len(f.items) for f in files)
    decisions = pd.read_parquet(result.decisions_path)
    valid_rate = decisions.groupby("action")["evidence_valid"].mean()
    # Reviewers approve grounded insights and reject hallucinated ones: the verdicts must reflect that.
    assert valid_rate["approve"] > 0.8 and valid_rate["approve"] > valid_rate["reject"] + 0.3
