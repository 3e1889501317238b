"""The `ab_test_report` asset, its guardrail check, and the daily job on its defaults."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from datapilot_pipeline.defs.ab_testing import (AbTestConfig, ab_test_daily_schedule, ab_test_guardrails_pass,
                                                ab_test_job, ab_test_report)
from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
from datapilot_pipeline_tests.ab_fixtures import arm, review, write


def _feedback_records(home: Path, reviews: list[dict]) -> dict:
    write(home / "feedback_inbox", reviews)
    result = ingest_inbox(home / "feedback_inbox", home / "data" / "feedback")
    return {"feedback_dir": str(result.feedback_dir)}


def test_report_shows_design_unit_daily_statistic_and_verdict(home: Path):
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    treated = arm("fine_tuned", 60, ["aaaa", "aaar", "aaaa"], [4, 4])
    records = _feedback_records(home, control + treated + [review("nolabel", None, "aaaa")])
    out = ab_test_report(dg.build_asset_context(), AbTestConfig(mde=0.3), WorkspaceResource(), feedback_records=records)
    value, meta = out.value, out.metadata
    assert value["verdict"] == "promote" and meta["verdict"].value == "promote" and meta["unit"].value == "job"
    assert meta["p_value"].value == value["p_value"] < 0.05
    assert value["excluded"] == {"reviews_without_variant": 1} and meta["excluded/reviews_without_variant"].value == 1
    assert "| intra-job correlation (ICC) |" in meta["design"].value and "| design effect |" in meta["design"].value
    daily = meta["daily"].value.splitlines()
    assert len(daily) == 2 + 20 + 2 and daily[-3].startswith("| 2026-11-20 | 60 | 60 |")  # 3 jobs a day, 20 days
    saved = json.loads(Path(value["report_path"]).read_text())
    assert Path(value["report_path"]).parent == home / "reports"
    assert {k: saved[k] for k in ("verdict", "unit", "jobs_needed_per_variant")} == \
        {"verdict": "promote", "unit": "job", "jobs_needed_per_variant": value["jobs_needed_per_variant"]}
    assert saved["variants"]["fine_tuned"]["jobs"] == 60
    check = ab_test_guardrails_pass(value)
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN


def test_guardrail_check_warns_when_scores_drop(home: Path):
    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    treated = arm("fine_tuned", 60, ["aaaa", "aaar", "aaaa"], [1, 2])
    records = _feedback_records(home, control + treated)
    out = ab_test_report(dg.build_asset_context(), AbTestConfig(mde=0.3), WorkspaceResource(), feedback_records=records)
    assert out.value["verdict"] == "keep"  # approval is higher, but the guardrail blocks the promotion
    check = ab_test_guardrails_pass(out.value)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["mean_overall_score/passed"].value is False
    assert check.metadata["mean_overall_score/difference"].value < -1


def test_daily_job_on_its_defaults(home: Path):
    write(home / "feedback_inbox", arm("few_shot", 5, ["aarr"], [3]) + arm("fine_tuned", 5, ["aaaa"], [4]))
    assert ab_test_daily_schedule.cron_schedule == "0 6 * * *"
    assert ab_test_daily_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    from datapilot_pipeline.definitions import defs

    result = defs.resolve_job_def(ab_test_job.name).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    report = result.output_for_node("ab_test_report")
    assert report["verdict"] == "keep collecting" and report["variants"]["fine_tuned"]["jobs"] == 5
    assert report["design"]["source"].startswith("planning assumptions")
    assert report["jobs_still_needed"]["fine_tuned"] == report["jobs_needed_per_variant"] - 5
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and feedback_records is not None


def test_asset_on_defaults_reads_the_plan_and_answer_the_cli_fixed(home: Path, capsys):
    import pytest

    from datapilot_pipeline.cli import main

    control = arm("few_shot", 60, ["aarr", "arrr", "aaar"], [3, 4])
    treated = arm("fine_tuned", 60, ["aaaa", "aaar", "arrr"], [4, 4])
    records = _feedback_records(home, control + treated)  # ingested: the inbox is empty now
    assert main(["ab-test", "--mde", "0.3"]) == 0  # the CLI's first read fixes the plan and the answer
    cli = json.loads(next((home / "reports").glob("ab_test_*.json")).read_text())
    assert cli["variants"]["fine_tuned"]["jobs"] == 60
    more = _feedback_records(home, arm("fine_tuned", 30, ["rrrr"], [1], day0=30, prefix="late_"))
    assert more == records
    out = ab_test_report(dg.build_asset_context(), AbTestConfig(), WorkspaceResource(), feedback_records=records)
    keys = ("verdict", "p_value", "jobs_needed_per_variant", "approval_test", "analysed_jobs", "design", "experiment")
    assert {k: out.value[k] for k in keys} == {k: cli[k] for k in keys}
    assert out.value["variants"]["fine_tuned"]["jobs"] == 90 and out.metadata["experiment"].value == cli["experiment"]["id"]
    assert "| plan fixed at |" in out.metadata["design"].value and cli["experiment"]["id"] in out.metadata["experiments"].value
    with pytest.raises(dg.Failure, match="fixed once per experiment"):
        ab_test_report(dg.build_asset_context(), AbTestConfig(power=0.9), WorkspaceResource(), feedback_records=records)
