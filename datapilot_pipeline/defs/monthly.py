"""Feedback by month: the A/B figures and the feedback quality of one UTC month per partition.

Separate assets beside the unpartitioned `ab_test_report` and `feedback_quality_trends` rather than partitioning
those: `ab_test_job` (the daily schedule), `demo_job` and `datapilot demo` materialize them without a partition
key or run config, and the A/B verdict is one decision over a whole experiment, not a per-month figure. Each
partition reads only its month's rows of the feedback store, through the month index (`lib.feedback.store`), on
SQLite and on PostgreSQL alike.
"""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource

MONTHS_START_ENV = "DATAPILOT_MONTHS_START"
DEFAULT_MONTHS_START = "2025-01-01"

# One partition per UTC month from the start month to the current month included (end_offset=1: the month in
# progress can be read too; its figures grow until the month ends).
MONTHS = dg.MonthlyPartitionsDefinition(start_date=os.environ.get(MONTHS_START_ENV) or DEFAULT_MONTHS_START,
                                        timezone="UTC", end_offset=1)


def month_of(partition_key: str) -> str:
    """`YYYY-MM` of a partition key (`YYYY-MM-01`)."""
    return partition_key[:7]


@dg.asset(group_name="ab_testing", kinds={"json"}, partitions_def=MONTHS, deps=["feedback_records"])
def ab_test_by_month(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.Output[dict]:
    """The A/B figures of the reviews written in one UTC month: jobs, approval rate, mean overall score and
    hallucination rejections per variant (job unit: reviewers' consensus per job), Welch's t on per-job approval
    rates, the guardrail tests and the per-day statistic. For monitoring month by month: the verdict stays
    `ab_test_report`'s (one fixed-horizon decision per experiment); nothing is planned or decided here. Reads the
    month's rows of the feedback store only (the month index); written to `reports/ab_test_month_<YYYY-MM>.json`."""
    from datapilot_pipeline.lib.ab.jobs import job_table
    from datapilot_pipeline.lib.ab.report import month_report
    from datapilot_pipeline.lib.atomic import atomic_write_json
    from datapilot_pipeline.lib.feedback.ingest import stored_reviews_in_month

    month = month_of(context.partition_key)
    ws = workspace.workspace()
    report = month_report(job_table(stored_reviews_in_month(ws.feedback_dir, month)), month)
    path = atomic_write_json(ws.reports / f"ab_test_month_{month}.json", report)
    metadata: dict = {"month": month, "reviews": report["reviews"], "report": dg.MetadataValue.path(str(path))}
    for name, v in report["variants"].items():
        metadata[f"{name}/jobs"] = v["jobs"]
        if v["approval_rate"] is not None:
            metadata[f"{name}/approval_rate"] = dg.MetadataValue.float(v["approval_rate"])
    if report["approval_test"] is not None:
        metadata["difference"] = dg.MetadataValue.float(report["approval_test"]["difference"])
        metadata["p_value"] = dg.MetadataValue.float(report["approval_test"]["p_value"])
    metadata["guardrails_pass"] = all(g["passed"] for g in report["guardrails"])
    context.log.info(f"{month}: {report['reviews']} review(s), jobs per variant "
                     f"{ {k: v['jobs'] for k, v in report['variants'].items()} }")
    return dg.Output(report, metadata=for_display(metadata))


@dg.asset(group_name="monitoring", kinds={"pandas"}, partitions_def=MONTHS, deps=["feedback_records"])
def feedback_quality_by_month(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.Output[dict]:
    """Feedback quality of the reviews written in one UTC month: approval, edit and reject rates, mean human and
    overall scores, the evidence-valid rate and reviewer agreement, overall and per insight category (the month's
    row of `feedback_quality_trends`, computed from that month's rows of the feedback store alone, through the
    month index). Written to `reports/feedback_quality_month_<YYYY-MM>.json`."""
    from datapilot_pipeline.lib.atomic import atomic_write_json
    from datapilot_pipeline.lib.feedback.ingest import decisions_table, feedback_table
    from datapilot_pipeline.lib.trends import month_summary

    month = month_of(context.partition_key)
    ws = workspace.workspace()
    summary = month_summary(decisions_table(ws.feedback_dir, month), feedback_table(ws.feedback_dir, month), month)
    path = atomic_write_json(ws.reports / f"feedback_quality_month_{month}.json", summary)
    metadata: dict = {"report": dg.MetadataValue.path(str(path)), "categories": len(summary["by_category"])}
    for name, value in summary.items():
        if name not in ("by_category",) and value is not None:
            metadata[name] = value
    context.log.info(f"{month}: {summary['n_feedback']} review(s), {summary['n_reviewed']} reviewed insight(s)")
    return dg.Output(summary, metadata=for_display(metadata))


monthly_reports_job = dg.define_asset_job(
    "monthly_reports_job", selection=dg.AssetSelection.assets(ab_test_by_month, feedback_quality_by_month),
    partitions_def=MONTHS,
    description="One month's A/B figures and feedback quality (a partition per UTC month), read from the feedback "
                "store as it stands; ingest first (`ab_test_job`, `export_job`) to include the inbox.")


def previous_month_key(when: datetime) -> str:
    """The partition key of the month before `when`'s (UTC)."""
    first = when.astimezone(timezone.utc).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m-01")


@dg.schedule(job=monthly_reports_job, cron_schedule="0 7 1 * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="On the 1st of each month (07:00 UTC, after the daily A/B read has ingested the inbox), "
             "materialize the month that just ended: its A/B figures and feedback quality. No run config; the "
             "partition key is the only thing it sends.")
def monthly_reports_schedule(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time or datetime.now(timezone.utc)
    key = previous_month_key(when)
    if key not in MONTHS.get_partition_keys(current_time=when):
        return dg.SkipReason(f"{key} is before the first month partition ({MONTHS.start:%Y-%m})")
    return dg.RunRequest(run_key=f"monthly-reports-{key}", partition_key=key,
                         tags={"datapilot/trigger": "monthly_reports_schedule"})
