from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from datapilot_pipeline.lib.export.eligibility import is_eligible
from datapilot_pipeline.lib.feedback.sensor_state import (
    CursorError,
    SensorCursor,
    after_export_request,
    count_eligible_since,
    export_run_key,
    new_entries,
    scan,
)
from datapilot_pipeline_tests.sensor_fixtures import write_reviews


def test_cursor_round_trips_and_starts_empty() -> None:
    cursor = SensorCursor(ctime_ns=123, name="feedback_a.json", pending=7, files_seen=9, rejected=1,
                          exports_requested=2)
    assert SensorCursor.decode(cursor.encode()) == cursor
    assert SensorCursor.decode(None) == SensorCursor()
    assert SensorCursor.decode("") == SensorCursor()


@pytest.mark.parametrize("text", ["not json", "[1]", '{"v": 99}', '{"v": 1, "pending": "7"}', '{"v": 1, "name": 3}'])
def test_unreadable_cursor_is_a_clear_error(text: str) -> None:
    with pytest.raises(CursorError, match="sensor cursor"):
        SensorCursor.decode(text)


def test_scan_counts_eligible_reviews_only_and_moves_past_them(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=5, n_ineligible=3)
    result = scan(inbox, SensorCursor(), is_eligible)
    assert (result.new_files, result.new_eligible, result.new_rejected) == (8, 5, 0)
    assert result.cursor.pending == 5 and result.cursor.files_seen == 8
    again = scan(inbox, result.cursor, is_eligible)
    assert (again.new_files, again.new_eligible) == (0, 0)
    assert again.cursor == result.cursor


def test_only_files_after_the_cursor_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=4, prefix="old")
    first = scan(inbox, SensorCursor(), is_eligible)
    time.sleep(0.01)
    new = write_reviews(inbox, n_eligible=2, n_ineligible=1, prefix="new")
    opened: list[str] = []
    import datapilot_pipeline.lib.feedback.sensor_state as sensor_state

    real = sensor_state.read_feedback_file
    monkeypatch.setattr(sensor_state, "read_feedback_file", lambda p: opened.append(Path(p).name) or real(p))
    second = scan(inbox, first.cursor, is_eligible)
    assert sorted(opened) == sorted(p.name for p in new)
    assert second.cursor.pending == 4 + 2


def test_bad_files_are_counted_and_do_not_stop_the_scan(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=1)
    (inbox / "feedback_broken.json").write_text("{not json", encoding="utf-8")
    (inbox / "feedback_list.json").write_text("[]", encoding="utf-8")
    write_reviews(inbox, n_eligible=1, prefix="later")
    result = scan(inbox, SensorCursor(), is_eligible)
    assert (result.new_files, result.new_eligible, result.new_rejected) == (4, 2, 2)
    assert sum(result.reasons.values()) == 2
    assert any(reason.startswith("malformed JSON") for reason in result.reasons)


def test_non_feedback_entries_are_passed_over(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=1)
    (inbox / "README.md").write_text("inbox", encoding="utf-8")
    (inbox / ".feedback_x.json.tmp").write_text("{", encoding="utf-8")
    (inbox / "notes.txt").write_text("x", encoding="utf-8")
    (inbox / "folder.json").mkdir()
    os.symlink(inbox / "README.md", inbox / "link.json")
    assert [e.name for e in new_entries(inbox, (0, ""))] == [p.name for p in inbox.glob("feedback_job_*.json")]


def test_files_younger_than_the_settle_time_wait_for_the_next_tick(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=3)
    now = time.time_ns()
    assert new_entries(inbox, (0, ""), settle_s=60.0, now_ns=now) == []
    waiting = scan(inbox, SensorCursor(), is_eligible, settle_s=60.0, now_ns=now)
    assert waiting.cursor == SensorCursor()
    later = scan(inbox, waiting.cursor, is_eligible, settle_s=60.0, now_ns=now + 61 * 10**9)
    assert later.new_eligible == 3


def test_export_request_resets_the_count_and_keys_are_unique_per_position(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=2)
    first = scan(inbox, SensorCursor(), is_eligible).cursor
    reset = after_export_request(first)
    assert (reset.pending, reset.exports_requested, reset.position()) == (0, 1, first.position())
    time.sleep(0.01)
    write_reviews(inbox, n_eligible=1, prefix="next")
    second = scan(inbox, reset, is_eligible).cursor
    assert second.pending == 1
    assert export_run_key(first) != export_run_key(second)
    assert export_run_key(first) == export_run_key(SensorCursor.decode(first.encode()))


def test_count_eligible_since_a_timestamp(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    write_reviews(inbox, n_eligible=3, n_ineligible=1, prefix="before")
    time.sleep(0.02)
    boundary = time.time_ns()
    time.sleep(0.02)
    write_reviews(inbox, n_eligible=2, n_ineligible=2, prefix="after")
    (inbox / "feedback_bad.json").write_text("{", encoding="utf-8")
    assert count_eligible_since(inbox, boundary, is_eligible) == (2, 1)
    assert count_eligible_since(inbox, 0, is_eligible) == (5, 1)
    assert count_eligible_since(tmp_path / "missing", 0, is_eligible) == (0, 0)
