"""The one entry point the `datapilot ab-test` command and the `ab_test_report` asset share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from datapilot_pipeline.lib.ab.jobs import job_table
from datapilot_pipeline.lib.ab.report import ab_report
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.contracts import FeedbackFile


def reviews_from_inbox(inbox: Path) -> tuple[list[FeedbackFile], int]:
    """Every usable review in `inbox` (a repeated delivery counts once) and the number of unusable files."""
    from datapilot_pipeline.lib.inbox import drop_repeated_ids, load_inbox

    good, bad = load_inbox(inbox)
    unique, _, conflicts = drop_repeated_ids(good)
    return [feedback for _, feedback in unique], len(bad) + len(conflicts)


def run_ab_test(reviews: Iterable[FeedbackFile], report_dir: Path, mde: float = 0.05, alpha: float = 0.05,
                power: float = 0.8, now: datetime | None = None) -> tuple[dict, Path]:
    """The report for `reviews`, written atomically to `report_dir/ab_test_<TIMESTAMP>.json`."""
    report = ab_report(job_table(reviews), mde=mde, alpha=alpha, power=power)
    now = now or datetime.now(timezone.utc)
    report = {"created_at": now.isoformat().replace("+00:00", "Z"), **report}
    path = Path(report_dir) / f"ab_test_{now:%Y%m%dT%H%M%S%fZ}.json"
    atomic_write_json(path, report)
    return report, path
