"""Reviews -> one outcome per job, the unit the A/B test randomizes.

Per job, over the latest review of each reviewer (a later review by the same reviewer supersedes the earlier,
the export's consensus order `review_order`):
- an insight's approval is the share of its reviewers who approved it (`skip` is not a review, `edit` is not an
  approval); the job's approval rate is the mean over its reviewed insights;
- an insight's hallucination rejection is the share of its reviewers who rejected it with a note that names a
  hallucination (invented, made-up or fabricated values); the job's rate is the mean over reviewed insights;
- the job's overall score is the median of its reviewers' overall scores.
A review without a variant is counted and left out (never taken for control); so are jobs whose reviews name
different variants or different models, and jobs in which every insight was skipped. A job's `model` is the model
version that served it (the job result's `model`, copied into every review): experiments are keyed by it.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from datapilot_pipeline.lib.ab.assignment import VARIANTS
from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.export.eligibility import review_order

UNRECORDED_MODEL = "(unrecorded)"  # reviews written without the job's `model`
HALLUCINATION_NOTE = re.compile(r"hallucinat|fabricat|made[- ]?up|invent|not in the (data|eda|table)", re.IGNORECASE)


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    variant: str
    first_reviewed_at: datetime
    n_reviewers: int
    insight_approvals: tuple[float, ...]  # per reviewed insight: share of its reviewers approving
    hallucination_rate: float
    overall_score: float
    model: str = UNRECORDED_MODEL  # the model version that served the job

    @property
    def approval_rate(self) -> float:
        return sum(self.insight_approvals) / len(self.insight_approvals)


@dataclass
class JobTable:
    jobs: list[JobOutcome] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)  # reason -> reviews (or jobs, where the reason says so)
    n_reviews: int = 0


def _variant(review: FeedbackFile) -> str | None:
    # The contract defaults a missing variant to few_shot; only a variant the file states is trusted.
    return review.variant if "variant" in review.model_fields_set and review.variant in VARIANTS else None


def _model(review: FeedbackFile) -> str:
    return review.model.strip() if review.model and review.model.strip() else UNRECORDED_MODEL


def _job_outcome(reviews: list[FeedbackFile], variant: str) -> JobOutcome | None:
    latest: dict[str, FeedbackFile] = {}
    for review in sorted(reviews, key=review_order):
        latest[review.reviewer_id] = review
    approvals: dict[str, list[bool]] = defaultdict(list)
    hallucinated: dict[str, list[bool]] = defaultdict(list)
    for review in latest.values():
        for item in review.items:
            if item.action == "skip":
                continue
            approvals[item.insight_id].append(item.action == "approve")
            hallucinated[item.insight_id].append(
                item.action == "reject" and bool(HALLUCINATION_NOTE.search(item.notes or "")))
    if not approvals:
        return None
    shares = tuple(sum(v) / len(v) for v in approvals.values())
    hallucination = sum(sum(v) / len(v) for v in hallucinated.values()) / len(hallucinated)
    first = min(reviews, key=review_order)
    return JobOutcome(job_id=first.job_id, variant=variant, first_reviewed_at=review_order(first)[0],
                      n_reviewers=len(latest), insight_approvals=shares, hallucination_rate=hallucination,
                      overall_score=float(statistics.median(r.overall_score for r in latest.values())),
                      model=_model(first))


def job_table(reviews: Iterable[FeedbackFile]) -> JobTable:
    """One `JobOutcome` per job with a variant, sorted by first review; what was left out, counted by reason."""
    table = JobTable()
    by_job: dict[str, list[FeedbackFile]] = defaultdict(list)
    for review in reviews:
        table.n_reviews += 1
        if _variant(review) is None:
            table.excluded["reviews_without_variant"] += 1
        else:
            by_job[review.job_id].append(review)
    for job_id, job_reviews in by_job.items():
        variants = {_variant(r) for r in job_reviews}
        superseded = len(job_reviews) - len({r.reviewer_id for r in job_reviews})
        table.excluded["superseded_reviews"] += superseded
        if len(variants) > 1:
            table.excluded["jobs_with_conflicting_variants"] += 1
            continue
        if len({_model(r) for r in job_reviews}) > 1:
            table.excluded["jobs_with_conflicting_models"] += 1
            continue
        outcome = _job_outcome(job_reviews, variants.pop())
        if outcome is None:
            table.excluded["jobs_without_reviewed_insights"] += 1
        else:
            table.jobs.append(outcome)
    table.jobs.sort(key=lambda j: (j.first_reviewed_at, j.job_id))
    return table
