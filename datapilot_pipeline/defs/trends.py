"""Monitoring: how reviewers judge the model's insights over time, and a warning when that judgement drops."""

import dagster as dg

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource

_HEADLINE = ("n_feedback", "n_reviewed", "approval_rate", "edit_rate", "mean_human_score", "mean_overall_score",
             "evidence_valid_rate", "reviewer_alpha")
_TABLE = ("n_feedback", "n_reviewed", "approval_rate", "edit_rate", "reject_rate", "mean_human_score",
          "mean_overall_score", "evidence_valid_rate", "reviewer_alpha")
_CATEGORY_TABLE = ("n_reviewed", "approval_rate", "edit_rate", "mean_human_score", "evidence_valid_rate",
                   "reviewer_alpha")


def _number(name: str, value) -> float | int | None:
    if value is None or value != value:  # NaN: undefined (e.g. alpha with a single reviewer)
        return None
    return int(value) if name.startswith("n_") else float(value)


@dg.asset(group_name="monitoring", kinds={"pandas"})
def feedback_quality_trends(context: dg.AssetExecutionContext, feedback_records: dict,
                            workspace: WorkspaceResource) -> dg.Output[dict]:
    """Feedback quality month by month (UTC) and per insight category: approval, edit and reject rates, mean
    human and overall scores, the share of insights whose evidence checks out against the EDA, and reviewer
    agreement (Krippendorff's alpha, interval, on the 1-5 scores of insights reviewed by two or more people).
    The latest month's figures are plotted over time in the UI; the full series is written to
    `reports/feedback_quality_trends.json`."""

    from datapilot_pipeline.lib.atomic import atomic_write_json
    from datapilot_pipeline.lib.feedback.ingest import decisions_table, feedback_table
    from datapilot_pipeline.lib.trends import markdown_table, trend_report

    report = trend_report(decisions_table(feedback_records["feedback_dir"]),
                          feedback_table(feedback_records["feedback_dir"]))
    path = atomic_write_json(workspace.workspace().reports / "feedback_quality_trends.json", report.to_dict())
    summary = report.to_dict()
    metadata: dict = {"months": len(report.monthly), "report_path": dg.MetadataValue.path(str(path)),
                      "drifted_metrics": len(report.drifted)}
    if len(report.monthly):
        latest = report.monthly.iloc[-1]
        metadata["latest_month"] = str(report.monthly.index[-1])
        for name in _HEADLINE:
            value = _number(name, latest[name])
            if value is not None:  # an absent entry, not a fake 0, when a metric is undefined this month
                metadata[name] = value
        metadata["monthly"] = dg.MetadataValue.md(markdown_table(report.monthly[list(_TABLE)]))
        latest_categories = report.by_category.xs(report.monthly.index[-1], level="month", drop_level=True) \
            if report.monthly.index[-1] in report.by_category.index.get_level_values("month") else None
        if latest_categories is not None:
            metadata["latest_month_by_category"] = dg.MetadataValue.md(
                markdown_table(latest_categories[list(_CATEGORY_TABLE)]))
    context.log.info(f"{len(report.monthly)} months of feedback, {len(report.drifted)} drifted metric(s)")
    return dg.Output(summary, metadata=for_display(metadata))


@dg.asset_check(asset=feedback_quality_trends, description="Warns when the latest month's approval rate, scores, "
                "evidence-valid rate or reviewer agreement fell below the previous three months' mean by more "
                "than the threshold (overall and per category).")
def feedback_quality_has_not_drifted(feedback_quality_trends: dict) -> dg.AssetCheckResult:
    findings = [dict(f, month=result["month"]) for result in feedback_quality_trends["drift"]
                for f in result["findings"]]
    drifted = [f for f in findings if f["drifted"]]
    overall = feedback_quality_trends["drift"][0] if feedback_quality_trends["drift"] else {}
    metadata: dict = {"metrics_compared": len(findings), "drifted_metrics": len(drifted),
                      "month": overall.get("month") or "none",
                      "baseline_months": ", ".join(overall.get("baseline_months", [])) or "none"}
    if overall.get("reason"):
        metadata["not_judged_because"] = overall["reason"]
    for f in drifted:
        key = f"{f['scope']}.{f['metric']}"
        metadata[f"{key}.latest"] = round(f["latest"], 4)
        metadata[f"{key}.baseline"] = round(f["baseline"], 4)
        metadata[f"{key}.drop"] = round(f["drop"], 4)
    if drifted:
        lines = ["| scope | metric | latest | baseline | drop | threshold |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {f['scope']} | {f['metric']} | {f['latest']:.3f} | {f['baseline']:.3f} | {f['drop']:.3f} | "
                  f"{f['threshold']:.3f} |" for f in drifted]
        metadata["drift"] = dg.MetadataValue.md("\n".join(lines))
    return dg.AssetCheckResult(passed=not drifted, severity=dg.AssetCheckSeverity.WARN, metadata=for_display(metadata))
