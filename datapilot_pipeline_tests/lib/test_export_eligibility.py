"""Eligibility of single reviews and the multi-reviewer consensus rule, table-driven."""

from __future__ import annotations

import pytest

from datapilot_pipeline.lib.export.eligibility import consensus, eligible_insights, is_eligible, review_feedback
from datapilot_pipeline_tests.lib.export_fixtures import item, make_feedback, make_output

EDIT_TEXT = "Revenue peaks at 1,683.75, above the 1,500 median."


@pytest.mark.parametrize("items, overall, min_score, kept_ids, eligible", [
    ([item("i1", "approve", 5), item("i2", "approve", 3), item("i3", "approve", 2)], 4, 3, ["i1", "i2"], True),
    ([item("i1", "reject", 5), item("i2", "skip", None), item("i3", "approve", 2)], 4, 3, [], False),
    ([item("i1", "approve", 5)], 2, 3, ["i1"], False),  # insight kept but the job's overall score is low
    ([item("i1", "edit", 4, edited_text=EDIT_TEXT)], 3, 3, ["i1"], True),
    ([item("i1", "edit", 2, edited_text=EDIT_TEXT)], 5, 3, [], False),
    ([item("i1", "approve", 1)], 5, 1, ["i1"], True),
    ([], 5, 3, [], False),  # nothing reviewed: nothing approved
])
def test_single_review_rule(items, overall, min_score, kept_ids, eligible):
    fb = make_feedback(items=items, overall=overall)
    assert [i["id"] for i in eligible_insights(fb, min_score)] == kept_ids
    assert is_eligible(fb, min_score) is eligible


def test_edits_are_applied():
    fb = make_feedback(items=[item("i1", "edit", 4, edited_text=EDIT_TEXT,
                                   edited_evidence={"columns": ["revenue"], "row_indices": [17]},
                                   edited_recommendation={"action": "Check row 17.", "priority": "low"})])
    (kept,) = eligible_insights(fb)
    assert kept["text"] == EDIT_TEXT
    assert kept["evidence"] == {"columns": ["revenue"], "aggregates": {}, "row_indices": [17]}
    assert kept["recommendation"] == {"action": "Check row 17.", "priority": "low"}
    assert kept["category"] == "outlier"


def test_invalid_evidence_is_not_training_material():
    bad = {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9999.0}}
    fb = make_feedback(items=[item("i1", "edit", 5, edited_evidence=bad), item("i2", "approve", 5)])
    assert [i["id"] for i in eligible_insights(fb)] == ["i2"]
    assert [i["id"] for i in eligible_insights(fb, check_evidence=False)] == ["i1", "i2"]


T0, T1, T2 = "2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "2026-11-24T12:00:00+00:00"


def _ids(example):
    return [i["id"] for i in example.approved_output["insights"]] if example else None


@pytest.mark.parametrize("reviews, kept, reasons", [
    # the same reviewer twice: the later review replaces the earlier one
    ([("ana", T0, 4, {"i1": ("approve", 5)}), ("ana", T1, 4, {"i1": ("reject", 1), "i2": ("approve", 4)})],
     ["i2"], {"review_superseded": 1, "insight_rejected": 1, "insight_not_approved": 1}),
    # majority rejects: dropped; tie (1 vs 1): dropped; 2 supporters vs 1 rejecter: kept
    ([("ana", T0, 4, {"i1": ("approve", 5), "i2": ("approve", 5), "i3": ("approve", 5)}),
      ("bo", T1, 4, {"i1": ("reject", 1), "i2": ("reject", 1), "i3": ("approve", 4)}),
      ("cy", T2, 4, {"i1": ("reject", 1), "i3": ("reject", 1)})],
     ["i3"], {"insight_outvoted": 2}),
    # overall score is the median of reviewers' scores: 2, 3, 5 -> 3 passes min 3
    ([("ana", T0, 2, {"i1": ("approve", 4)}), ("bo", T1, 3, {}), ("cy", T2, 5, {})],
     ["i1"], {"insight_not_approved": 2}),
    ([("ana", T0, 2, {"i1": ("approve", 4)}), ("bo", T1, 2, {}), ("cy", T2, 5, {})],
     None, {"insight_not_approved": 2, "job_low_overall_score": 1}),
    # low-scored approvals are not support
    ([("ana", T0, 4, {"i1": ("approve", 2)}), ("bo", T1, 4, {"i1": ("approve", 1)})],
     None, {"insight_low_score": 1, "insight_not_approved": 2, "job_no_insight_kept": 1}),
])
def test_consensus_table(reviews, kept, reasons):
    output = make_output(3)
    files = [make_feedback(reviewer=r, created_at=t, overall=o, output=output,
                           items=[item(i, a, s) for i, (a, s) in acts.items()]) for r, t, o, acts in reviews]
    outcome = review_feedback(files)
    example = outcome.examples[0] if outcome.examples else None
    assert _ids(example) == kept
    assert dict(outcome.discarded) == reasons


@pytest.mark.parametrize("ana, bo, winner", [
    ((5, T0), (4, T1), "ana"),  # higher score wins even when older
    ((4, T0), (4, T1), "bo"),   # same score: the more recent review wins
    ((4, T1), (4, T0), "ana"),
    ((3, T1), (4, T0), "bo"),
])
def test_conflicting_edits_resolved_by_score_then_recency(ana, bo, winner):
    output = make_output(1)
    files = [make_feedback(reviewer=name, created_at=when, output=output,
                           items=[item("i1", "edit", score, edited_text=f"Revenue edit by {name}.")])
             for name, (score, when) in (("ana", ana), ("bo", bo))]
    example = consensus(files)
    assert example.approved_output["insights"][0]["text"] == f"Revenue edit by {winner}."
    assert example.reviewer_ids == ["ana", "bo"]


def test_review_of_different_content_is_discarded_and_latest_content_wins():
    old = make_feedback(reviewer="ana", created_at=T0, output=make_output(2))
    new = make_feedback(reviewer="bo", created_at=T1, output=make_output(1))
    outcome = review_feedback([new, old])
    assert outcome.discarded["review_conflicting_content"] == 1
    assert outcome.examples[0].reviewer_ids == ["bo"]
    assert _ids(outcome.examples[0]) == ["i1"]


def test_same_timestamp_ties_break_on_feedback_id():
    a = make_feedback(reviewer="ana", created_at=T0, items=[item("i1", "approve", 5)],
                      feedback_id="00000000-0000-0000-0000-00000000000a")
    b = make_feedback(reviewer="ana", created_at=T0, items=[item("i2", "approve", 5)],
                      feedback_id="00000000-0000-0000-0000-00000000000b")
    for order in ([a, b], [b, a]):
        assert _ids(consensus(order)) == ["i2"]


def test_summary_kept_when_an_insight_is_dropped():
    """The prompt and the shots ask for a summary; the completion must keep it (it used to vanish)."""
    whole = consensus([make_feedback()])
    assert whole.approved_output.get("summary") == "Two outliers." and not whole.changed
    part = consensus([make_feedback(items=[item("i1", "approve", 5), item("i2", "reject", 1)])])
    assert part.approved_output["summary"] == "Two outliers." and part.changed
    assert [i["id"] for i in part.approved_output["insights"]] == ["i1"]


def test_stats_count_actions_and_jobs():
    files = [make_feedback(job_id="a", items=[item("i1", "approve", 5), item("i2", "reject", 1)]),
             make_feedback(job_id="b", items=[item("i1", "edit", 4, edited_text=EDIT_TEXT)])]
    stats = review_feedback(files).stats()
    assert stats["n_jobs"] == 2 and stats["n_examples"] == 2 and stats["n_reviews"] == 2
    assert stats["actions"] == {"approve": 1, "edit": 1, "reject": 1, "unreviewed": 3}
    assert stats["approval_rate"] == pytest.approx(2 / 3, abs=1e-4)


@pytest.mark.parametrize("scores, median", [((4,), 4), ((3, 4), 3.5), ((2, 5, 3), 3)])
def test_overall_score_is_the_median(scores, median):
    files = [make_feedback(reviewer=f"r{n}", created_at=t, overall=s) for n, (s, t) in enumerate(zip(scores, (T0, T1, T2)))]
    example = consensus(files)
    assert example.overall_score == median and type(example.overall_score) is type(median)
