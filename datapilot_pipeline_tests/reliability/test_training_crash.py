"""Training killed mid-run: the registered model and its adapter stay as they were, the `candidate` alias does not
move, and re-running the same command registers a new version without touching the earlier one."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.tracking import resolve_model_uri
from datapilot_pipeline_tests.reliability.conftest import REPO
from datapilot_pipeline_tests.training_data import example, write_dataset

ADAPTER = "adapter_model.safetensors"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    texts = [example(i)["prompt"] + example(i)["completion"] for i in range(12)]
    return build_tiny_base_model(tmp_path_factory.mktemp("tiny") / "base", texts, pretrain_steps=0, vocab_size=512)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_killed_mid_run_leaves_the_registered_model_intact(home: Path, base: Path):
    dataset = write_dataset(home / "data" / "train.jsonl", 12)
    run_dir = home / "models" / "run"
    uri = f"sqlite:///{home / 'mlflow.db'}"
    common = ["train", "--dataset", str(dataset), "--base-model", str(base), "--batch-size", "2",
              "--output-dir", str(run_dir)]
    assert main([*common, "--max-steps", "2"]) == 0
    first = resolve_model_uri("models:/datapilot-insights@candidate", uri)
    assert first.version == "1"
    v1_adapter = _sha(first.adapter_dir / ADAPTER)

    more = [*common, "--max-steps", "4", "--resume"]  # continue the same run folder for two more steps
    env = {**os.environ, "DATAPILOT_HOME": str(home), "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "datapilot_pipeline_tests.reliability.killpoint", "call",
                             "transformers.trainer:Trainer.training_step", "--", *more],
                            cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    again = resolve_model_uri("models:/datapilot-insights@candidate", uri)
    assert again.version == "1" and _sha(again.adapter_dir / ADAPTER) == v1_adapter

    assert main(more) == 0  # the re-run converges: a second version, the alias moves to it
    second = resolve_model_uri("models:/datapilot-insights@candidate", uri)
    assert second.version == "2" and _sha(second.adapter_dir / ADAPTER) != v1_adapter
    # Version 1 still loads the weights it was registered with, though its run folder was trained further.
    assert _sha(resolve_model_uri("models:/datapilot-insights/1", uri).adapter_dir / ADAPTER) == v1_adapter

    from mlflow.tracking import MlflowClient

    runs = MlflowClient(tracking_uri=uri).search_runs([r.info.experiment_id for r in [
        MlflowClient(tracking_uri=uri).get_run(second.run_id)]])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED", "RUNNING"]  # the killed run's record
