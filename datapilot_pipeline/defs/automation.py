"""Automation: an export when enough new eligible feedback has arrived, and periodic retrains.

On by default: `new_feedback_sensor` and `quarterly_retrain_schedule` (a retrain at least every quarter even when
feedback is sparse). `monthly_retrain_schedule` is off by default: once feedback volume is steady, turn it on in
the UI (Automation -> the schedule -> toggle) or set `default_status=RUNNING` below; it skips months with too
little new data, so running both is safe (the quarterly run then simply adds a retrain in those months).
"""

import dagster as dg

from datapilot_pipeline.defs.resources import AutomationSettings, WorkspaceResource

# Selections by key in the selection syntax: stages that are not deployed resolve to nothing instead of failing the
# whole code location; test_automation pins the full sets.
EXPORT_ASSETS = ("feedback_records", "reviewed_examples", "finetune_dataset", "validation_report", "training_dataset")
TRAINED_ROOT = "fine_tuned_model"  # it and everything downstream of it: evaluation and promotion
NOT_RETRAINED = ("ab_test_report",)  # judged on production traffic, not on a retrain

EXPORT_SELECTION = dg.AssetSelection.from_string(" or ".join(f'key:"{key}"' for key in EXPORT_ASSETS))
RETRAIN_SELECTION = (
    (EXPORT_SELECTION | dg.AssetSelection.from_string(f'key:"{TRAINED_ROOT}"+'))
    - dg.AssetSelection.groups("monitoring")
    - dg.AssetSelection.from_string(" or ".join(f'key:"{key}"' for key in NOT_RETRAINED))
)

export_job = dg.define_asset_job(
    "export_job", selection=EXPORT_SELECTION,
    description="Ingest new feedback, export the fine-tuning dataset and validate it (blocking checks included).")
retrain_job = dg.define_asset_job(
    "retrain_job", selection=RETRAIN_SELECTION,
    description="Export -> validation -> training -> evaluation -> promotion, in one run.")


# Dagster shows a sensor's or schedule's `description`, not its docstring.
@dg.sensor(job=export_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Counts feedback that the export rule would keep (not raw files) since the last export "
           "request, reading only the inbox files that arrived since the previous tick; at the threshold "
           "(DATAPILOT_SENSOR_THRESHOLD, default 100) it requests one `export_job` run. Reviews a run has since "
           "ingested (moved out of the inbox) were exported by that run and leave the count, so the demo's or a "
           "scheduled run's reviews never trigger a second export. The count and the inbox position live in the "
           "sensor cursor, so they survive restarts.")
def new_feedback_sensor(context: dg.SensorEvaluationContext, workspace: WorkspaceResource,
                        automation: AutomationSettings) -> dg.SensorResult:
    from datapilot_pipeline.lib.feedback.sensor_state import SensorCursor, after_export_request, export_run_key, scan

    threshold = automation.threshold()
    result = scan(workspace.workspace().inbox, SensorCursor.decode(context.cursor), automation.eligibility(),
                  settle_s=automation.settle())
    cursor = result.cursor
    if result.new_rejected:
        context.log.warning(f"{result.new_rejected} unreadable feedback file(s) passed over: {result.reasons}")
    if cursor.pending < threshold:
        return dg.SensorResult(cursor=cursor.encode(), skip_reason=dg.SkipReason(
            f"{cursor.pending} eligible new example(s) since the last export, {threshold} needed "
            f"({result.new_files} new file(s) this tick, {result.new_eligible} eligible, {result.new_rejected} rejected, "
            f"{result.new_duplicates} duplicate)"))
    request = dg.RunRequest(run_key=export_run_key(cursor), tags={
        "datapilot/trigger": "new_feedback_sensor", "datapilot/eligible_new": str(cursor.pending)})
    return dg.SensorResult(run_requests=[request], cursor=after_export_request(cursor).encode())


@dg.schedule(job=retrain_job, cron_schedule="0 0 1 * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Retrain on the 1st of each month (00:00 UTC) when enough eligible feedback "
             "(DATAPILOT_RETRAIN_MIN_NEW, default 100) arrived since the last `fine_tuned_model` materialization; "
             "otherwise skip, saying how much arrived. Off by default: switch it on here once feedback is steady.")
def monthly_retrain_schedule(context: dg.ScheduleEvaluationContext, workspace: WorkspaceResource,
                             automation: AutomationSettings):
    from datapilot_pipeline.lib.feedback.sensor_state import count_eligible_since

    last = context.instance.get_latest_materialization_event(dg.AssetKey(TRAINED_ROOT))
    since_ns = int(last.timestamp * 1e9) if last is not None else 0
    ws = workspace.workspace()
    eligible, rejected = count_eligible_since(ws.inbox, since_ns, automation.eligibility(), ws.feedback_dir)
    minimum = automation.retrain_minimum()
    since = "the last training" if last is not None else "the start (no model trained yet)"
    if eligible < minimum:
        return dg.SkipReason(f"{eligible} eligible new example(s) since {since}, {minimum} needed to retrain")
    when = context.scheduled_execution_time
    return dg.RunRequest(run_key=f"monthly-retrain-{when:%Y-%m}" if when else None,
                         tags={"datapilot/trigger": "monthly_retrain_schedule", "datapilot/eligible_new": str(eligible),
                               "datapilot/rejected_new": str(rejected)})


quarterly_retrain_schedule = dg.ScheduleDefinition(
    name="quarterly_retrain_schedule", job=retrain_job, cron_schedule="0 0 1 1,4,7,10 *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain on the 1st of January, April, July and October (00:00 UTC), whatever arrived.")
