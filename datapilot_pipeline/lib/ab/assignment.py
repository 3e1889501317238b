"""Sticky assignment of jobs to the A/B variants: a salted hash of the job id, so a job always lands in the
same arm, and raising the split only moves jobs from few-shot to fine-tuned (never back)."""

from __future__ import annotations

import hashlib

CONTROL, TREATMENT = "few_shot", "fine_tuned"
VARIANTS = (CONTROL, TREATMENT)
DEFAULT_SALT = "datapilot-ab-v1"
DEFAULT_SPLIT = 0.5  # share of jobs routed to the fine-tuned model


def assign_variant(job_id: str, split: float = DEFAULT_SPLIT, salt: str = DEFAULT_SALT) -> str:
    """`fine_tuned` for a `split` share of job ids, `few_shot` for the rest; stable for a given salt."""
    if not 0.0 <= split <= 1.0:
        raise ValueError(f"split must be in [0, 1], got {split}")
    digest = hashlib.sha256(f"{salt}:{job_id}".encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return TREATMENT if bucket < split else CONTROL
