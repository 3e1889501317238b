"""The whole code location loads with every asset, check, job, sensor, schedule and resource the product needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ASSETS = {"feedback_records", "reviewed_examples", "finetune_dataset", "validation_report", "training_dataset",
          "validation_shards", "sharded_validation_report", "fine_tuned_model", "evaluation_scores", "model_promotion",
          "ab_test_report", "feedback_quality_trends", "ab_test_by_month", "feedback_quality_by_month"}
NOT_IN_DEMO = {"validation_shards", "sharded_validation_report", "ab_test_by_month", "feedback_quality_by_month"}
DATASET_CHECKS = {"has_no_pii", "few_schema_errors", "few_duplicates", "fits_token_budget", "quality_score_ok"}
CHECKS = {*(f"finetune_dataset:{name}" for name in DATASET_CHECKS), "model_promotion:fine_tuned_model_is_promoted",
          "feedback_quality_trends:feedback_quality_has_not_drifted", "ab_test_report:ab_test_guardrails_pass"}
BLOCKING = {f"finetune_dataset:{name}" for name in DATASET_CHECKS}
# The UI shortens long check names in the middle; names this short and this different stay apart.
MAX_CHECK_NAME = 32


def test_definitions_have_the_expected_objects() -> None:
    from datapilot_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    check_specs = {f"{spec.asset_key.to_user_string()}:{spec.name}": spec for d in [*defs.assets, *(defs.asset_checks or [])]
                   for spec in getattr(d, "check_specs", [])}
    assert set(check_specs) == CHECKS  # the dataset's gates sit on the dataset (its Checks tab)
    assert {name for name, spec in check_specs.items() if spec.blocking} == BLOCKING
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"export_job", "retrain_job", "demo_job", "ab_test_job",
                                                              "monthly_reports_job"}
    assert {s.name for s in defs.sensors} == {"new_feedback_sensor"}
    assert {s.name for s in defs.schedules} == {"monthly_retrain_schedule", "quarterly_retrain_schedule",
                                                 "ab_test_daily_schedule", "monthly_reports_schedule"}
    assert set(defs.resources) == {"workspace", "mlflow", "pipes_subprocess_client", "dedup_index", "automation",
                                   "io_manager"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.group_name != "default", key


def test_every_check_job_sensor_and_schedule_says_what_it_does() -> None:
    from datapilot_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    described = {
        **{f"check {k.name}": graph.get_check_spec(k).description for k in graph.asset_check_keys},
        **{f"job {j.name}": j.description for j in defs.resolve_all_job_defs() if not j.name.startswith("__")},
        **{f"sensor {s.name}": s.description for s in defs.sensors},
        **{f"schedule {s.name}": s.description for s in defs.schedules},
    }
    assert len(described) == len(CHECKS) + 5 + 1 + 4  # jobs: export, retrain, demo, ab_test, monthly_reports
    assert [name for name, text in described.items() if not text or len(text) < 30] == []
    names = [k.name for k in graph.asset_check_keys]
    assert max(map(len, names)) <= MAX_CHECK_NAME
    assert len({n[:8] for n in names}) == len({n[-8:] for n in names}) == len(names)  # distinct at both ends


def test_demo_runs_every_unpartitioned_asset() -> None:
    from datapilot_pipeline.definitions import defs
    from datapilot_pipeline.demo import _demo_job

    job, n_assets = _demo_job(defs)
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected == ASSETS - NOT_IN_DEMO and n_assets == len(selected)


def test_dagster_cli_validates_the_workspace(home: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
                          str(repo / "workspace.yaml")], capture_output=True, text=True, cwd=repo, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stdout + out.stderr
