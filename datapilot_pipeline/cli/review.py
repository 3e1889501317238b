"""`datapilot review JOB_ID RESULT_JSON [--reviewer ID] [--inbox DIR]`: review one job's insights.

Shows each insight, asks [a]pprove / [e]dit / [r]eject / [s]kip with a score 1-5, then an overall score,
and writes one feedback file to the inbox. End of input or Ctrl-C before the end writes nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError, existing_file

REVIEWER_ENV = "DATAPILOT_REVIEWER"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "review", help="review one job's insights interactively and write a feedback file",
        description=__doc__.split("\n\n", 1)[1].strip())
    parser.add_argument("job_id", metavar="JOB_ID", help="the job being reviewed (must match the file's job_id)")
    parser.add_argument("result_json", metavar="RESULT_JSON", type=existing_file,
                        help="the job result: {job_id, created_at, model, variant, compact_eda, llm_output}")
    parser.add_argument("--reviewer", metavar="ID", help=f"your reviewer id (default: ${REVIEWER_ENV}, else asked)")
    parser.add_argument("--inbox", metavar="DIR", type=Path,
                        help="where the feedback file goes (default: $DATAPILOT_HOME/feedback_inbox)")
    parser.set_defaults(handler=run)


def _reviewer(asker, given: str | None) -> str:
    from datapilot_pipeline.lib.contracts import is_safe_id

    if given is not None:
        if not is_safe_id(given):
            raise UsageError(f"reviewer id {given!r} must match [A-Za-z0-9_.-]{{1,128}}")
        return given
    while True:
        answer = asker.ask("Reviewer id: ")
        if is_safe_id(answer):
            return answer
        asker.invalid("Use 1-128 letters, digits, '_', '.' or '-' (for example analyst_jane).")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from datapilot_pipeline.cli._review_ui import Asker, ask_verdict, render_insight
    from datapilot_pipeline.lib.contracts import is_safe_id
    from datapilot_pipeline.lib.feedback import FeedbackCollector, load_job_result

    if not is_safe_id(args.job_id):
        raise UsageError(f"JOB_ID {args.job_id!r} must match [A-Za-z0-9_.-]{{1,128}}")
    try:
        job = load_job_result(args.result_json, args.job_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.result_json}: {exc.strerror or exc}") from None
    console = Console(highlight=False)
    asker = Asker(console)
    eda = job.compact_eda.model_dump(mode="json")
    insights = job.llm_output.insights
    try:
        reviewer = _reviewer(asker, args.reviewer if args.reviewer is not None else os.environ.get(REVIEWER_ENV))
        console.print(Text(f"Reviewing {job.job_id} ({job.compact_eda.dataset.name}, "
                           f"{len(insights)} insights) as {reviewer}", style="bold"))
        if job.llm_output.summary:
            console.print(Text(f"Summary: {job.llm_output.summary}"))
        items = []
        for position, insight in enumerate(insights, start=1):
            render_insight(console, insight, position, len(insights), eda)
            items.append(ask_verdict(asker, insight, eda))
        overall = asker.score("Overall score for this job, 1-5: ")
    except KeyboardInterrupt:
        console.print()  # end the prompt's line before the one-line message on stderr
        raise
    except EOFError:
        console.print()
        raise UsageError("input ended before the review was complete; nothing was written") from None

    try:
        path = FeedbackCollector(inbox=args.inbox).collect_feedback(
            job_id=job.job_id, compact_eda=job.compact_eda, llm_output=job.llm_output, feedback_items=items,
            reviewer_id=reviewer, overall_score=overall, model=job.model, variant=job.variant)
    except ValueError as exc:
        raise UsageError(f"feedback not written: {exc}") from None
    except OSError as exc:
        raise UsageError(f"feedback not written: cannot write to {exc.filename or args.inbox}: "
                         f"{exc.strerror or exc}") from None
    counts = {a: sum(item["action"] == a for item in items) for a in ("approve", "edit", "reject", "skip")}
    console.print(Text(", ".join(f"{n} {a}" for a, n in counts.items()) + f"; overall {overall}/5", style="bold"))
    console.print(Text(f"Feedback written to {path}", style="green"), soft_wrap=True)  # keep the path copyable
    return 0
