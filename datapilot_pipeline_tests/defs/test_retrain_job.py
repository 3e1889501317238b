"""`retrain_job` end to end on demo data: synthetic reviews -> export -> validation -> LoRA training on the tiny
model -> evaluation -> promotion decision, in one real Dagster run against an instance under the working root."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from datapilot_pipeline.lib.synthetic import write_feedback_files

RUN_CONFIG = {
    "ops": {
        "finetune_dataset": {"config": {"shot_count": 0}},
        "fine_tuned_model": {"config": {"max_steps": 4, "max_seq_length": 2048}},
        "evaluation_scores": {"config": {"max_examples": 2, "max_new_tokens": 16, "n_bootstrap": 100}},
    }
}


def test_retrain_job_runs_end_to_end_on_demo_data(home: Path) -> None:
    from datapilot_pipeline.definitions import defs

    write_feedback_files(home / "feedback_inbox", n_jobs=80, seed=0)
    job = defs.resolve_job_def("retrain_job")
    with dg.instance_for_test(temp_dir=str(home / ".dagster_home")) as instance:
        result = job.execute_in_process(instance=instance, run_config=RUN_CONFIG, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert materialized == {"feedback_records", "reviewed_examples", "finetune_dataset", "validation_report",
                                "training_dataset", "fine_tuned_model", "evaluation_scores", "model_promotion"}
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["has_no_pii"] and checks["quality_score_ok"]

    model = result.output_for_node("fine_tuned_model")
    assert model["model_uri"] == f"models:/datapilot-insights/{model['version']}"
    scores = result.output_for_node("evaluation_scores")
    report = json.loads(Path(scores["report_path"]).read_text())
    assert report["few_shot"]["n"] == report["fine_tuned"]["n"] == 2
    assert 0.0 <= report["fine_tuned"]["rouge_l"] <= 1.0
    decision = result.output_for_node("model_promotion")
    assert decision["model_uri"] == model["model_uri"] and isinstance(decision["promote"], bool)
    assert decision["reasons"]  # every decision says why
