"""`fine_tuned_model` through Dagster Pipes: a real subprocess trains, MLflow records it, lineage flows out."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.tracking import MlflowResource
from datapilot_pipeline.defs.training import TrainingConfig, fine_tuned_model
from datapilot_pipeline.lib.atomic import atomic_write_json
from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model
from datapilot_pipeline.lib.hashing import file_sha256
from datapilot_pipeline_tests.training_data import example, write_dataset


def _stand_in(path: Path, sha256: str, report: Path):
    @dg.asset(name="training_dataset")
    def training_dataset() -> dict:
        return {"path": str(path), "sha256": sha256, "n_examples": 16, "report_path": str(report)}

    return training_dataset


def _materialize(home: Path, dataset_asset, config: dict, instance: dg.DagsterInstance | None = None):
    return dg.materialize(
        [dataset_asset, fine_tuned_model],
        resources={"workspace": WorkspaceResource(root=str(home)), "mlflow": MlflowResource(),
                   "pipes_subprocess_client": dg.PipesSubprocessClient()},
        run_config={"ops": {"fine_tuned_model": {"config": config}}},
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )


@pytest.fixture
def setup(home: Path):
    base = build_tiny_base_model(home / "tiny", [e["prompt"] + e["completion"] for e in map(example, range(16))],
                                 pretrain_steps=10)
    dataset = write_dataset(home / "train.jsonl", 16)
    report = atomic_write_json(home / "reports" / "finetune_export_report_x.json", {"quality_score": 92})
    config = {"base_model": str(base), "max_steps": 3, "max_seq_length": 512, "logging_steps": 1}
    return dataset, report, config


def test_config_mirrors_lib_defaults():
    assert TrainingConfig().epochs == 3 and TrainingConfig().lora_r == 16 and TrainingConfig().base_model is None


def test_materialize_trains_in_a_subprocess_and_registers(home: Path, setup):
    from mlflow.tracking import MlflowClient

    dataset, report, config = setup
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(home, _stand_in(dataset, file_sha256(dataset), report), config, instance)
    assert result.success
    value = result.output_for_node("fine_tuned_model")
    assert value["model_uri"] == "models:/datapilot-insights/1" and value["dataset_sha256"] == file_sha256(dataset)
    assert Path(value["adapter_dir"], "adapter_model.safetensors").is_file()
    assert value["tracking_uri"] == f"sqlite:///{home / 'mlflow.db'}"
    run = MlflowClient(value["tracking_uri"]).get_run(value["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["max_steps"] == "3"
    mat = result.asset_materializations_for_node("fine_tuned_model")[-1]
    assert mat.metadata["global_step"].value == 3 and mat.metadata["final_loss"].value > 0
    classic = "?workflowType=machine_learning"  # MLflow's runs layout, not its GenAI one (lib/tracking.py)
    assert mat.metadata["mlflow_run"].value.endswith(f"/#/runs/{value['run_id']}{classic}")  # MLflow's run page
    assert mat.metadata["mlflow_model"].value.endswith(f"/#/models/datapilot-insights/versions/{value['version']}{classic}")
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("step 1:" in m and "loss=" in m for m in logs)  # metrics streamed back through Pipes


def test_changed_dataset_fails_the_lineage_check(home: Path, setup):
    dataset, report, config = setup
    result = _materialize(home, _stand_in(dataset, "0" * 64, report), config)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "changed after validation" in str(failure.event_specific_data.error.message)
