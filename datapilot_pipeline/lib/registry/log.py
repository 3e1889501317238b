"""Log a trained adapter as an MLflow pyfunc model (base + LoRA adapter, signature, input example) in its run."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_write_jsonl

MODEL_NAME = "model"  # the logged model's name within the run
CODE = Path(__file__).with_name("insights_pyfunc.py")
# Requirements written beside the model; given explicitly so MLflow does not load the model to infer them.
PIP_REQUIREMENTS = ["datapilot_pipeline", "mlflow", "torch", "transformers", "peft", "pandas"]


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", "compact_eda")]),
                          outputs=Schema([ColSpec("string", "llm_output"), ColSpec("boolean", "schema_pass")]))


def log_pyfunc_model(run_id: str, tracking_uri: str, base_model: Path, adapter_dir: Path, shots: list[dict],
                     max_new_tokens: int = 384) -> str:
    """Log the model into run `run_id`; returns its model URI (the source of a registered version).

    No input example: MLflow would load the model and generate from it at logging time to validate one."""
    import mlflow

    with using_tracking_uri(tracking_uri), tempfile.TemporaryDirectory() as tmp:
        artifacts = {"adapter": str(adapter_dir)}
        if shots:
            artifacts["shots"] = str(atomic_write_jsonl(Path(tmp) / "shots.jsonl", shots))
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME, python_model=str(CODE), artifacts=artifacts, signature=signature(),
                model_config={"base_model": str(Path(base_model).resolve()), "max_new_tokens": max_new_tokens},
                pip_requirements=PIP_REQUIREMENTS)
    return info.model_uri


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs set to `uri` for the block, then restored. Fluent logging
    needs them, and so does registering a version whose source is a logged model (`models:/m-...`)."""
    import mlflow
    from mlflow.environment_variables import MLFLOW_REGISTRY_URI
    from mlflow.tracking._model_registry import utils as registry_state
    from mlflow.tracking._tracking_service import utils as tracking_state

    # The raw settings (None when unset), so that "unset, follow the tracking URI" is restored as such; the
    # public getters would return a resolved URI and pin it for the rest of the process.
    previous = tracking_state._tracking_uri, registry_state._registry_uri, MLFLOW_REGISTRY_URI.get_raw()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        registry_state._registry_uri = previous[1]
        if previous[2] is None:
            MLFLOW_REGISTRY_URI.unset()
        else:
            MLFLOW_REGISTRY_URI.set(previous[2])
