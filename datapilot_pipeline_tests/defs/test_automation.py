from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from dagster._utils.schedules import schedule_execution_time_iterator

from datapilot_pipeline.defs.automation import (
    EXPORT_ASSETS,
    AutomationSettings,
    monthly_retrain_schedule,
    new_feedback_sensor,
    quarterly_retrain_schedule,
)
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.feedback.sensor_state import SensorCursor
from datapilot_pipeline_tests.sensor_fixtures import write_reviews

RETRAIN_STAGES = ("feedback_records", "reviewed_examples", "finetune_dataset", "validation_report", "training_dataset",
                  "fine_tuned_model", "evaluation_scores")


def _resources(home: Path, **settings) -> dict:
    return {"workspace": WorkspaceResource(root=str(home)),
            "automation": AutomationSettings(settle_seconds=0.0, **settings)}


def _tick(home: Path, cursor: str | None, instance: dg.DagsterInstance, **settings) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=_resources(home, **settings))
    return new_feedback_sensor(context)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def persistent_instance():
    """Schedules read the instance through an instance reference, which an ephemeral instance does not have."""
    with dg.instance_for_test() as inst:
        yield inst


def test_definitions_wire_the_automation() -> None:
    from datapilot_pipeline.definitions import defs

    assert {s.name for s in defs.sensors} >= {"new_feedback_sensor"}
    assert {s.name for s in defs.schedules} >= {"monthly_retrain_schedule", "quarterly_retrain_schedule"}
    defined = {key.to_user_string() for key in defs.resolve_asset_graph().materializable_asset_keys}
    export_keys = {k.to_user_string() for k in defs.resolve_job_def("export_job").asset_layer.executable_asset_keys}
    retrain_keys = {k.to_user_string() for k in defs.resolve_job_def("retrain_job").asset_layer.executable_asset_keys}
    assert export_keys & defined == set(EXPORT_ASSETS) & defined
    assert set(RETRAIN_STAGES) & defined <= retrain_keys
    assert "feedback_quality_trends" not in retrain_keys and "ab_test_report" not in retrain_keys
    assert new_feedback_sensor.job_name == "export_job"


def test_schedule_crons_timezones_and_defaults() -> None:
    assert monthly_retrain_schedule.cron_schedule == "0 0 1 * *"
    assert quarterly_retrain_schedule.cron_schedule == "0 0 1 1,4,7,10 *"
    for schedule in (monthly_retrain_schedule, quarterly_retrain_schedule):
        assert schedule.execution_timezone == "UTC" and schedule.job_name == "retrain_job"
    assert monthly_retrain_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert quarterly_retrain_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert new_feedback_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    start = datetime(2026, 2, 10, tzinfo=timezone.utc).timestamp()
    quarterly = schedule_execution_time_iterator(start, quarterly_retrain_schedule.cron_schedule, "UTC")
    assert [next(quarterly).strftime("%Y-%m-%d %H:%M %z") for _ in range(4)] == [
        "2026-04-01 00:00 +0000", "2026-07-01 00:00 +0000", "2026-10-01 00:00 +0000", "2027-01-01 00:00 +0000"]
    monthly = schedule_execution_time_iterator(start, monthly_retrain_schedule.cron_schedule, "UTC")
    assert [f"{next(monthly):%m-%d %H:%M}" for _ in range(2)] == ["03-01 00:00", "04-01 00:00"]


def test_sensor_skips_at_99_and_requests_one_run_at_100(home: Path, instance) -> None:
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=99, n_ineligible=40)
    first = _tick(home, None, instance)
    assert first.run_requests == [] and first.skip_reason is not None
    assert first.skip_reason.skip_message.startswith("99 eligible new example(s) since the last export, 100 needed")
    assert SensorCursor.decode(first.cursor).files_seen == 139

    time.sleep(0.01)
    write_reviews(inbox, n_eligible=1, prefix="hundredth")
    second = _tick(home, first.cursor, instance)
    (request,) = second.run_requests
    last = SensorCursor.decode(second.cursor)
    assert request.run_key == f"export-{last.ctime_ns}-{last.name}" and "hundredth" in last.name
    assert request.tags["datapilot/eligible_new"] == "100"
    assert SensorCursor.decode(second.cursor).pending == 0

    third = _tick(home, second.cursor, instance)
    assert third.run_requests == [] and third.skip_reason.skip_message.startswith("0 eligible new example(s)")
    assert third.cursor == second.cursor


def test_a_restart_keeps_the_count(home: Path, instance) -> None:
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=60, prefix="before")
    saved = _tick(home, None, instance).cursor
    time.sleep(0.01)
    write_reviews(inbox, n_eligible=40, prefix="after")
    with dg.DagsterInstance.ephemeral() as restarted:
        result = _tick(home, saved, restarted)
    assert len(result.run_requests) == 1


def test_threshold_from_config_and_environment(home: Path, instance, monkeypatch: pytest.MonkeyPatch) -> None:
    write_reviews(home / "feedback_inbox", n_eligible=3)
    assert len(_tick(home, None, instance, export_threshold=3).run_requests) == 1
    monkeypatch.setenv("DATAPILOT_SENSOR_THRESHOLD", "4")
    assert "4 needed" in _tick(home, None, instance).skip_reason.skip_message
    monkeypatch.setenv("DATAPILOT_SENSOR_THRESHOLD", "many")
    with pytest.raises(Exception, match="DATAPILOT_SENSOR_THRESHOLD='many' is not a int"):
        _tick(home, None, instance)


def test_bad_files_do_not_stop_the_sensor(home: Path, instance) -> None:
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=2)
    (inbox / "feedback_broken.json").write_text("{", encoding="utf-8")
    result = _tick(home, None, instance, export_threshold=2)
    assert len(result.run_requests) == 1
    assert SensorCursor.decode(result.cursor).rejected == 1


def test_sensor_preview_through_the_dagster_cli(home: Path) -> None:
    write_reviews(home / "feedback_inbox", n_eligible=3, n_ineligible=2)
    env = {**os.environ, "DATAPILOT_SENSOR_THRESHOLD": "3", "DATAPILOT_SENSOR_SETTLE_S": "0"}
    cmd = [str(Path(sys.executable).parent / "dagster"), "sensor", "preview", "new_feedback_sensor",
           "-m", "datapilot_pipeline.definitions"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=home)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Sensor returning run requests for 1 run(s)" in out.stdout
    env["DATAPILOT_SENSOR_THRESHOLD"] = "4"
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=home)
    assert "3 eligible new example(s) since the last export, 4 needed" in out.stdout + out.stderr


def _schedule(home: Path, instance, schedule, **settings):
    # Closed after use: an open evaluation context keeps the instance entered for the rest of the session.
    with dg.build_schedule_context(instance=instance, resources=_resources(home, **settings),
                                   scheduled_execution_time=datetime(2026, 12, 1, tzinfo=timezone.utc)) as context:
        return schedule(context)


def test_monthly_retrain_counts_eligible_examples_since_the_last_training(home: Path, persistent_instance) -> None:
    instance = persistent_instance
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=4, n_ineligible=5, prefix="before")
    skipped = _schedule(home, instance, monthly_retrain_schedule, retrain_min_new=5)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "4 eligible new example(s) since the start (no model trained yet), 5 needed to retrain"

    time.sleep(0.02)
    instance.report_runless_asset_event(dg.AssetMaterialization("fine_tuned_model"))
    time.sleep(0.02)
    write_reviews(inbox, n_eligible=3, n_ineligible=3, prefix="after")
    skipped = _schedule(home, instance, monthly_retrain_schedule, retrain_min_new=4)
    assert skipped.skip_message == "3 eligible new example(s) since the last training, 4 needed to retrain"
    run = _schedule(home, instance, monthly_retrain_schedule, retrain_min_new=3)
    assert isinstance(run, dg.RunRequest)
    assert run.run_key == "monthly-retrain-2026-12" and run.tags["datapilot/eligible_new"] == "3"


def test_quarterly_retrain_runs_regardless(home: Path, persistent_instance) -> None:
    write_reviews(home / "feedback_inbox", n_eligible=0, n_ineligible=2)
    with dg.build_schedule_context(instance=persistent_instance, resources=_resources(home),
                                   scheduled_execution_time=datetime(2026, 10, 1, tzinfo=timezone.utc)) as context:
        data = quarterly_retrain_schedule.evaluate_tick(context)
    assert data.skip_message is None and len(data.run_requests) == 1


def _ingest(home: Path) -> None:
    """What every export or retrain run does first: store the inbox's reviews and move them out of it."""
    from datapilot_pipeline.defs.ingestion import feedback_records

    result = dg.materialize([feedback_records], resources={"workspace": WorkspaceResource(root=str(home))},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success


def _age(paths: list[Path]) -> None:
    for path in paths:  # complete for a while: the ingestion takes them at once
        os.utime(path, ns=(10**18, 10**18))


def test_reviews_a_run_already_exported_never_trigger_the_sensor(home: Path, instance) -> None:
    """`make ui` after `make run`: the demo ingested (and exported) its reviews; the sensor must not start an
    export_job for them."""
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=120)
    _ingest(home)
    result = _tick(home, None, instance)
    assert not result.run_requests
    assert SensorCursor.decode(result.cursor).pending == 0


def test_pending_reviews_that_a_run_ingested_leave_the_count(home: Path, instance) -> None:
    inbox = home / "feedback_inbox"
    write_reviews(inbox, n_eligible=60, prefix="first")
    counted = _tick(home, None, instance)
    assert SensorCursor.decode(counted.cursor).pending == 60
    _ingest(home)  # e.g. the quarterly retrain exported them
    write_reviews(inbox, n_eligible=50, prefix="second")
    after = _tick(home, counted.cursor, instance)
    assert not after.run_requests and SensorCursor.decode(after.cursor).pending == 50
    write_reviews(inbox, n_eligible=50, prefix="third")
    due = _tick(home, after.cursor, instance)
    assert len(due.run_requests) == 1 and due.run_requests[0].tags["datapilot/eligible_new"] == "100"


def test_monthly_retrain_counts_reviews_ingested_since_the_last_training(home: Path, persistent_instance) -> None:
    inbox = home / "feedback_inbox"
    _age(write_reviews(inbox, n_eligible=4, prefix="before"))
    _ingest(home)
    time.sleep(1.1)  # ingestion times are kept to the second
    persistent_instance.report_runless_asset_event(dg.AssetMaterialization("fine_tuned_model"))
    time.sleep(1.1)
    _age(write_reviews(inbox, n_eligible=3, n_ineligible=2, prefix="after"))
    _ingest(home)  # a sensor-triggered export took them out of the inbox
    write_reviews(inbox, n_eligible=2, prefix="waiting")
    skipped = _schedule(home, persistent_instance, monthly_retrain_schedule, retrain_min_new=6)
    assert skipped.skip_message == "5 eligible new example(s) since the last training, 6 needed to retrain"
