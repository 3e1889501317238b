"""One tracked training run: data preparation, LoRA training, an MLflow run and a registered version.

The CLI (`datapilot train`) and the Dagster Pipes entry point both call `run_training`, so a run started
from either place records the same params, metrics, artifacts and registry version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapilot_pipeline.lib.tracking import CANDIDATE_ALIAS
from datapilot_pipeline.lib.training import ranks
from datapilot_pipeline.lib.training.config import TrainingConfig
from datapilot_pipeline.lib.hashing import file_sha256
from datapilot_pipeline.lib.prompts import PromptRecipe, read_recipe
from datapilot_pipeline.lib.training.data import prepare_data
from datapilot_pipeline.lib.training.trainer import MetricsSink, ProgressHook, train_lora

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace


def _params(config: TrainingConfig, extra: dict[str, Any]) -> dict[str, str]:
    values = {**config.model_dump(), **extra}
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()}


def _register(run_id: str, uri: str, base: Path, adapter_dir: Path, dataset: Path, sha256: str,
              recipe: dict | None, shots: list[dict], alias: str | None) -> str:
    import json

    from datapilot_pipeline.lib import tracking
    from datapilot_pipeline.lib.registry.log import log_pyfunc_model, using_tracking_uri

    source = log_pyfunc_model(run_id, uri, base, adapter_dir, shots)
    tags = {"dataset_sha256": sha256, "dataset_path": str(dataset)}
    if recipe is not None:
        tags["recipe"] = json.dumps(recipe, sort_keys=True)
    description = (f"LoRA adapter on {Path(base).name}, trained on {dataset.name} (sha256 {sha256[:12]}), "
                   f"{len(shots)} worked examples in the prompt. Load: mlflow.pyfunc.load_model(<this version's "
                   f"URI>).predict({{'compact_eda': [json.dumps(eda)]}}) -> llm_output (JSON), schema_pass.")
    with using_tracking_uri(uri):  # MLflow resolves a `models:/m-...` source through the process-wide URI
        return tracking.register_adapter(run_id, uri, base, adapter_dir, alias=alias, tags=tags, source=source,
                                         description=description)


def default_run_name(sha256: str) -> str:
    return f"ft-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{sha256[:8]}"


def _lineage_tags(sha256: str, dataset: Path, recipe: PromptRecipe | None, lineage: dict[str, str]) -> dict[str, str]:
    tags = {"dataset_sha256": sha256, "dataset_path": str(dataset), **{k: str(v) for k, v in lineage.items()}}
    if recipe is not None:
        tags["prompt_recipe"] = json.dumps(recipe.to_dict(), sort_keys=True)
    return tags


def run_training(config: TrainingConfig, dataset: Path, workspace: "Workspace", *,
                 base_model: str | Path | None = None, tracking_uri: str | None = None,
                 output_dir: Path | None = None, resume: bool = False, report_path: Path | None = None,
                 sink: MetricsSink | None = None, progress: ProgressHook | None = None,
                 run_tags: dict[str, str] | None = None, recipe: PromptRecipe | None = None,
                 lineage: dict[str, str] | None = None, shots: list[dict] | None = None,
                 alias: str | None = CANDIDATE_ALIAS,
                 announce: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """Train on `dataset`, track the run in MLflow, register the model and point `alias` (default `candidate`;
    None: no alias moves) at it.

    The run carries its source (`run_tags`: Dagster run id and asset key when Dagster started it), the dataset
    as an MLflow dataset input, the training curves as step metrics and one-off figures as step-0 summary
    metrics. The registered version is an MLflow pyfunc model (base + adapter, `recipe`'s worked examples
    `shots`) with a signature and a description; its tags carry the dataset hash and the prompt recipe.

    Under `accelerate launch`, processes other than the main one only train and return None.

    `recipe` (default: the `<stem>_recipe.json` beside the dataset) supplies the base model and max length
    when neither is given, and its tokenizer sha256 must match the base model's. `lineage` (e.g. the
    exported file and its sha256 the dataset was cleaned from) becomes run and version tags with the trained
    file's own path and sha256. Returns what downstream stages need: `model_uri`, `version`, `run_id`,
    `adapter_dir`, `base_model`, `dataset_sha256`, `recipe`, `alias` and `previous_alias_version` (what the alias
    pointed at before), and the run's figures (losses, steps, tokens/s, example counts).

    `announce`, when given, is called once the MLflow run exists and before the model loads, with what the run
    will leave behind if stopped: `run_id`, `tracking_uri`, `output_dir`, `checkpoint_dir`, `base_model`,
    `n_train`, `n_validation`, `dropped_truncated`, `alias`, `previous_alias_version`. A KeyboardInterrupt marks
    the run KILLED (any other failure FAILED) and propagates.
    """
    from mlflow.entities import Metric, Param
    from transformers import AutoTokenizer

    from datapilot_pipeline.lib import tracking
    from datapilot_pipeline.lib.generation.modeling import resolve_base_model
    from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH, TokenizerMismatchError, tokenizer_sha256

    dataset = Path(dataset).resolve()
    sha256 = file_sha256(dataset)
    recipe = recipe if recipe is not None else read_recipe(dataset)
    if base_model is None and recipe is not None:
        base_model = recipe.base_model
    max_length = config.max_seq_length or (recipe.max_length if recipe and recipe.max_length else DEFAULT_MAX_LENGTH)
    config = config.with_environment_cap().model_copy(update={"max_seq_length": max_length})
    # the main process installs a missing demo base; the others wait for its path (no two writers in one folder)
    base = Path(ranks.agree(str(resolve_base_model(base_model, workspace))
                            if ranks.is_main_process() else None))
    if recipe is not None and recipe.tokenizer_sha256 and tokenizer_sha256(base) != recipe.tokenizer_sha256:
        raise TokenizerMismatchError(
            f"the tokenizer of {base} is not the one {dataset.name} was exported for (recipe tokenizer "
            f"{recipe.tokenizer}); export again for this base model or train the recipe's")
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
    tags = {**_lineage_tags(sha256, dataset, recipe, lineage or {}),
            **(run_tags or tracking.run_source_tags("datapilot train")),
            "mlflow.note.content": f"LoRA fine-tune of {Path(base).name} on {dataset.name} (sha256 {sha256[:12]})."}
    run = client.create_run(experiment_id, run_name=output_dir.name, tags={**tags, "stage": "fine_tuning"})
    run_id = run.info.run_id
    tracking.log_dataset_input(client, run_id, dataset, sha256)
    params = _params(config, {
        "dataset_path": dataset, "dataset_sha256": sha256, "base_model": base, "output_dir": output_dir,
        "resume": resume, "n_train": len(data.train), "n_validation": len(data.validation),
        "dropped_truncated": data.dropped_truncated, "split_source": data.split_source, "task_type": "CAUSAL_LM",
        "n_processes": ranks.world_size(),
    })
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    previous = tracking.alias_version(uri, alias) if alias else None
    if announce is not None:
        announce({"run_id": run_id, "tracking_uri": uri, "output_dir": output_dir,
                  "checkpoint_dir": output_dir / "checkpoints", "base_model": base, "n_train": len(data.train),
                  "n_validation": len(data.validation), "dropped_truncated": data.dropped_truncated, "alias": alias,
                  "previous_alias_version": previous})

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
        # One-off figures at step 0: summary values, not a point on the step axis of the training curves.
        client.log_batch(run_id, metrics=[Metric(k, float(v), int(time.time() * 1000), 0)
                                          for k, v in summary.items() if v is not None])
        version = _register(run_id, uri, base, outcome.adapter_dir, dataset, sha256,
                            recipe.to_dict() if recipe is not None else None, shots or [], alias)
    except BaseException as exc:
        client.set_terminated(run_id, status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return {
        "model_uri": f"models:/{tracking.REGISTERED_MODEL}/{version}", "version": version, "run_id": run_id,
        "adapter_dir": str(outcome.adapter_dir), "base_model": str(base), "dataset_sha256": sha256,
        "dataset_path": str(dataset), "recipe": recipe.to_dict() if recipe is not None else None,
        "max_seq_length": max_length, "alias": alias, "previous_alias_version": previous,
        "tracking_uri": uri, "experiment_id": experiment_id, "n_train": len(data.train),
        "n_validation": len(data.validation), "dropped_truncated": data.dropped_truncated,
        "params_changed": outcome.params_changed, "stopped_early": outcome.stopped_early, **summary,
    }
