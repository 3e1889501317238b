"""A stored review is read as its validated dump (`StoredReview.data`), not validated again: the dict must be the one
validation and `model_dump` give, and the consensus rule must decide the same from it as from the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.contracts import FeedbackFile, StoredReview
from datapilot_pipeline.lib.export.eligibility import ReviewOutcome, group_by_job, iter_examples
from datapilot_pipeline.lib.feedback import store
from datapilot_pipeline.lib.feedback.inbox import feedback_filename
from datapilot_pipeline.lib.feedback.ingest import ingest_inbox, iter_stored_groups
from datapilot_pipeline.lib.synthetic import generate_feedback


def _text(value) -> str:
    """Exact text of a value: tells 1 from 1.0 and compares NaN with NaN."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _unusual(reviews: list[dict]) -> list[dict]:
    """Reviews with what a plain synthetic review lacks: no `variant` (ingest stores none), a null summary, a NaN and
    an infinite statistic, an integer beyond 64 bits in a sample row, non-ASCII text, an edit of every kind."""
    out = []
    for k, review in enumerate(reviews):
        review = json.loads(json.dumps(review))
        if k % 3 == 0:
            review.pop("variant", None)
        if k % 4 == 1:
            review["llm_output"]["summary"] = None
        column = next(iter(review["compact_eda"]["columns"].values()))
        if k % 5 == 2:
            column["stats"] = {**(column.get("stats") or {}), "skew": float("nan"), "kurtosis": float("inf")}
        if k % 5 == 3 and review["compact_eda"].get("sample_rows"):
            review["compact_eda"]["sample_rows"][0]["big"] = 2 ** 70
            review["compact_eda"]["sample_rows"][0]["note"] = "Zoë Ångström 東京 🚀"
        out.append(review)
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, list[FeedbackFile]]:
    """A store filled by the real ingest from inbox files, and the same reviews as validated models."""
    root = tmp_path_factory.mktemp("stored")
    inbox, feedback_dir = root / "inbox", root / "feedback"
    inbox.mkdir()
    reviews = _unusual(list(generate_feedback(70, seed=23)))
    for review in reviews:
        atomic_write_json(inbox / feedback_filename(review["job_id"], review["created_at"], review["feedback_id"]),
                          review)
    ingest_inbox(inbox, feedback_dir, settle_s=0)
    models = [FeedbackFile.model_validate(r) for r in reviews]
    return feedback_dir, models


def _stored_raw(feedback_dir: Path) -> list[str]:
    return list(store.read_table(store.store_url_for(feedback_dir), "feedback", ["raw_json"])["raw_json"])


def test_stored_review_data_is_the_validated_dump(stored):
    feedback_dir, models = stored
    raws = _stored_raw(feedback_dir)
    assert len(raws) == len(models)
    for raw in raws:
        validated = FeedbackFile.model_validate_json(raw)
        assert _text(StoredReview(validated.job_id, raw).data()) == _text(validated.model_dump())
    # the unusual values reached the store and came back: a review without variant, NaN, a big integer
    assert any('"variant"' not in raw for raw in raws) and any("NaN" in raw for raw in raws)
    big = [r for r in raws if str(2 ** 70) in r]
    assert big and all(isinstance(StoredReview("j", r).data()["compact_eda"]["sample_rows"][0]["big"], int)
                       for r in big)


def test_consensus_decides_the_same_from_stored_reviews_and_from_models(stored):
    feedback_dir, models = stored
    from_store, from_models = ReviewOutcome(), ReviewOutcome()
    streamed = [e.to_dict() for e in iter_examples(iter_stored_groups(feedback_dir), outcome=from_store)]
    in_memory = [e.to_dict() for e in iter_examples(group_by_job(models), outcome=from_models)]
    assert _text(streamed) == _text(in_memory)
    assert from_store.stats() == from_models.stats()
    # the branches that read the most of a review were taken
    discarded = from_store.stats()["discarded"]
    assert discarded["review_conflicting_content"] and discarded["insight_rejected"], discarded
    assert from_store.stats()["actions"]["edit"] > 0
    edited = {(m.job_id, i.insight_id): i.edited_text for m in models for i in m.items if i.edited_text}
    kept_texts = {(e["job_id"], i["id"]): i["text"] for e in streamed for i in e["approved_output"]["insights"]}
    assert any(kept_texts.get(key) == text.strip() for key, text in edited.items())
    assert any(e["variant"] == "few_shot" for e in streamed) and any("summary" not in e["original_output"]
                                                                        for e in streamed)
