"""One tracked training run: data preparation, LoRA training, an MLflow run and a registered version.

The CLI (`datapilot train`) and the Dagster Pipes entry point both call `run_training`, so a run started
from either place records the same params, metrics, artifacts and registry version.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.training import ranks
from datapilot_pipeline.lib.training.config import TrainingConfig
from datapilot_pipeline.lib.hashing import file_sha256
from datapilot_pipeline.lib.training.data import load_examples, prepare_data
from datapilot_pipeline.lib.training.trainer import MetricsSink, ProgressHook, train_lora

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace


def _params(config: TrainingConfig, extra: dict[str, Any]) -> dict[str, str]:
    values = {**config.model_dump(), **extra}
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()}


def default_run_name(sha256: str) -> str:
    return f"ft-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{sha256[:8]}"


def run_training(config: TrainingConfig, dataset: Path, workspace: "Workspace", *,
                 base_model: str | Path | None = None, tracking_uri: str | None = None,
                 output_dir: Path | None = None, resume: bool = False, report_path: Path | None = None,
                 sink: MetricsSink | None = None, progress: ProgressHook | None = None) -> dict[str, Any] | None:
    """Train on `dataset`, track the run in MLflow, register the adapter (alias `candidate`).

    Under `accelerate launch`, processes other than the main one only train and return None.
    Returns what downstream stages need: `model_uri`, `version`, `run_id`, `adapter_dir`, `base_model`,
    `dataset_sha256`, and the run's figures (losses, steps, tokens/s, example counts).
    """
    from mlflow.entities import Metric, Param
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib import tracking
    from datapilot_pipeline.lib.modeling import resolve_base_model

    dataset = Path(dataset).resolve()
    sha256 = file_sha256(dataset)
    texts = [row["prompt"] + row["completion"] for row in load_examples(dataset)]
    # the main process builds a missing tiny base; the others wait for its path (no two writers in one folder)
    base = Path(ranks.agree(str(resolve_base_model(base_model, workspace, texts=texts))
                            if ranks.is_main_process() else None))
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    data = prepare_data(dataset, tokenizer, config.max_seq_length, config.validation_fraction, config.seed)

    uri = tracking_uri or tracking.default_tracking_uri(workspace)
    if output_dir is None:
        output_dir = workspace.models / "runs" / default_run_name(sha256)
    # every data-parallel process trains into the main process's folder; only that one tracks and registers
    output_dir = Path(ranks.agree(str(Path(output_dir).resolve())))
    if not ranks.is_main_process():
        train_lora(config, data, base, output_dir, resume=resume)
        return None
    experiment_id = tracking.ensure_tracking_db(uri, artifact_root=workspace.root / "mlartifacts")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment_id, run_name=output_dir.name,
                            tags={"dataset_sha256": sha256, "stage": "fine_tuning"})
    run_id = run.info.run_id
    params = _params(config, {
        "dataset_path": dataset, "dataset_sha256": sha256, "base_model": base, "output_dir": output_dir,
        "resume": resume, "n_train": len(data.train), "n_validation": len(data.validation),
        "dropped_truncated": data.dropped_truncated, "split_source": data.split_source, "task_type": "CAUSAL_LM",
        "n_processes": ranks.world_size(),
    })
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])

    def track(step: int, metrics: dict[str, float]) -> None:
        stamp = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, step) for k, v in metrics.items()])
        if sink is not None:
            sink(step, metrics)

    try:
        outcome = train_lora(config, data, base, output_dir, sink=track, resume=resume, progress=progress)
        client.log_artifacts(run_id, str(outcome.adapter_dir), tracking.ADAPTER_ARTIFACT)
        if report_path is not None and Path(report_path).is_file():
            client.log_artifact(run_id, str(report_path), "validation_report")
        summary = {"final_loss": outcome.final_loss, "first_loss": outcome.first_loss,
                   "final_eval_loss": outcome.eval_loss, "global_step": outcome.global_step,
                   "train_tokens_per_second": outcome.tokens_per_second, "train_seconds": outcome.train_seconds,
                   "trainable_params": outcome.trainable_params}
        client.log_batch(run_id, metrics=[Metric(k, float(v), int(time.time() * 1000), outcome.global_step)
                                          for k, v in summary.items() if v is not None])
        version = tracking.register_adapter(run_id, uri, base, outcome.adapter_dir,
                                            tags={"dataset_sha256": sha256})
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return {
        "model_uri": f"models:/{tracking.REGISTERED_MODEL}/{version}", "version": version, "run_id": run_id,
        "adapter_dir": str(outcome.adapter_dir), "base_model": str(base), "dataset_sha256": sha256,
        "tracking_uri": uri, "experiment_id": experiment_id, "n_train": len(data.train),
        "n_validation": len(data.validation), "dropped_truncated": data.dropped_truncated,
        "params_changed": outcome.params_changed, "stopped_early": outcome.stopped_early, **summary,
    }
