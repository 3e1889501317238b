"""`retrain_job` end to end on its defaults alone (no run config, as the schedules send none): ~150 realistic
reviewed jobs -> export -> validation -> LoRA training on the tiny model -> evaluation -> promotion decision, in
one real Dagster run against an instance under the working root. Only the CI step cap is set (an environment
variable, `DATAPILOT_MAX_TRAIN_STEPS`), never run config."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.lib.synthetic import write_feedback_files

pytestmark = pytest.mark.long_running(seconds=190)  # about, in `make test` (scheduling.py)


def test_retrain_job_runs_end_to_end_on_its_defaults(home: Path, monkeypatch) -> None:
    from datapilot_pipeline.definitions import defs

    monkeypatch.setenv("DATAPILOT_MAX_TRAIN_STEPS", "3")
    write_feedback_files(home / "feedback_inbox", n_jobs=150, seed=0)
    job = defs.resolve_job_def("retrain_job")
    with dg.instance_for_test(temp_dir=str(home / ".dagster_home")) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert materialized == {"feedback_records", "reviewed_examples", "finetune_dataset", "validation_report",
                                "training_dataset", "fine_tuned_model", "evaluation_scores", "model_promotion"}
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        blocking = ("has_no_pii", "few_schema_errors", "few_duplicates", "fits_token_budget", "quality_score_ok")
        assert all(checks[name] for name in blocking), checks  # fine_tuned_model_is_promoted only warns

    dataset = result.output_for_node("finetune_dataset")
    exported = [json.loads(line) for line in Path(dataset["path"]).read_text().splitlines()]
    train_lines = [r for r in exported if r["metadata"]["split"] == "train"]
    model = result.output_for_node("fine_tuned_model")
    assert model["model_uri"] == f"models:/datapilot-insights/{model['version']}"
    # The model carries its prompt recipe and the holdout its own export wrote.
    assert model["recipe"] == dataset["recipe"] and model["holdout_path"] == dataset["holdout_path"]
    assert Path(model["holdout_path"]).is_file()
    # Training kept every exported line (>= 90% required): the budget export fitted is the one training uses.
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=model["tracking_uri"]).get_run(model["run_id"])
    n_train = int(run.data.params["n_train"])
    assert n_train >= 0.9 * len(train_lines) and int(run.data.params["dropped_truncated"]) == 0
    # Lineage: the trained file and the exported file it came from, each with its sha256.
    training = result.output_for_node("training_dataset")
    assert run.data.tags["dataset_sha256"] == training["sha256"] == model["dataset_sha256"]
    assert run.data.tags["source_dataset_path"] == dataset["path"]
    assert run.data.tags["source_dataset_sha256"] == dataset["sha256"]
    scores = result.output_for_node("evaluation_scores")
    report = json.loads(Path(scores["report_path"]).read_text())
    # evaluated on exactly the holdout its own export wrote
    holdout_lines = Path(dataset["holdout_path"]).read_text().splitlines()
    assert report["holdout_path"] == dataset["holdout_path"]
    assert report["fine_tuned"]["n"] == report["few_shot"]["n"] == len(holdout_lines) >= 1
    assert 0.0 <= report["fine_tuned"]["rouge_l"] <= 1.0 and report["fine_tuned"]["decoding"]["constrained"]
    decision = result.output_for_node("model_promotion")
    assert decision["model_uri"] == model["model_uri"] and isinstance(decision["promote"], bool)
    assert decision["reasons"]  # every decision says why
