"""Ingestion stage: the reviewers' inbox -> the feedback store (reviews and insight decisions)."""

import dagster as dg

from datapilot_pipeline.defs.resources import WorkspaceResource

PREVIEW_COLUMNS = ["job_id", "reviewer_id", "created_at", "overall_score", "variant", "n_approved", "n_edited",
                   "n_rejected", "n_skipped", "source_file"]


@dg.asset(group_name="feedback", kinds={"sqlite"}, pool="feedback_store")
def feedback_records(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.Output[dict]:
    """Every analyst review in `feedback_inbox/`, in the feedback store (SQLite `data/feedback/feedback.sqlite`, or
    the PostgreSQL database of `DATAPILOT_STORE_URL`): one row per review (`feedback`) and one per insight verdict
    (`decisions`, with whether the insight's evidence checks out against its data), committed together with the
    record of the inbox files they came from. Each review counts once however often it is dropped in. Handled
    files leave the inbox: to `data/feedback/archive/<date>/`, or, when they cannot be used, to
    `data/feedback/quarantine/` with the reason beside them, so their authors can fix and resend them."""
    from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
    from datapilot_pipeline.lib.feedback.tables import markdown_table

    ws = workspace.workspace()
    result = ingest_inbox(ws.inbox, ws.feedback_dir)
    if result.quarantined:
        context.log.warning(f"{result.quarantined} inbox entries quarantined; see {result.quarantine_dir}")
    value = {
        "feedback_dir": str(result.feedback_dir),
        "store": result.store,
        "new_feedback": result.new_feedback,
        "total_feedback": result.total_feedback,
        "total_decisions": result.total_decisions,
        "new_feedback_ids": result.new_feedback_ids,
    }
    reasons = "\n".join(f"- {count} × {reason}" for reason, count in sorted(result.quarantine_reasons.items()))
    metadata = {
        "ingested_new": result.new_feedback,
        "new_decisions": result.new_decisions,
        "total_feedback": result.total_feedback,
        "total_decisions": result.total_decisions,
        "duplicates": result.duplicates,
        "recovered": result.recovered,
        "deferred_still_writing": result.deferred,
        "quarantined_new": result.quarantined,
        "quarantined_total": result.total_quarantined,
        "quarantine_reasons": dg.MetadataValue.md(reasons or "none this run"),
        "preview": dg.MetadataValue.md(markdown_table(result.preview, PREVIEW_COLUMNS) if result.preview
                                       else "no new feedback this run"),
        "quarantine": dg.MetadataValue.md(markdown_table(result.quarantine_preview, ["path", "reason", "seen_at"])
                                          if result.quarantine_preview else "nothing quarantined"),
        "store": dg.MetadataValue.text(result.store),
        "archive": dg.MetadataValue.path(str(result.archive_dir)),
        "quarantine_folder": dg.MetadataValue.path(str(result.quarantine_dir)),
    }
    if result.approval_rate is not None:  # approved / reviewed (non-skipped) decisions, all ingested so far
        metadata["approval_rate"] = dg.MetadataValue.float(round(result.approval_rate, 4))
    return dg.Output(value, metadata=metadata)
