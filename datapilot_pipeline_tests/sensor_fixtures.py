"""Inboxes of eligible and ineligible reviews for the sensor and schedule tests."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from datapilot_pipeline.lib.feedback.collector import FeedbackCollector
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs


@lru_cache(maxsize=1)
def _base() -> dict:
    return feedback_kwargs()


def write_reviews(inbox: Path, n_eligible: int, n_ineligible: int = 0, prefix: str = "job") -> list[Path]:
    """`n_eligible` reviews that the export rule keeps (overall 4, i1 approved with valid evidence) and
    `n_ineligible` that it drops (overall score 2, below the default min score 3)."""
    collector = FeedbackCollector(inbox=inbox)
    paths = []
    for i in range(n_eligible):
        paths.append(collector.collect_feedback(**{**_base(), "job_id": f"{prefix}_ok_{i:05d}"}))
    for i in range(n_ineligible):
        paths.append(collector.collect_feedback(**{**_base(), "job_id": f"{prefix}_low_{i:05d}", "overall_score": 2}))
    return paths
