"""The one entry point the `datapilot ab-test` command and the `ab_test_report` asset share: the reviews read
as `datapilot export` reads them, the experiments' stored plans and decisions under the working root, and the
report written to `reports/ab_test_<TIMESTAMP>.json`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from datapilot_pipeline.lib.ab.experiments import ExperimentKey, ExperimentStore, Selector
from datapilot_pipeline.lib.ab.jobs import job_table
from datapilot_pipeline.lib.ab.report import ab_report
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.contracts import FeedbackFile


def load_reviews(inbox: Path | None, feedback_dir: Path | None) -> tuple[list[FeedbackFile], int]:
    """Every usable review, as `datapilot export` reads them: those already ingested into the feedback store of
    `feedback_dir` (none when None), then those still waiting in `inbox` (none when None or absent); a repeated
    delivery counts once. Also the number of unusable inbox files. `StoreError` when the store cannot be read."""
    from datapilot_pipeline.lib.feedback.inbox import drop_repeated_ids, load_inbox
    from datapilot_pipeline.lib.feedback.ingest import stored_reviews

    good, bad = load_inbox(inbox) if inbox is not None else ([], [])
    if feedback_dir is not None:
        good = stored_reviews(feedback_dir) + good
    unique, _, conflicts = drop_repeated_ids(good)
    return [feedback for _, feedback in unique], len(bad) + len(conflicts)


def read_ab_test(reviews: Iterable[FeedbackFile], root: Path, mde: float | None = None, alpha: float | None = None,
                 power: float | None = None, experiment: ExperimentKey | Selector | str | None = None,
                 now: datetime | None = None, planned_by: str = "first read") -> dict:
    """The report (`report.ab_report`) with the experiments' plans and decisions kept under `root/data/ab/`."""
    return ab_report(job_table(reviews), mde=mde, alpha=alpha, power=power, store=ExperimentStore.under(root),
                     experiment=experiment, now=now or datetime.now(timezone.utc), planned_by=planned_by)


def run_ab_test(reviews: Iterable[FeedbackFile], root: Path, report_dir: Path, mde: float | None = None,
                alpha: float | None = None, power: float | None = None, experiment: ExperimentKey | Selector | str | None = None,
                now: datetime | None = None) -> tuple[dict, Path]:
    """`read_ab_test`, written atomically to `report_dir/ab_test_<TIMESTAMP>.json`."""
    now = now or datetime.now(timezone.utc)
    report = read_ab_test(reviews, root, mde, alpha, power, experiment, now)
    report = {"created_at": now.isoformat().replace("+00:00", "Z"), **report}
    path = Path(report_dir) / f"ab_test_{now:%Y%m%dT%H%M%S%fZ}.json"
    atomic_write_json(path, report)
    return report, path
