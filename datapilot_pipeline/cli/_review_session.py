"""One job's review from first insight to the written file: verdicts with a way back, an overall score,
a summary and a confirmation before anything is written (`datapilot review`, single or `--queue`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from datapilot_pipeline.cli._review_ui import BACK, Asker, ask_verdict, render_insight
from datapilot_pipeline.lib.contracts import JobResult

CONFIRM_CHOICES = {"y": "write", "yes": "write", "": "write", "b": BACK, "back": BACK,
                   "d": "discard", "discard": "discard"}
ACTIONS = ("approve", "edit", "reject", "skip")


@dataclass
class Review:
    """A finished, confirmed review of one job, ready for `FeedbackCollector.collect_feedback`."""

    items: list[dict[str, Any]]
    overall_score: int

    def counts(self) -> str:
        return ", ".join(f"{sum(i['action'] == a for i in self.items)} {a}" for a in ACTIONS)


def review_job(console: Console, asker: Asker, job: JobResult, heading: str) -> Review | None:
    """Walk the insights (b goes back one), ask the overall score, confirm. None when the reviewer discards."""
    insights = job.llm_output.insights
    eda = job.compact_eda.model_dump(mode="json")
    console.print(Text(heading, style="bold"))
    if job.llm_output.summary:
        console.print(Text(f"Summary: {job.llm_output.summary}"))
    items: list[dict[str, Any] | None] = [None] * len(insights)
    position = 0
    while True:
        while position < len(insights):
            render_insight(console, insights[position], position + 1, len(insights), eda)
            answer = ask_verdict(asker, insights[position], eda, previous=items[position], can_go_back=position > 0)
            if answer == BACK:
                position -= 1
                continue
            items[position] = answer
            position += 1
        overall = asker.score("Overall score for this job, 1-5 (b goes back): ", allow_back=True)
        if overall == BACK:
            position = len(insights) - 1
            continue
        review = Review(items=[i for i in items if i is not None], overall_score=overall)
        console.print(Text(f"{review.counts()}; overall {overall}/5", style="bold"))
        choice = asker.choice("Write this review? [y]es / [b]ack to the last insight / [d]iscard it: ",
                              CONFIRM_CHOICES, "Please answer y (write), b (back) or d (discard).")
        if choice == "write":
            return review
        if choice == "discard":
            return None
        position = len(insights) - 1
