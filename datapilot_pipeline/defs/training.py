"""Training stage: LoRA fine-tune on the validated dataset, in a Dagster Pipes subprocess."""

# No `from __future__ import annotations`: Dagster reads the config annotation, built at run time below.
import sys

import dagster as dg
from pydantic import Field, create_model

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.tracking import MlflowResource, model_version_link, run_link
from datapilot_pipeline.lib.training.config import TrainingConfig as _LibTrainingConfig
from datapilot_pipeline.lib.training.launch import launch_command, visible_gpu_count

ENTRY_MODULE = "datapilot_pipeline.pipes.train_entry"
VALUE_KEYS = ("model_uri", "version", "run_id", "adapter_dir", "base_model", "dataset_sha256", "dataset_path",
              "tracking_uri")

# The run config is the lib's TrainingConfig field for field (one definition of defaults and bounds),
# plus where the base model comes from.
TrainingConfig = create_model(
    "TrainingConfig", __base__=dg.Config, __doc__="LoRA fine-tuning settings (defaults: the playbook's table).",
    base_model=(str | None, Field(default=None, description="Local model directory or cached hub id; "
                                  "default: the one the dataset's prompt recipe was exported for (the demo base "
                                  "model under models/base/ unless export named another).")),
    **{name: (field.annotation, field) for name, field in _LibTrainingConfig.model_fields.items()},
)


@dg.asset(group_name="training", kinds={"pytorch", "mlflow"})
def fine_tuned_model(context: dg.AssetExecutionContext, config: TrainingConfig, training_dataset: dict,
                     workspace: WorkspaceResource, mlflow: MlflowResource,
                     pipes_subprocess_client: dg.PipesSubprocessClient) -> dg.Output[dict]:
    """A LoRA adapter fine-tuned on the validated training dataset, registered in MLflow as a new version of
    `datapilot-insights` with the alias `candidate`; the run and the version are tagged with the trained file,
    the exported file it was cleaned from and both sha256, and the prompt recipe. The value is the registered
    model URI with the run id, adapter and base model directories, the dataset hash, the prompt `recipe` and
    the export's `holdout_path`: evaluation loads exactly this version, asks it the way it was trained and
    scores it on the holdout written with its training data."""
    ws = workspace.workspace()
    settings = config.model_dump()
    extras = {
        "config": {k: v for k, v in settings.items() if k != "base_model"}, "base_model": settings["base_model"],
        "dataset": str(training_dataset["path"]), "home": str(ws.root), "tracking_uri": mlflow.uri(ws),
        "report_path": str(training_dataset["report_path"]) if training_dataset.get("report_path") else None,
        "recipe": training_dataset.get("recipe"),
        "lineage": {"source_dataset_path": str(training_dataset.get("source_path")),
                    "source_dataset_sha256": str(training_dataset.get("source_sha256")),
                    "holdout_path": str(training_dataset.get("holdout_path")), "dagster_run_id": context.run_id},
    }
    # The venv's python in a child process (one per GPU under accelerate launch when several are visible):
    # torch's memory is returned to the OS when training ends.
    invocation = pipes_subprocess_client.run(
        context=context, command=launch_command(sys.executable, ENTRY_MODULE, visible_gpu_count()), extras=extras,
        env={"DATAPILOT_HOME": str(ws.root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
             "MLFLOW_ENABLE_TELEMETRY": "false", "TOKENIZERS_PARALLELISM": "false"},
    )
    messages = invocation.get_custom_messages()
    if not messages:
        raise dg.Failure("the training process reported no result")
    result = messages[-1]
    expected = training_dataset.get("sha256")
    if expected and expected != result["dataset_sha256"]:
        raise dg.Failure(f"training dataset changed after validation: sha256 {result['dataset_sha256']} != {expected}")
    metadata = for_display(dict(invocation.get_materialize_result().metadata))
    metadata["mlflow_run"] = run_link(result["run_id"])  # the entry point's text form, as a link
    metadata["mlflow_model"] = model_version_link(result["model_uri"])
    value = {**{k: result[k] for k in VALUE_KEYS}, "recipe": result["recipe"],
             "holdout_path": training_dataset.get("holdout_path")}
    return dg.Output(value, metadata=metadata)
