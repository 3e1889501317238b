"""The whole code location loads with every asset, check, job, sensor, schedule and resource the product needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ASSETS = {"feedback_records", "reviewed_examples", "finetune_dataset", "validation_report", "training_dataset",
          "validation_shards", "sharded_validation_report", "fine_tuned_model", "evaluation_scores", "model_promotion",
          "ab_test_report", "feedback_quality_trends"}
CHECKS = {"finetune_dataset_has_no_pii", "finetune_dataset_schema_error_rate_below_max",
          "finetune_dataset_duplicate_rate_below_max", "finetune_dataset_quality_score_meets_threshold",
          "finetune_dataset_fits_token_budget", "fine_tuned_model_is_promoted", "feedback_quality_has_not_drifted"}
BLOCKING = {"finetune_dataset_has_no_pii", "finetune_dataset_schema_error_rate_below_max",
            "finetune_dataset_duplicate_rate_below_max", "finetune_dataset_quality_score_meets_threshold",
            "finetune_dataset_fits_token_budget"}


def test_definitions_have_the_expected_objects() -> None:
    from datapilot_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS
    check_specs = {spec.name: spec for d in [*defs.assets, *(defs.asset_checks or [])]
                   for spec in getattr(d, "check_specs", [])}
    assert set(check_specs) == CHECKS
    assert {name for name, spec in check_specs.items() if spec.blocking} == BLOCKING
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"export_job", "retrain_job"}
    assert {s.name for s in defs.sensors} == {"new_feedback_sensor"}
    assert {s.name for s in defs.schedules} == {"monthly_retrain_schedule", "quarterly_retrain_schedule"}
    assert set(defs.resources) == {"workspace", "mlflow", "pipes_subprocess_client", "dedup_index", "automation"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.group_name != "default", key


def test_demo_runs_every_unpartitioned_asset() -> None:
    from datapilot_pipeline.definitions import defs
    from datapilot_pipeline.demo import _demo_job

    job, n_assets = _demo_job(defs)
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert selected == ASSETS - {"validation_shards", "sharded_validation_report"} and n_assets == len(selected)


def test_dagster_cli_validates_the_workspace(home: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
                          str(repo / "workspace.yaml")], capture_output=True, text=True, cwd=repo, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stdout + out.stderr
