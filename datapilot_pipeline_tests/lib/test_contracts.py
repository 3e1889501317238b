"""The pydantic contracts: strict numbers, closed enums, id patterns, item rules and readable first errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from datapilot_pipeline.lib.contracts import (
    CompactEDA, Evidence, FeedbackFile, FeedbackItem, Insight, JobResult, LLMOutput, first_error, is_safe_id,
)
from datapilot_pipeline_tests.feedback_fixtures import JOB_ID, job_result, review_items, sales_eda, sales_output


@pytest.mark.parametrize(
    ("value", "ok"),
    [("job_abc123", True), ("a.b-c_D9", True), ("x" * 128, True), ("x" * 129, False), ("", False),
     (".", False), ("..", False), ("...", True), ("a/b", False), ("../x", False), ("a b", False),
     ("jösé", False), ("a\n", False), (None, False), (12, False)],
)
def test_is_safe_id(value, ok):
    assert is_safe_id(value) is ok


def _insight(**changes):
    return {**sales_output()["insights"][0], **changes}


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"category": "anomaly"}, "category"),    # synonyms are normalization's job, not the schema's
        ({"severity": "urgent"}, "severity"),
        ({"text": "  "}, "text"),
        ({"id": ""}, "id"),
        ({"confidence": 0.9}, "confidence"),
        ({"recommendation": {"action": "x", "priority": "critical"}}, "recommendation.priority"),
        ({"recommendation": {"action": " ", "priority": "low"}}, "recommendation.action"),
        ({"evidence": {"row_indices": [1.0]}}, "evidence.row_indices.0"),
        ({"evidence": {"row_indices": [True]}}, "evidence.row_indices.0"),
        ({"evidence": {"aggregates": {"k": "9800"}}}, "evidence.aggregates.k"),
        ({"evidence": {"aggregates": {"k": False}}}, "evidence.aggregates.k"),
        ({"evidence": {"rows": [1]}}, "evidence.rows"),
    ],
)
def test_insight_schema_rejects(changes, loc):
    with pytest.raises(ValidationError) as info:
        Insight.model_validate(_insight(**changes))
    assert first_error(info.value).startswith(loc)


def test_evidence_accepts_ints_and_floats_and_defaults_to_empty():
    assert Evidence.model_validate({"aggregates": {"a": 1, "b": 2.5}}).model_dump() == {
        "columns": [], "aggregates": {"a": 1, "b": 2.5}, "row_indices": []}


@pytest.mark.parametrize("n", [0, 21])
def test_an_output_holds_1_to_20_insights(n):
    insights = [_insight(id=f"i{k}") for k in range(n)]
    with pytest.raises(ValidationError):
        LLMOutput.model_validate({"insights": insights})


def test_twenty_insights_with_unique_ids_are_fine_and_repeats_are_named():
    assert len(LLMOutput.model_validate({"insights": [_insight(id=f"i{k}") for k in range(20)]}).insights) == 20
    with pytest.raises(ValidationError) as info:
        LLMOutput.model_validate({"insights": [_insight(id="a"), _insight(id="b"), _insight(id="a")]})
    assert first_error(info.value) == "insight ids must be unique within an output; repeated: a"


def test_compact_eda_keeps_extra_keys_and_rejects_bad_counts():
    eda = CompactEDA.model_validate({**sales_eda(), "source": "warehouse"})
    assert eda.model_dump()["source"] == "warehouse" and eda.dataset.n_rows == 10
    with pytest.raises(ValidationError) as info:
        CompactEDA.model_validate({**sales_eda(), "dataset": {"name": "x", "n_rows": -1, "n_cols": 1}})
    assert first_error(info.value).startswith("dataset.n_rows")
    with pytest.raises(ValidationError):
        CompactEDA.model_validate({**sales_eda(), "dataset": {"name": "x", "n_rows": "10", "n_cols": 1}})


def test_job_result_defaults_and_job_id_pattern():
    job = JobResult.model_validate({k: v for k, v in job_result().items() if k not in {"variant", "model"}})
    assert (job.job_id, job.variant, job.model) == (JOB_ID, "few_shot", None)
    for bad in ("..", "a/b", ""):
        with pytest.raises(ValidationError) as info:
            JobResult.model_validate(job_result(bad))
        assert first_error(info.value).startswith("job_id")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"insight_id": "i1", "action": "approve"}, "human_score is required for action 'approve'"),
        ({"insight_id": "i1", "action": "approve", "human_score": 0}, "human_score"),
        ({"insight_id": "i1", "action": "approve", "human_score": 6}, "human_score"),
        ({"insight_id": "i1", "action": "approve", "human_score": True}, "human_score"),
        ({"insight_id": "i1", "action": "approve", "human_score": 5, "edited_text": "x"}, "only allowed with action 'edit'"),
        ({"insight_id": "i1", "action": "edit", "human_score": 3}, "an edit needs"),
        ({"insight_id": "i1", "action": "edit", "human_score": 3, "edited_text": " "}, "edited_text must not be empty"),
        ({"insight_id": "i1", "action": "edit", "human_score": 3, "edited_evidence": {"row_indices": ["1"]}},
         "row_indices"),
        ({"insight_id": "i1", "action": "edit", "human_score": 3, "edited_recommendation": {"action": "x"}},
         "priority"),
        ({"insight_id": "i1", "action": "flag", "human_score": 3}, "action"),
    ],
)
def test_feedback_item_rules(item, message):
    with pytest.raises(ValidationError) as info:
        FeedbackItem.model_validate(item)
    assert message in first_error(info.value)


def test_a_skip_needs_no_score():
    assert FeedbackItem.model_validate({"insight_id": "i4", "action": "skip"}).human_score is None


def _feedback(**changes):
    return {"schema_version": 1, "feedback_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "job_id": JOB_ID,
            "reviewer_id": "analyst_jane", "created_at": "2026-11-24T10:00:00Z", "overall_score": 4,
            "compact_eda": sales_eda(), "llm_output": sales_output(), "items": review_items(), **changes}


def test_a_complete_feedback_file_validates():
    feedback = FeedbackFile.model_validate(_feedback())
    assert [i.insight_id for i in feedback.items] == ["i1", "i2", "i3", "i4"] and feedback.variant == "few_shot"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"feedback_id": "../../etc"}, "feedback_id"),
        ({"feedback_id": "not-a-uuid"}, "feedback_id"),
        ({"created_at": "last tuesday"}, "created_at is not an ISO-8601 timestamp"),
        ({"overall_score": "4"}, "overall_score"),
        ({"overall_score": 4.5}, "overall_score"),
        ({"reviewer_id": ".."}, "reviewer_id"),
        ({"variant": "base"}, "variant"),
        ({"extra": 1}, "extra"),
        ({"items": [{"insight_id": "i9", "action": "skip"}]}, "insight_id 'i9' is not in llm_output"),
        ({"items": [{"insight_id": "i1", "action": "skip"}] * 2}, "insight_id 'i1' is reviewed twice"),
    ],
)
def test_feedback_file_rejects(changes, message):
    with pytest.raises(ValidationError) as info:
        FeedbackFile.model_validate(_feedback(**changes))
    assert message in first_error(info.value)


def test_first_error_names_the_location_and_counts_the_rest():
    with pytest.raises(ValidationError) as info:
        FeedbackFile.model_validate(_feedback(overall_score=9, reviewer_id="a/b"))
    message = first_error(info.value)
    assert message.startswith("reviewer_id: ") and message.endswith("(+1 more)")
    assert first_error(ValueError("plain")) == "plain"
