"""Reviews of A/B jobs: the four-insight sales job reviewed with chosen actions, variant and reviewer."""

from __future__ import annotations

import functools
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline_tests.feedback_fixtures import sales_eda, sales_output

START = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
_cached_eda = functools.lru_cache(maxsize=1)(sales_eda)


def review(job_id: str, variant: str | None, actions: str, overall: int = 4, reviewer: str = "analyst_a",
           created_at: str = "2026-11-24T10:00:00Z", note: str = "Hallucinated value", model: str = "m") -> dict:
    """`actions`: one letter per insight i1..i4 (a approve, e edit, r reject with `note`, s skip)."""
    verbs = {"a": "approve", "e": "edit", "r": "reject", "s": "skip"}
    items = []
    for n, letter in enumerate(actions, start=1):
        item = {"insight_id": f"i{n}", "action": verbs[letter]}
        if letter != "s":
            item["human_score"] = 4 if letter in "ae" else 1
        if letter == "e":
            item["edited_text"] = "A clearer sentence."
        if letter == "r":
            item["notes"] = note
        items.append(item)
    out = {"schema_version": 1, "feedback_id": str(uuid.uuid4()), "job_id": job_id, "reviewer_id": reviewer,
           "created_at": created_at, "overall_score": overall, "model": model, "compact_eda": _cached_eda(),
           "llm_output": sales_output(), "items": items}
    if variant is not None:
        out["variant"] = variant
    return out


def parsed(*reviews: dict) -> list[FeedbackFile]:
    return [FeedbackFile.model_validate(r) for r in reviews]


def write(inbox: Path, reviews: list[dict]) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for r in reviews:
        (inbox / f"feedback_{r['job_id']}_{r['feedback_id'][:8]}.json").write_text(json.dumps(r), encoding="utf-8")


def arm(variant: str, n_jobs: int, actions: list[str], overall: list[int], day0: int = 1, prefix: str = "",
        model: str = "m", per_day: int = 3) -> list[dict]:
    """`n_jobs` single-review jobs of `model` cycling through `actions` and `overall`, `per_day` jobs a day from
    day `day0`."""
    return [review(f"{prefix}{variant}_{k:04d}", variant, actions[k % len(actions)], overall[k % len(overall)],
                   created_at=(START + timedelta(days=day0 - 1 + k // per_day)).isoformat().replace("+00:00", "Z"),
                   model=model)
            for k in range(n_jobs)]


def noisy_arm(variant: str, n_jobs: int, approve: float, rng: random.Random, day0: int = 1, prefix: str = "",
              model: str = "m", per_day: int = 10) -> list[dict]:
    """`n_jobs` single-review jobs whose four insights are each approved with probability `approve` (else
    rejected), `per_day` jobs a day from day `day0`: p-values that are neither 0 nor 1."""
    actions = ["".join("a" if rng.random() < approve else "r" for _ in range(4)) for _ in range(n_jobs)]
    return arm(variant, n_jobs, actions, [3, 4, 5], day0=day0, prefix=prefix, model=model, per_day=per_day)
