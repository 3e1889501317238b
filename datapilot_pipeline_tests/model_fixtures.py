"""A tiny base model with a LoRA adapter, registered in a workspace's MLflow registry, for tests that load models."""

from __future__ import annotations

from pathlib import Path

from datapilot_pipeline.lib.atomic import dumps_compact
from datapilot_pipeline_tests.eval_fixtures import holdout


def build_tiny_with_adapter(root: Path) -> tuple[Path, Path]:
    """A tiny base model and an (untrained) LoRA adapter on it, both real safetensors directories."""
    from peft import LoraConfig, get_peft_model

    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model, load_causal_lm

    texts = [dumps_compact(e["output"]) for e in holdout(3)] + [dumps_compact(e["compact_eda"]) for e in holdout(3)]
    base = build_tiny_base_model(root / "base", texts, seed=0, pretrain_steps=10)  # a real model; quality is not under test
    model, _ = load_causal_lm(base)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(root / "adapter", safe_serialization=True)
    return base, root / "adapter"


def register_version(home: Path, base: Path, adapter: Path) -> dict:
    """What the training asset hands on: a run with the adapter artifact, registered as a version."""
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.lib.tracking import ensure_tracking_db, register_adapter

    uri = f"sqlite:///{home / 'mlflow.db'}"
    experiment = ensure_tracking_db(uri)
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(adapter), "adapter")
    version = register_adapter(run.info.run_id, uri, base, adapter)
    return {"model_uri": f"models:/datapilot-insights/{version}", "version": version, "run_id": run.info.run_id,
            "adapter_dir": str(adapter), "base_model": str(base), "dataset_sha256": "0" * 64}
