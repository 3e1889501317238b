"""`datapilot ab-test`: the A/B verdict at the job unit (few-shot against fine-tuned) from the reviews already
ingested into the feedback store plus those still in the inbox (as `datapilot export` reads them); writes
`reports/ab_test_<TIMESTAMP>.json`, prints the table. Same function as the `ab_test_report` asset.

One answer per experiment. An experiment is a pair of model versions (the few-shot model and one fine-tuned
release); a new release starts a new one. Its plan (jobs per variant from --mde, --alpha, --power and the
intra-job correlation) is fixed at its first read, or by `--plan`, and kept under $DATAPILOT_HOME/data/ab/;
before both variants reach it the verdict is `keep collecting`, then it is decided once on the first N jobs of
each variant and every later read returns that answer. Leave the design options out to read a planned
experiment; options that differ from its plan are refused. Without --fine-tuned-model the current experiment
(the latest release) is read.
Exit 0 whatever the verdict; 2 on bad usage, an inbox that does not exist or options that contradict the plan.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datapilot_pipeline.cli.common import UsageError


def _rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return number


def register(subparsers) -> None:
    p = subparsers.add_parser("ab-test", help="A/B verdict (few-shot vs fine-tuned) at the job unit",
                              description=__doc__.split("\n\n", 1)[1].strip())
    p.add_argument("--inbox", type=Path, metavar="DIR",
                   help="read only the feedback files in DIR (default: the feedback store plus $DATAPILOT_HOME/feedback_inbox)")
    p.add_argument("--report-dir", type=Path, metavar="DIR", help="where the report goes (default: reports/)")
    p.add_argument("--mde", type=_rate, help="minimum detectable approval lift, absolute (a new plan's default 0.05)")
    p.add_argument("--alpha", type=_rate, help="two-sided significance level (a new plan's default 0.05)")
    p.add_argument("--power", type=_rate, help="power at the MDE (a new plan's default 0.8)")
    p.add_argument("--plan", action="store_true",
                   help="fix the experiment's plan now (before its first reviewed job if need be) and print it")
    p.add_argument("--fine-tuned-model", metavar="NAME", help="the experiment of this fine-tuned release (default: the latest)")
    p.add_argument("--few-shot-model", metavar="NAME",
                   help="with --fine-tuned-model: its few-shot model (default: the latest reviewed)")
    p.set_defaults(handler=run)


def _print_plan(report: dict) -> None:
    d, e = report["design"], report["experiment"]
    print(f"experiment {e['id']}: fine_tuned {e['models']['fine_tuned']} vs few_shot {e['models']['few_shot']}")
    print(f"plan fixed at {e['planned_at']} ({e['planned_by']}): MDE {d['mde']:g}, alpha {d['alpha']:g}, power "
          f"{d['power']:g}, ICC {d['icc']:.3f} -> {d['jobs_needed_per_variant']} jobs per variant ({d['source']})")


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.ab.experiments import Selector
    from datapilot_pipeline.lib.ab.report import PlanConflict, summary_table
    from datapilot_pipeline.lib.ab.run import load_reviews, read_ab_test, run_ab_test
    from datapilot_pipeline.lib.feedback.store import StoreError
    from datapilot_pipeline.lib.paths import Workspace

    workspace = Workspace.current()
    if args.inbox is not None and not args.inbox.is_dir():
        raise UsageError(f"inbox {args.inbox} is not a directory")
    if args.few_shot_model and not args.fine_tuned_model:
        raise UsageError("--few-shot-model needs --fine-tuned-model")
    selector = Selector(args.fine_tuned_model, args.few_shot_model) if args.fine_tuned_model else None
    try:  # an explicit inbox is read alone, as `datapilot export --inbox` does
        reviews, unusable = load_reviews(args.inbox or workspace.inbox,
                                         None if args.inbox is not None else workspace.feedback_dir)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if unusable:
        print(f"datapilot: {unusable} unusable feedback file(s) left out (see `feedback_records` for reasons)",
              file=sys.stderr)
    params = (args.mde, args.alpha, args.power)
    try:
        if args.plan:
            report = read_ab_test(reviews, workspace.root, *params, experiment=selector,
                                  planned_by="datapilot ab-test --plan")
            if report["experiment"] is None:
                raise UsageError("no experiment to plan yet: name its release with --fine-tuned-model")
            _print_plan(report)
            return 0
        report, path = run_ab_test(reviews, workspace.root, args.report_dir or workspace.reports, *params,
                                   experiment=selector)
    except (PlanConflict, LookupError, ValueError) as exc:  # ValueError: an unreadable stored plan or decision
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    print(summary_table(report))
    print(f"report: {path}")
    return 0
