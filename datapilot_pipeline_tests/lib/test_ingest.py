"""Inbox ingestion: good files kept once, bad entries quarantined with a reason, every handled file out of the inbox."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pytest

from datapilot_pipeline.lib.feedback import ingest
from datapilot_pipeline.lib.feedback.collector import FeedbackCollector
from datapilot_pipeline.lib.feedback.inbox import MAX_FEEDBACK_BYTES, read_feedback_file
from datapilot_pipeline.lib.feedback.ingest import (
    REASON_SUFFIX, decisions_table, feedback_table, ingest_inbox, load_feedback_files, quarantine_table,
)
from datapilot_pipeline.lib.feedback.tables import markdown_table
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
    _delivered_a_while_ago(inbox)
    return inbox, good


def _delivered_a_while_ago(inbox: Path) -> None:
    """Backdate every entry: files that were complete long before the run (a young unparsable file waits)."""
    arrival = sorted(inbox.iterdir(), key=lambda p: (p.lstat().st_mtime_ns, p.name))
    for n, path in enumerate(arrival):  # in their order of arrival
        os.utime(path, ns=(10**18 + n, 10**18 + n), follow_symlinks=False)


def test_mixed_inbox_keeps_every_good_record_and_quarantines_every_bad_entry(tmp_path, mixed_inbox):
    inbox, good = mixed_inbox
    good_ids = sorted(read_feedback_file(p).feedback_id for p in good)
    before = {p.name: p.read_bytes() for p in inbox.iterdir() if p.is_file() and not p.is_symlink()}
    result = ingest_inbox(inbox, tmp_path / "out")

    assert (result.new_feedback, result.duplicates, result.quarantined) == (3, 1, len(BAD_ENTRIES))
    feedback = feedback_table(tmp_path / "out")
    assert sorted(feedback["feedback_id"]) == good_ids
    assert sorted(feedback["source_file"]) == sorted(p.name for p in good)
    quarantine = quarantine_table(tmp_path / "out")
    reasons = {Path(p).name: r for p, r in zip(quarantine["path"], quarantine["reason"])}
    assert set(reasons) == set(BAD_ENTRIES)
    for name, (_, phrase) in BAD_ENTRIES.items():
        assert phrase in reasons[name], (name, reasons[name])
    sha = dict(zip(quarantine["path"].map(lambda p: Path(p).name), quarantine["sha256"]))
    assert pd.isna(sha["subdir"]) and len(sha["malformed.json"]) == 64
    assert sum(result.quarantine_reasons.values()) == len(BAD_ENTRIES)
    assert list(inbox.iterdir()) == [], "the inbox holds only what is new"
    archived = {p.name: p.read_bytes() for p in result.archive_dir.rglob("*.json")}
    assert set(archived) == {p.name for p in good} | {"zz_copy_of_first.json"}
    quarantined = {p.name for p in result.quarantine_dir.iterdir()}
    assert quarantined == set(BAD_ENTRIES) | {name + REASON_SUFFIX for name in BAD_ENTRIES}
    for name, content in before.items():  # moved whole, never changed
        assert (archived.get(name) or (result.quarantine_dir / name).read_bytes()) == content
    for name in BAD_ENTRIES:
        assert (result.quarantine_dir / (name + REASON_SUFFIX)).read_text() == reasons[name] + "\n"
    assert (result.quarantine_dir / "link.json").is_symlink() and (result.quarantine_dir / "subdir").is_dir()


def test_decisions_carry_the_evidence_verdict_against_the_jobs_eda(tmp_path):
    feedback_id = read_feedback_file(_good(tmp_path / "inbox")).feedback_id
    result = ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    decisions = decisions_table(tmp_path / "out").set_index("insight_id")
    assert list(decisions["action"]) == ["approve", "edit", "reject", "skip"]
    assert decisions["evidence_valid"].to_dict() == {"i1": True, "i2": True, "i3": False, "i4": False}
    assert "claims 50000.0" in decisions.loc["i3", "evidence_problems"]
    assert decisions.loc["i1", "human_score"] == 5 and pd.isna(decisions.loc["i4", "human_score"])
    assert decisions.loc["i3", "notes"] == "Hallucinated maximum"
    assert set(decisions["feedback_id"]) == {feedback_id}
    assert result.approval_rate == pytest.approx(1 / 3)  # 1 approve of 3 non-skipped decisions
    feedback = feedback_table(tmp_path / "out").iloc[0]
    assert (feedback["n_items"], feedback["n_approved"], feedback["n_skipped"]) == (4, 1, 1)
    assert feedback["dataset_name"] == "sales_q3.csv"


def test_edited_evidence_is_judged_too(tmp_path):
    items = [{"insight_id": "i3", "action": "edit", "human_score": 3,
              "edited_evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800}}},
             {"insight_id": "i4", "action": "edit", "human_score": 2,
              "edited_evidence": {"columns": ["region"], "row_indices": [10]}}]
    _good(tmp_path / "inbox", feedback_items=items)
    assert ingest_inbox(tmp_path / "inbox", tmp_path / "out").approval_rate == 0.0
    decisions = decisions_table(tmp_path / "out")
    assert list(decisions["edited_evidence_valid"]) == [True, False]


def test_rerun_adds_nothing_and_reads_nothing(tmp_path, mixed_inbox, monkeypatch):
    inbox, _ = mixed_inbox
    out = tmp_path / "out"
    ingest_inbox(inbox, out)
    before = [feedback_table(out), decisions_table(out), quarantine_table(out)]
    reads: list[str] = []
    monkeypatch.setattr(ingest, "_read_entry", lambda path, st: reads.append(path.name))
    second = ingest_inbox(inbox, out)
    assert reads == []
    assert (second.new_feedback, second.quarantined, second.duplicates, second.recovered) == (0, 0, 0, 0)
    assert (second.total_feedback, second.total_decisions, second.total_quarantined) == (3, 12, len(BAD_ENTRIES))
    for old, new in zip(before, [feedback_table(out), decisions_table(out), quarantine_table(out)]):
        pd.testing.assert_frame_equal(new, old)


def test_a_rerun_reads_only_new_files(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    _good(inbox)
    ingest_inbox(inbox, tmp_path / "out")
    newer = _good(inbox, job_id="job_late")
    newer_id = read_feedback_file(newer).feedback_id
    reads: list[str] = []
    real = ingest._read_entry
    monkeypatch.setattr(ingest, "_read_entry", lambda path, st: reads.append(path.name) or real(path, st))
    result = ingest_inbox(inbox, tmp_path / "out")
    assert reads == [newer.name]
    assert (result.new_feedback, result.total_feedback, result.total_decisions) == (1, 2, 8)
    assert result.new_feedback_ids == [newer_id]


def test_a_redelivered_review_is_recognized_and_never_double_counts(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    path = _good(inbox)
    first = ingest_inbox(inbox, out)
    (archived,) = first.archive_dir.rglob("*.json")
    shutil.copy(archived, inbox / archived.name)  # the same file sent again
    again = ingest_inbox(inbox, out)
    assert (again.new_feedback, again.recovered, again.total_feedback, again.total_decisions) == (0, 1, 1, 4)
    shutil.copy(archived, inbox / "renamed.json")  # the same review under another name
    renamed = ingest_inbox(inbox, out)
    assert (renamed.new_feedback, renamed.duplicates, renamed.total_feedback, renamed.total_decisions) == (0, 1, 1, 4)
    assert list(inbox.iterdir()) == []
    assert sorted(p.name for p in first.archive_dir.rglob("*.json")) == sorted(
        [path.name, path.name.replace(".json", ".1.json"), "renamed.json"])


def test_a_fixed_file_leaves_the_quarantine(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    good = _good(tmp_path / "elsewhere")
    broken = inbox / good.name
    broken.parent.mkdir()
    broken.write_text(good.read_text()[:100])
    _delivered_a_while_ago(inbox)
    first = ingest_inbox(inbox, out)
    assert first.total_quarantined == 1 and (first.quarantine_dir / good.name).exists()
    shutil.copy(good, broken)  # the author fixes it and sends it again under the same name
    fixed = ingest_inbox(inbox, out)
    assert (fixed.new_feedback, fixed.total_quarantined) == (1, 0)
    assert quarantine_table(out).empty and list(fixed.quarantine_dir.iterdir()) == []


def test_a_file_still_being_written_waits_for_the_next_run(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    good = _good(tmp_path / "elsewhere")
    inbox.mkdir()
    (inbox / good.name).write_bytes(good.read_bytes()[:200])  # half copied in place, just now
    early = ingest_inbox(inbox, out)
    assert (early.new_feedback, early.quarantined, early.deferred) == (0, 0, 1)
    shutil.copy(good, inbox / good.name)
    done = ingest_inbox(inbox, out)
    assert (done.new_feedback, done.quarantined, done.total_quarantined) == (1, 0, 0)


def test_an_empty_or_missing_inbox_gives_empty_tables_with_columns(tmp_path):
    result = ingest_inbox(tmp_path / "no_inbox", tmp_path / "out")
    assert (result.total_feedback, result.approval_rate) == (0, None)
    assert "raw_json" in feedback_table(tmp_path / "out").columns
    assert "evidence_valid" in decisions_table(tmp_path / "out").columns
    assert load_feedback_files(tmp_path / "out") == []
    assert load_feedback_files(tmp_path / "never_ingested") == []


def test_load_feedback_files_rebuilds_the_models(tmp_path):
    paths = [_good(tmp_path / "inbox", job_id=f"job_{n}") for n in range(2)]
    originals = [read_feedback_file(path) for path in paths]
    ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    rebuilt = {f.feedback_id: f for f in load_feedback_files(tmp_path / "out")}
    for original in originals:
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
    decisions = decisions_table(tmp_path / "out")
    valid_rate = decisions.groupby("action")["evidence_valid"].mean()
    # Reviewers approve grounded insights and reject hallucinated ones: the verdicts must reflect that.
    assert valid_rate["approve"] > 0.8 and valid_rate["approve"] > valid_rate["reject"] + 0.3
