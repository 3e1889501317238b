"""`datapilot ab-test`: the A/B verdict at the job unit (few-shot against fine-tuned) from the reviews in the
inbox; writes `reports/ab_test_<TIMESTAMP>.json`, prints the table. Same function as the `ab_test_report` asset.

The test has a fixed horizon: --mde, --alpha and --power give the jobs needed per variant (design effect from
the observed intra-job correlation); before both variants reach it the verdict is `keep collecting`.
Exit 0 whatever the verdict; 2 on bad usage or an inbox that does not exist.
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
    p.add_argument("--inbox", type=Path, metavar="DIR", help="feedback files (default: $DATAPILOT_HOME/feedback_inbox)")
    p.add_argument("--report-dir", type=Path, metavar="DIR", help="where the report goes (default: reports/)")
    p.add_argument("--mde", type=_rate, default=0.05, help="minimum detectable approval lift, absolute (default 0.05)")
    p.add_argument("--alpha", type=_rate, default=0.05, help="two-sided significance level (default 0.05)")
    p.add_argument("--power", type=_rate, default=0.8, help="power at the MDE (default 0.8)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datapilot_pipeline.lib.ab.report import summary_table
    from datapilot_pipeline.lib.ab.run import reviews_from_inbox, run_ab_test
    from datapilot_pipeline.lib.paths import Workspace

    workspace = Workspace.current()
    if args.inbox is not None and not args.inbox.is_dir():
        raise UsageError(f"inbox {args.inbox} is not a directory")
    reviews, unusable = reviews_from_inbox(args.inbox or workspace.inbox)
    if unusable:
        print(f"datapilot: {unusable} unusable feedback file(s) left out (see `feedback_records` for reasons)",
              file=sys.stderr)
    try:
        report, path = run_ab_test(reviews, args.report_dir or workspace.reports, args.mde, args.alpha, args.power)
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    print(summary_table(report))
    print(f"report: {path}")
    return 0
