"""`datapilot review`: review job results interactively and write feedback files.

    datapilot review JOB_ID RESULT_JSON [--reviewer ID]       one job
    datapilot review --queue DIR [--reviewer ID] [--overlap F] every job result in DIR you have not reviewed

Each insight: [a]pprove / [e]dit / [r]eject / [s]kip (or [b]ack to the previous insight, [q]uit), notes, a
score 1-5; then an overall score and a confirmation before the feedback file is written. Approving an insight
whose evidence fails the check asks "approve anyway?" first (export drops such insights). Edited evidence is
pre-filled ($VISUAL/$EDITOR on a terminal, else shown as JSON) and evidence that fails the check
re-prompts: fix it, keep it with a reason, or cancel. The queue goes jobs with failing evidence first,
then oldest first, and shows progress (`Job 12/40`); each job is written when confirmed, so after
Ctrl-C the same command resumes at the first job not written. `--overlap F` offers a share F of the
jobs that another reviewer already reviewed to a second reviewer (agreement); without it, every job
you have not reviewed is offered. q, end of input or Ctrl-C writes nothing for the job in progress (q exits 0;
in a queue the same command resumes).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError, existing_file

REVIEWER_ENV = "DATAPILOT_REVIEWER"


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return number


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "review", help="review job results interactively and write feedback files",
        description=__doc__.split("\n\n", 1)[1].strip("\n"), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job_id", metavar="JOB_ID", nargs="?", help="the job being reviewed (must match the file's)")
    parser.add_argument("result_json", metavar="RESULT_JSON", nargs="?", type=existing_file,
                        help="the job result: {job_id, created_at, model, variant, compact_eda, llm_output}")
    parser.add_argument("--queue", metavar="DIR", type=Path, help="review every job result (*.json) in DIR")
    parser.add_argument("--overlap", metavar="F", type=_fraction,
                        help="with --queue: share of jobs already reviewed by someone else offered for a second review")
    parser.add_argument("--reviewer", metavar="ID", help=f"your reviewer id (default: ${REVIEWER_ENV}, else asked)")
    parser.add_argument("--inbox", metavar="DIR", type=Path,
                        help="where feedback files go (default: $DATAPILOT_HOME/feedback_inbox)")
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


def _check_args(args: argparse.Namespace) -> None:
    from datapilot_pipeline.lib.contracts import is_safe_id

    if args.queue is not None:
        if args.job_id is not None:
            raise UsageError("give either JOB_ID RESULT_JSON or --queue DIR, not both")
        if not args.queue.is_dir():
            raise UsageError(f"--queue {args.queue} is not a directory of job results")
    elif args.job_id is None or args.result_json is None:
        raise UsageError("JOB_ID and RESULT_JSON are required (or --queue DIR)")
    elif not is_safe_id(args.job_id):
        raise UsageError(f"JOB_ID {args.job_id!r} must match [A-Za-z0-9_.-]{{1,128}}")
    elif args.overlap is not None:
        raise UsageError("--overlap applies to --queue only")
    if args.inbox is not None and args.inbox.exists() and not args.inbox.is_dir():
        raise UsageError(f"--inbox {args.inbox} is a file; give the folder feedback files go to")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from datapilot_pipeline.cli._review_queue import run_queue, write_review
    from datapilot_pipeline.cli._review_session import review_job
    from datapilot_pipeline.cli._review_ui import Asker, QuitReview
    from datapilot_pipeline.lib.feedback.collector import FeedbackCollector, load_job_result

    _check_args(args)
    console = Console(highlight=False)
    asker = Asker(console)
    try:
        collector = FeedbackCollector(inbox=args.inbox)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    given = args.reviewer if args.reviewer is not None else os.environ.get(REVIEWER_ENV)
    if args.queue is not None:
        return run_queue(console, asker, collector, args.queue, lambda: _reviewer(asker, given), args.overlap)
    try:
        job = load_job_result(args.result_json, args.job_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.result_json}: {exc.strerror or exc}") from None
    try:
        reviewer = _reviewer(asker, given)
        heading = (f"Reviewing {job.job_id} ({job.compact_eda.dataset.name}, "
                   f"{len(job.llm_output.insights)} insights) as {reviewer}")
        review = review_job(console, asker, job, heading)
    except KeyboardInterrupt:
        console.print()  # end the prompt's line before the one-line message on stderr
        raise
    except QuitReview:
        console.print(f"Quit; nothing was written for {job.job_id}.")
        return 0
    except EOFError:
        console.print()
        raise UsageError("input ended before the review was complete; nothing was written") from None
    if review is None:
        console.print("Discarded; nothing was written.")
        return 0
    write_review(console, collector, job, reviewer, review)
    return 0
