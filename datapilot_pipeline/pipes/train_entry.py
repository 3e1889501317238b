"""Training subprocess for the `fine_tuned_model` asset, launched through Dagster Pipes.

    python -m datapilot_pipeline.pipes.train_entry   # only under a Pipes session (PipesSubprocessClient)

Reads its inputs from the Pipes extras (`config`, `dataset`, `home`, `base_model`, `tracking_uri`,
`report_path`, `recipe`, `lineage`), streams every metric log line back to the Dagster run, reports the materialization
metadata and sends the result dict (model URI, version, run id, ...) as a custom message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _metadata(result: dict[str, Any]) -> dict[str, Any]:
    from datapilot_pipeline.lib.tracking import ui_link

    keys = ("model_uri", "version", "run_id", "final_loss", "first_loss", "final_eval_loss", "global_step",
            "train_tokens_per_second", "train_seconds", "n_train", "n_validation", "dropped_truncated",
            "dataset_sha256", "stopped_early")
    meta: dict[str, Any] = {k: result[k] for k in keys if result.get(k) is not None}
    meta["adapter_dir"] = {"raw_value": result["adapter_dir"], "type": "path"}
    link = ui_link("http://127.0.0.1:5000", f"experiments/{result['experiment_id']}/runs/{result['run_id']}")
    meta["mlflow_run"] = {"raw_value": f"{result['tracking_uri']} experiment {result['experiment_id']} run "
                                       f"{result['run_id']} (make mlflow-ui: {link})", "type": "text"}
    return meta


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    from datapilot_pipeline.lib.paths import Workspace
    from datapilot_pipeline.lib.prompts import PromptRecipe
    from datapilot_pipeline.lib.tracking import run_source_tags
    from datapilot_pipeline.lib.training import TrainingConfig, ranks
    from datapilot_pipeline.lib.training.run import run_training

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not ranks.is_main_process():
        # Under accelerate launch every process trains, but only the main one talks to Dagster: the others read
        # the same extras without opening the message channel (one report, one materialization).
        from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader

        params = PipesEnvVarParamsLoader().load_context_params()
        with PipesDefaultContextLoader().load_context(params) as context_data:
            extras = context_data["extras"]
        report = extras.get("report_path")
        run_training(TrainingConfig.model_validate(extras["config"]), Path(extras["dataset"]),
                     Workspace(Path(extras["home"])), base_model=extras.get("base_model"),
                     tracking_uri=extras.get("tracking_uri"), report_path=Path(report) if report else None)
        return
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = TrainingConfig.model_validate(extras["config"])

        def sink(step: int, metrics: dict[str, float]) -> None:
            shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
            pipes.log.info(f"step {step}: {shown}")

        report = extras.get("report_path")
        result = run_training(
            config, Path(extras["dataset"]), Workspace(Path(extras["home"])), base_model=extras.get("base_model"),
            tracking_uri=extras.get("tracking_uri"), report_path=Path(report) if report else None, sink=sink,
            run_tags=run_source_tags("dagster:fine_tuned_model", pipes.run_id, pipes.asset_key),
            recipe=PromptRecipe.from_dict(extras["recipe"]) if extras.get("recipe") else None,
            lineage=extras.get("lineage") or {}, shots=extras.get("shots"),
        )
        pipes.report_custom_message(result)
        pipes.report_asset_materialization(metadata=_metadata(result))


if __name__ == "__main__":
    main()
