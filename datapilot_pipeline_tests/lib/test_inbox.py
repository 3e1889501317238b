"""Reading the inbox: every good file parsed, every bad entry named with a short reason, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.lib.feedback import inbox as inbox_mod
from datapilot_pipeline.lib.feedback.collector import build_feedback, feedback_json
from datapilot_pipeline.lib.feedback.inbox import (
    MAX_FEEDBACK_BYTES, FeedbackFileError, Rejected, feedback_filename, iter_feedback, list_inbox, load_inbox,
    parse_feedback_bytes, read_feedback_file,
)
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs


def _good_raw() -> dict:
    return json.loads(feedback_json(build_feedback(**feedback_kwargs())))


def _bytes(**changes) -> bytes:
    return json.dumps({**_good_raw(), **changes}).encode()


def test_a_good_file_parses():
    feedback = parse_feedback_bytes(_bytes())
    assert feedback.job_id == "job_sales_001" and len(feedback.items) == 4


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "malformed JSON (Expecting value, line 1)"),
        (b'{"a": 1,}', "malformed JSON"),
        (b"\xff\xfe\x00{", "not UTF-8 text"),
        ('{"notes": "café"}'.encode("latin-1"), "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON (nested too deeply)"),
        (b"[1, 2]", "top level is a JSON list, not an object"),
        (b'"text"', "top level is a JSON str, not an object"),
        (b"null", "top level is a JSON NoneType, not an object"),
        (_bytes(schema_version=2), "schema_version 2 is newer than this pipeline supports (1)"),
        (_bytes(schema_version=True), "invalid: schema_version: schema_version must be the integer 1"),
        (_bytes(schema_version=1.0), "invalid: schema_version"),
        (_bytes(overall_score="4"), "invalid: overall_score"),
        (_bytes(overall_score=True), "invalid: overall_score"),
        (_bytes(job_id="../../etc"), "invalid: job_id"),
        (_bytes(reviewer_id=".."), "invalid: reviewer_id"),
        (_bytes(feedback_id="../x"), "invalid: feedback_id"),
        (_bytes(items="all good"), "invalid: items"),
        (_bytes(compact_eda=[]), "invalid: compact_eda"),
    ],
)
def test_bad_bytes_name_the_reason(data, reason):
    with pytest.raises(FeedbackFileError) as info:
        parse_feedback_bytes(data, Path("x.json"))
    assert info.value.reason.startswith(reason), info.value.reason
    assert str(info.value).startswith("x.json: ")


def test_oversized_bytes_are_refused_before_decoding():
    with pytest.raises(FeedbackFileError, match="larger than 5 MB"):
        parse_feedback_bytes(b" " * (MAX_FEEDBACK_BYTES + 1))
    parse_feedback_bytes(_bytes() + b" " * (MAX_FEEDBACK_BYTES - len(_bytes())))  # exactly the limit is fine


def test_read_feedback_file_refuses_links_folders_other_names_and_big_files(tmp_path: Path):
    good = tmp_path / "good.json"
    good.write_bytes(_bytes())
    assert read_feedback_file(good).reviewer_id == "analyst_jane"
    (tmp_path / "link.json").symlink_to(good)
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "notes.txt").write_bytes(_bytes())
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_FEEDBACK_BYTES + 1)
    expected = {"link.json": "not a regular file", "folder.json": "not a regular file",
                "notes.txt": "not a feedback file (expected a .json name)", "big.json": "file is larger than 5 MB",
                "missing.json": "not a regular file"}
    for name, reason in expected.items():
        with pytest.raises(FeedbackFileError) as info:
            read_feedback_file(tmp_path / name)
        assert info.value.reason == reason


def test_list_inbox_is_sorted_and_skips_hidden_files_and_the_readme(tmp_path: Path):
    for name in ["b.json", "a.json", ".a.json.123.tmp", "README.md", ".gitkeep", "notes.txt"]:
        (tmp_path / name).write_text("{}")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in list_inbox(tmp_path)] == ["a.json", "b.json", "notes.txt", "sub"]
    assert list_inbox(tmp_path / "missing") == []
    assert list_inbox(tmp_path / "a.json") == []


def test_load_inbox_splits_good_and_rejected(tmp_path: Path):
    (tmp_path / "1_good.json").write_bytes(_bytes())
    (tmp_path / "2_bad.json").write_text("{")
    (tmp_path / "3_other.csv").write_text("a,b")
    good, bad = load_inbox(tmp_path)
    assert [(p.name, f.job_id) for p, f in good] == [("1_good.json", "job_sales_001")]
    assert [(r.path.name, r.reason.split(" (")[0]) for r in bad] == [
        ("2_bad.json", "malformed JSON"), ("3_other.csv", "not a feedback file")]


def test_an_unreadable_file_is_rejected_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def denied(path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(inbox_mod, "read_feedback_file", denied)
    [result] = list(iter_feedback([tmp_path / "x.json"]))
    assert result == Rejected(tmp_path / "x.json", "unreadable (Permission denied)")


@pytest.mark.parametrize(
    ("job_id", "created_at", "feedback_id", "name"),
    [
        ("job_abc123", "2026-11-24T10:00:00Z", "0f8fad5b-d9cb-469f-a165-70867728950e",
         "feedback_job_abc123_20261124T100000Z_0f8fad5b.json"),
        ("j.1", "2026-11-24T12:30:05+02:00", "ABCDEF12-0000-0000-0000-000000000000",
         "feedback_j.1_20261124T103005Z_ABCDEF12.json"),
        ("j", "2026-12-31T23:59:59.999-01:00", "0123456789abcdef0123456789abcdef",
         "feedback_j_20270101T005959Z_01234567.json"),
    ],
)
def test_feedback_filename(job_id, created_at, feedback_id, name):
    assert feedback_filename(job_id, created_at, feedback_id) == name
