"""`datapilot review --queue DIR`: one reviewer's walk through a folder of job results, a file per job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from datapilot_pipeline.cli._review_session import Review, review_job
from datapilot_pipeline.cli._review_ui import Asker, QuitReview
from datapilot_pipeline.cli.common import Interrupted, UsageError
from datapilot_pipeline.lib.contracts import JobResult
from datapilot_pipeline.lib.feedback.collector import FeedbackCollector
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.feedback.review_queue import build_queue


def _reviews(n: int) -> str:
    return f"{n} review" + ("" if n == 1 else "s")


def write_review(console: Console, collector: FeedbackCollector, job: JobResult, reviewer: str,
                 review: Review) -> Path:
    """Write one confirmed review; a refusal or a write error is a UsageError naming the cause."""
    try:
        path = collector.collect_feedback(
            job_id=job.job_id, compact_eda=job.compact_eda, llm_output=job.llm_output, feedback_items=review.items,
            reviewer_id=reviewer, overall_score=review.overall_score, model=job.model, variant=job.variant)
    except ValueError as exc:
        raise UsageError(f"feedback not written: {exc}") from None
    except OSError as exc:
        raise UsageError(f"feedback not written: cannot write to {exc.filename or collector.inbox}: "
                         f"{exc.strerror or exc}") from None
    console.print(Text(f"Feedback written to {path}", style="green"), soft_wrap=True)  # keep the path copyable
    return path


def run_queue(console: Console, asker: Asker, collector: FeedbackCollector, folder: Path,
              reviewer_of: Callable[[], str], overlap: float | None) -> int:
    """Review every queued job in order; each confirmed review is written at once (that is the resume point)."""
    written = 0
    try:
        reviewer = reviewer_of()
        queue = build_queue(folder, collector.inbox, reviewer, overlap, Workspace.current().feedback_dir)
        for path, reason in queue.unreadable:
            console.print(Text(f"skipped {path.name}: {reason}", style="yellow"), soft_wrap=True)
        shared = f", {queue.left_to_others} left to other reviewers" if queue.left_to_others else ""
        console.print(Text(f"Queue for {reviewer} in {folder}: {len(queue.todo)} to review, "
                           f"{queue.done} already reviewed{shared}; jobs with failing evidence first.", style="bold"),
                      soft_wrap=True)
        for queued in queue.todo:
            job, n = queued.job, queue.done + written + 1  # a discarded job does not advance the count
            flag = f", {queued.failing_evidence} failing evidence" if queued.failing_evidence else ""
            heading = (f"Job {n}/{queue.total} · {job.job_id} ({job.compact_eda.dataset.name}, "
                       f"{len(job.llm_output.insights)} insights{flag}) · {queued.path.name}")
            review = review_job(console, asker, job, heading)
            if review is None:
                console.print("Discarded; this job stays in your queue.")
                continue
            write_review(console, collector, job, reviewer, review)
            written += 1
    except KeyboardInterrupt:
        console.print()
        raise Interrupted(f"interrupted: {_reviews(written)} written in this session, the job in progress was not; "
                          f"run the same command to resume") from None
    except QuitReview:
        console.print(Text(f"Quit: {_reviews(written)} written in this session, the job in progress was not; run the "
                           f"same command to resume.", style="bold"), soft_wrap=True)
        return 0
    except EOFError:
        console.print()
        raise UsageError(f"input ended: {_reviews(written)} written in this session, the job in progress was not; "
                         f"run the same command to resume") from None
    console.print(Text(f"Queue done: {_reviews(written)} written in this session.", style="bold"))
    return 0
