"""Which reviewed insights and jobs become training examples.

Single review (DESIGN.md): an insight is kept when it was approved or edited (edits applied) with
`human_score >= min_score`; a job is exported when its `overall_score >= min_score` and at least one
insight is kept.

Several reviews of one job (the consensus rule):
1. A later review by the same reviewer replaces the earlier one (order: `created_at`, then
   `feedback_id` for ties). The replaced review is discarded as `review_superseded`.
2. The latest remaining review fixes the job's content (compact EDA and LLM output); a review of
   different content is discarded as `review_conflicting_content`.
3. An insight's supporters are the reviewers who approved or edited it with `human_score >= min_score`.
   It is kept when it has at least one supporter and more supporters than rejecters; with one reviewer
   this is exactly the single-review rule. Ties and majorities against it drop it.
4. The kept version is the supporter's with the highest `human_score`, then the most recent review
   (an approval keeps the original insight, an edit applies its edited fields).
5. The job's overall score is the median of its reviewers' overall scores.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from datapilot_pipeline.lib.contracts import FeedbackFile, Insight, StoredReview
from datapilot_pipeline.lib.evidence import evidence_problems

DEFAULT_MIN_SCORE = 3  # the playbook's bar; CLI, ExportConfig and the sensor all default to it
KEEP_ACTIONS = ("approve", "edit")


def _chronological(created_at: str, feedback_id: str) -> tuple[datetime, str]:
    stamp = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return (stamp, feedback_id)


def review_order(feedback: FeedbackFile) -> tuple[datetime, str]:
    """Chronological order of reviews (a timestamp without offset is UTC), `feedback_id` breaking ties."""
    return _chronological(feedback.created_at, feedback.feedback_id)


def _review_dict_order(review: dict) -> tuple[datetime, str]:
    return _chronological(review["created_at"], review["feedback_id"])


def review_dict(review: FeedbackFile | StoredReview | dict) -> dict:
    """A review as the rules read it: `FeedbackFile.model_dump()`'s dict (a stored review's JSON is that dict
    already, `StoredReview.data`)."""
    if isinstance(review, StoredReview):
        return review.data()
    return review if isinstance(review, dict) else review.model_dump()


def apply_edits(insight: dict, item: dict) -> dict:
    """The insight (`Insight.model_dump()`'s dict) with the reviewer's edited text, evidence and recommendation
    applied (`item`: a `FeedbackItem.model_dump()`); an approval keeps it as it is."""
    if item["action"] != "edit":
        return insight
    edited = dict(insight)
    if item.get("edited_text") is not None:
        edited["text"] = item["edited_text"].strip()
    if item.get("edited_evidence") is not None:
        edited["evidence"] = {"columns": [], "aggregates": {}, "row_indices": [], **item["edited_evidence"]}
    if item.get("edited_recommendation") is not None:
        edited["recommendation"] = dict(item["edited_recommendation"])
    return Insight.model_validate(edited).model_dump()


def _supports(item: dict | None, min_score: int) -> bool:
    return item is not None and item["action"] in KEEP_ACTIONS and (item["human_score"] or 0) >= min_score


def eligible_insights(feedback: FeedbackFile, min_score: int = DEFAULT_MIN_SCORE, check_evidence: bool = True) -> list[dict]:
    """The insights one review keeps, edits applied, in the output's order.

    With `check_evidence`, a kept insight whose (edited) evidence fails the evidence rule against the
    job's compact EDA is left out too: training on unverifiable numbers teaches invention."""
    review = review_dict(feedback)
    items = {item["insight_id"]: item for item in review["items"]}
    eda = review["compact_eda"]
    kept = []
    for insight in review["llm_output"]["insights"]:
        item = items.get(insight["id"])
        if _supports(item, min_score):
            candidate = apply_edits(insight, item)
            if not check_evidence or not evidence_problems(candidate["evidence"], eda):
                kept.append(candidate)
    return kept


def is_eligible(feedback: FeedbackFile, min_score: int = DEFAULT_MIN_SCORE, check_evidence: bool = True) -> bool:
    """True when this single review makes its job a training example."""
    return feedback.overall_score >= min_score and bool(eligible_insights(feedback, min_score, check_evidence))


@dataclass
class ReviewedExample:
    """One job after consensus: the content reviewers saw and the output they approved."""

    job_id: str
    reviewer_ids: list[str]
    latest_reviewer_id: str
    overall_score: int | float
    dataset_name: str
    compact_eda: dict
    original_output: dict
    approved_output: dict
    model: str | None = None
    variant: str = "few_shot"

    @property
    def categories(self) -> list[str]:
        return sorted({i["category"] for i in self.approved_output["insights"]})

    @property
    def dominant_category(self) -> str:
        counts = Counter(i["category"] for i in self.approved_output["insights"])
        return min(counts, key=lambda c: (-counts[c], c))

    @property
    def changed(self) -> bool:
        """Reviewers edited or dropped something: the pair (approved, original) teaches a preference."""
        return self.approved_output != self.original_output

    def to_dict(self) -> dict:
        return {"job_id": self.job_id, "reviewer_ids": self.reviewer_ids,
                "latest_reviewer_id": self.latest_reviewer_id, "overall_score": self.overall_score,
                "dataset_name": self.dataset_name, "compact_eda": self.compact_eda,
                "original_output": self.original_output, "approved_output": self.approved_output,
                "model": self.model, "variant": self.variant}

    @classmethod
    def from_dict(cls, row: dict) -> "ReviewedExample":
        return cls(**row)


@dataclass
class ReviewOutcome:
    """Examples plus what the rules discarded (counts by reason) and approval statistics."""

    examples: list[ReviewedExample] = field(default_factory=list)
    discarded: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    n_reviews: int = 0
    n_jobs: int = 0
    n_streamed: int = 0  # examples `iter_examples` yielded without keeping them in `examples`

    @property
    def n_examples(self) -> int:
        return len(self.examples) + self.n_streamed

    def add(self, other: "ReviewOutcome") -> None:
        """Count `other`'s reviews, jobs, discards and actions here too (one chunk's outcome into the export's)."""
        self.discarded.update(other.discarded)
        self.actions.update(other.actions)
        self.n_reviews += other.n_reviews
        self.n_jobs += other.n_jobs
        self.n_streamed += other.n_examples

    def stats(self) -> dict:
        reviewed = sum(self.actions[a] for a in ("approve", "edit", "reject"))
        kept = self.actions["approve"] + self.actions["edit"]
        return {"n_reviews": self.n_reviews, "n_jobs": self.n_jobs, "n_examples": self.n_examples,
                "actions": dict(sorted(self.actions.items())),
                "approval_rate": round(kept / reviewed, 4) if reviewed else 0.0,
                "discarded": dict(sorted(self.discarded.items()))}


def _output_dict(output: dict) -> dict:
    """`LLMOutput.model_dump(exclude_none=True)` from its plain dump (only `summary` may be None)."""
    return {k: v for k, v in output.items() if v is not None}


def _drop_reason(items: list[dict | None], min_score: int) -> str:
    rejects = sum(1 for i in items if i is not None and i["action"] == "reject")
    supporters = sum(1 for i in items if _supports(i, min_score))
    if rejects and supporters:
        return "insight_outvoted"
    if rejects:
        return "insight_rejected"
    if any(i is not None and i["action"] in KEEP_ACTIONS for i in items):
        return "insight_low_score"
    return "insight_not_approved"


def consensus(reviews: list[FeedbackFile | StoredReview | dict], min_score: int = DEFAULT_MIN_SCORE,
              check_evidence: bool = True, outcome: ReviewOutcome | None = None) -> ReviewedExample | None:
    """Apply the consensus rule to every review of one job (validated reviews, as models or as their dicts,
    `review_dict`); None when the job is not exported. Discard reasons and action counts are added to `outcome`
    when given."""
    outcome = outcome if outcome is not None else ReviewOutcome()
    latest: dict[str, dict] = {}
    for review in sorted(map(review_dict, reviews), key=_review_dict_order):
        if review["reviewer_id"] in latest:
            outcome.discarded["review_superseded"] += 1
        latest[review["reviewer_id"]] = review
    ordered = sorted(latest.values(), key=_review_dict_order)
    base = ordered[-1]
    content = (base["compact_eda"], base["llm_output"])
    agreeing = [r for r in ordered if r is base or (r["compact_eda"], r["llm_output"]) == content]
    if len(agreeing) < len(ordered):
        outcome.discarded["review_conflicting_content"] += len(ordered) - len(agreeing)
    insights = base["llm_output"]["insights"]
    for review in agreeing:
        outcome.actions.update(item["action"] for item in review["items"])
        outcome.actions["unreviewed"] += len(insights) - len(review["items"])

    eda = base["compact_eda"]
    by_review = [{item["insight_id"]: item for item in r["items"]} for r in agreeing]
    kept: list[dict] = []
    for insight in insights:
        items = [m.get(insight["id"]) for m in by_review]
        supporters = [(i["human_score"], n) for n, i in enumerate(items) if _supports(i, min_score)]
        rejects = sum(1 for i in items if i is not None and i["action"] == "reject")
        if not supporters or len(supporters) <= rejects:
            outcome.discarded[_drop_reason(items, min_score)] += 1
            continue
        _, chosen = max(supporters)  # highest score, then the latest review (agreeing is chronological)
        candidate = apply_edits(insight, items[chosen])
        if check_evidence and evidence_problems(candidate["evidence"], eda):
            outcome.discarded["insight_invalid_evidence"] += 1
            continue
        kept.append(candidate)

    overall = statistics.median(r["overall_score"] for r in agreeing)
    overall = int(overall) if overall == int(overall) else float(overall)  # 4, not 4.0, for one reviewer
    if overall < min_score:
        outcome.discarded["job_low_overall_score"] += 1
        return None
    if not kept:
        outcome.discarded["job_no_insight_kept"] += 1
        return None
    original = _output_dict(base["llm_output"])
    approved = {"insights": kept}
    # The prompt and the worked examples ask for a summary: a completion without one would teach the model
    # to leave it out. Reviewers judge insights, not the summary, so it is kept as written.
    if "summary" in original:
        approved["summary"] = original["summary"]
    return ReviewedExample(
        job_id=base["job_id"], reviewer_ids=sorted(r["reviewer_id"] for r in agreeing),
        latest_reviewer_id=base["reviewer_id"], overall_score=overall,
        dataset_name=eda["dataset"]["name"], compact_eda=eda, original_output=original,
        approved_output=approved, model=base["model"], variant=base["variant"])


def iter_examples(groups: Iterable[list[FeedbackFile | StoredReview]], min_score: int = DEFAULT_MIN_SCORE,
                  check_evidence: bool = True, outcome: ReviewOutcome | None = None) -> Iterator[ReviewedExample]:
    """The consensus example of each group (every review of one job), in the groups' order, one job in memory at
    a time; reviews, jobs, discards and actions are counted in `outcome`. Groups in job-id order give examples
    in job-id order, as `review_feedback` returns them."""
    outcome = outcome if outcome is not None else ReviewOutcome()
    for reviews in groups:
        outcome.n_reviews += len(reviews)
        outcome.n_jobs += 1
        example = consensus(reviews, min_score, check_evidence, outcome)
        if example is not None:
            outcome.n_streamed += 1
            yield example


def group_by_job(feedbacks: Iterable[FeedbackFile]) -> list[list[FeedbackFile]]:
    """Reviews held in memory grouped by job, in job-id order (a store streams its groups instead)."""
    by_job: dict[str, list[FeedbackFile]] = defaultdict(list)
    for feedback in feedbacks:
        by_job[feedback.job_id].append(feedback)
    return [by_job[job_id] for job_id in sorted(by_job)]


def review_feedback(feedbacks: Iterable[FeedbackFile], min_score: int = DEFAULT_MIN_SCORE,
                    check_evidence: bool = True) -> ReviewOutcome:
    """Group reviews by job, apply the consensus rule, return examples sorted by job id."""
    outcome = ReviewOutcome()
    examples = list(iter_examples(group_by_job(feedbacks), min_score, check_evidence, outcome))
    outcome.examples, outcome.n_streamed = examples, 0
    return outcome
