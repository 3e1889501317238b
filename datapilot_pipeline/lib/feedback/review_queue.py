"""Which job results in a folder a reviewer still has to review, and in what order (`datapilot review --queue`).

- A job is done for a reviewer once the inbox (or the feedback store) holds a review of that reviewer for that job, so a
  session interrupted at any point resumes where it stopped: nothing else records progress.
- Order: jobs with the most insights whose evidence fails the check come first (they need a human most),
  then the oldest `created_at`, then the file name.
- Overlap (optional, a fraction F in [0, 1]): a job somebody else has reviewed is offered again only when
  it falls in the overlap share (the first F of [0, 1) by the sha256 of its job id, so every reviewer
  draws the same jobs) and has fewer than two reviewers; the second review measures agreement. Without
  the rule, every job this reviewer has not reviewed is offered.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from datapilot_pipeline.lib.contracts import JobResult
from datapilot_pipeline.lib.evidence import evidence_problems
from datapilot_pipeline.lib.feedback.collector import load_job_result
from datapilot_pipeline.lib.feedback.inbox import MAX_FEEDBACK_BYTES, list_inbox
from datapilot_pipeline.lib.feedback.ingest import stored_reviews

OVERLAP_REVIEWERS = 2  # a job in the overlap share is offered until this many reviewers have reviewed it


@dataclass
class QueuedJob:
    path: Path
    job: JobResult
    failing_evidence: int  # insights whose evidence does not check out against the compact EDA


@dataclass
class ReviewQueue:
    """`todo` in review order; `done` counts this reviewer's finished jobs in the folder (for `12/40`)."""

    todo: list[QueuedJob] = field(default_factory=list)
    done: int = 0
    left_to_others: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.done + len(self.todo)


def _named_job(name: str) -> str | None:
    """The job id in `feedback_<job_id>_<stamp>_<short uuid>.json` (`inbox.feedback_filename`)."""
    if not (name.startswith("feedback_") and name.endswith(".json")):
        return None
    parts = name[len("feedback_"):-len(".json")].rsplit("_", 2)
    return parts[0] if len(parts) == 3 else None


def reviewers_by_job(inbox: str | os.PathLike, job_ids: set[str] | None = None) -> dict[str, set[str]]:
    """job_id -> the reviewers with a feedback file in the inbox (unparseable files are ignored here).

    With `job_ids`, only files whose name carries one of those jobs are read: a large inbox costs a listing."""
    seen: dict[str, set[str]] = defaultdict(set)
    for path in list_inbox(inbox):
        if job_ids is not None and _named_job(path.name) not in job_ids:
            continue
        if path.suffix != ".json" or path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_FEEDBACK_BYTES:
                continue
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("job_id"), str) and isinstance(data.get("reviewer_id"), str):
            seen[data["job_id"]].add(data["reviewer_id"])
    return seen


def in_overlap_share(job_id: str, fraction: float) -> bool:
    """Deterministic: the same jobs for every reviewer and every run; about `fraction` of all jobs."""
    draw = int.from_bytes(hashlib.sha256(job_id.encode("utf-8")).digest()[:8], "big") / 2 ** 64
    return draw < fraction


def _failing_evidence(job: JobResult) -> int:
    eda = job.compact_eda.model_dump(mode="json")
    return sum(bool(evidence_problems(i.evidence.model_dump(), eda)) for i in job.llm_output.insights)


def build_queue(folder: str | os.PathLike, inbox: str | os.PathLike, reviewer: str,
                overlap: float | None = None, feedback_dir: str | os.PathLike | None = None) -> ReviewQueue:
    """The reviewer's queue over every `*.json` job result in `folder` (unreadable ones are listed, not fatal).

    Reviews already ingested (moved out of the inbox into the feedback store under `feedback_dir`) count as done."""
    queue = ReviewQueue()
    jobs: dict[str, tuple[Path, JobResult]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            job = load_job_result(path)
        except (ValueError, OSError) as exc:
            queue.unreadable.append((path, str(exc)))
            continue
        if job.job_id in jobs:
            queue.unreadable.append((path, f"job {job.job_id!r} appears in an earlier file too"))
            continue
        jobs[job.job_id] = (path, job)
    reviewed = reviewers_by_job(inbox, set(jobs))
    if feedback_dir is not None:
        for _, stored in stored_reviews(feedback_dir):
            if stored.job_id in jobs:
                reviewed.setdefault(stored.job_id, set()).add(stored.reviewer_id)
    for path, job in jobs.values():
        others = reviewed.get(job.job_id, set()) - {reviewer}
        if reviewer in reviewed.get(job.job_id, set()):
            queue.done += 1
        elif others and overlap is not None and not (
                in_overlap_share(job.job_id, overlap) and len(others) < OVERLAP_REVIEWERS):
            queue.left_to_others += 1
        else:
            queue.todo.append(QueuedJob(path, job, _failing_evidence(job)))
    queue.todo.sort(key=lambda q: (-q.failing_evidence, q.job.created_at or "", q.path.name))
    return queue
