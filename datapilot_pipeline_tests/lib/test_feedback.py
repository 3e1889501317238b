"""FeedbackCollector: full validation with field-naming errors, atomic writes inside the inbox only."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from datapilot_pipeline import FeedbackCollector
from datapilot_pipeline.lib import atomic
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.feedback.inbox import read_feedback_file
from datapilot_pipeline_tests.feedback_fixtures import JOB_ID, feedback_kwargs, review_items, sales_output

NAME_RE = re.compile(r"^feedback_job_sales_001_20261124T100000Z_[0-9a-f]{8}\.json$")


def test_writes_a_valid_feedback_file_the_inbox_reader_accepts(tmp_path: Path):
    path = FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs())
    assert path.parent == tmp_path and NAME_RE.match(path.name)
    feedback = read_feedback_file(path)
    assert feedback.job_id == JOB_ID and feedback.reviewer_id == "analyst_jane" and feedback.overall_score == 4
    assert [i.action for i in feedback.items] == ["approve", "edit", "reject", "skip"]
    assert feedback.items[1].edited_recommendation == {"action": "Report revenue per unit by region.", "priority": "medium"}
    assert feedback.feedback_id.replace("-", "")[:8] == path.stem.rsplit("_", 1)[1]
    raw = json.loads(path.read_text())
    assert "edited_text" not in raw["items"][0], "unset item fields are omitted"
    assert raw["compact_eda"]["columns"]["revenue"]["stats"]["max"] == 9800.0


def test_default_inbox_is_the_workspace_inbox(home: Path):
    path = FeedbackCollector().collect_feedback(**feedback_kwargs())
    assert path.parent == home / "feedback_inbox"


def test_each_call_gets_its_own_feedback_id_and_file(tmp_path: Path):
    collector = FeedbackCollector(inbox=tmp_path)
    first, second = (collector.collect_feedback(**feedback_kwargs()) for _ in range(2))
    assert first != second
    assert read_feedback_file(first).feedback_id != read_feedback_file(second).feedback_id


def test_created_at_defaults_to_now_utc_and_offsets_are_converted(tmp_path: Path):
    collector = FeedbackCollector(inbox=tmp_path)
    now = read_feedback_file(collector.collect_feedback(**feedback_kwargs(created_at=None)))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now.created_at)
    shifted = collector.collect_feedback(**feedback_kwargs(created_at="2026-11-24T12:00:00+02:00"))
    assert read_feedback_file(shifted).created_at == "2026-11-24T10:00:00Z"


def test_synonyms_in_the_reviewed_output_are_normalized(tmp_path: Path):
    output = sales_output()
    output["insights"][0]["category"] = "Anomaly"
    output["insights"][0]["evidence"]["row_indices"] = ["3", 3]
    path = FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs(llm_output=output))
    insight = read_feedback_file(path).llm_output.insights[0]
    assert insight.category == "outlier" and insight.evidence.row_indices == [3]


def _item(**changes):
    items = review_items()
    items[0] = {**items[0], **changes}
    return items


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"overall_score": 6}, "overall_score"),
        ({"overall_score": 0}, "overall_score"),
        ({"overall_score": "4"}, "overall_score"),
        ({"overall_score": True}, "overall_score"),
        ({"overall_score": 4.0}, "overall_score"),
        ({"reviewer_id": "../jane"}, "reviewer_id"),
        ({"reviewer_id": ".."}, "reviewer_id"),
        ({"reviewer_id": ""}, "reviewer_id"),
        ({"job_id": "job/1"}, "job_id"),
        ({"job_id": "job_1\n"}, "job_id"),
        ({"job_id": "x" * 129}, "job_id"),
        ({"variant": "zero_shot"}, "variant"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2026-11-24T10:00:00"}, "created_at"),
        ({"feedback_items": _item(human_score=9)}, "items.0.human_score"),
        ({"feedback_items": _item(human_score=None)}, "items.0"),
        ({"feedback_items": _item(action="like")}, "items.0.action"),
        ({"feedback_items": _item(insight_id="i99")}, "items"),
        ({"feedback_items": _item(insight_id="i2")}, "items"),
        ({"feedback_items": _item(edited_text="sneaky")}, "items.0"),
        ({"feedback_items": _item(action="edit")}, "items.0"),
        ({"feedback_items": _item(action="edit", edited_evidence={"row_indices": ["x"]})}, "items.0"),
        ({"feedback_items": _item(action="edit", edited_evidence={"colums": ["revenue"]})}, "items.0"),
        ({"feedback_items": _item(action="edit", edited_recommendation={"action": "x", "priority": "urgent!"})}, "items.0"),
        ({"feedback_items": _item(color="red")}, "items.0.color"),
        ({"feedback_items": {"insight_id": "i1"}}, "feedback_items"),
        ({"llm_output": {"insights": []}}, "llm_output.insights"),
        ({"compact_eda": {"columns": {}}}, "compact_eda.dataset"),
    ],
)
def test_invalid_input_raises_a_value_error_naming_the_field_and_writes_nothing(tmp_path: Path, overrides, field):
    with pytest.raises(ValueError) as info:
        FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs(**overrides))
    assert str(info.value).startswith(field), str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_feedback_file_over_the_inbox_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("datapilot_pipeline.lib.feedback.collector.MAX_FEEDBACK_BYTES", 1000)
    with pytest.raises(ValueError, match="over the inbox limit"):
        FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs())
    assert list(tmp_path.iterdir()) == []


def test_models_are_accepted_as_input(tmp_path: Path):
    first = read_feedback_file(FeedbackCollector(inbox=tmp_path / "a").collect_feedback(**feedback_kwargs()))
    again = FeedbackCollector(inbox=tmp_path / "b").collect_feedback(
        **feedback_kwargs(compact_eda=first.compact_eda, llm_output=first.llm_output, feedback_items=first.items))
    assert read_feedback_file(again).model_dump(exclude={"feedback_id"}) == first.model_dump(exclude={"feedback_id"})


def test_a_failed_write_leaves_no_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs())
    assert list(tmp_path.iterdir()) == []


def test_the_file_appears_complete_through_a_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src).name, Path(dst).name))
        FeedbackFile.model_validate_json(Path(src).read_text())  # complete before it is visible
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    path = FeedbackCollector(inbox=tmp_path).collect_feedback(**feedback_kwargs())
    assert seen == [(seen[0][0], path.name)] and seen[0][0].startswith(".") and seen[0][0].endswith(".tmp")
