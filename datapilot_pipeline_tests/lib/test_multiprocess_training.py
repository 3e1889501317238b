"""Data-parallel training for real: `accelerate launch --multi_gpu --num_processes 2` on CPU (gloo) of `datapilot train`
leaves exactly one MLflow run and one registered version, trained by both processes into one folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model
from datapilot_pipeline_tests.training_data import example, write_dataset


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_track_and_register_once(home: Path):
    from mlflow.tracking import MlflowClient

    tiny = build_tiny_base_model(home / "tiny", [e["prompt"] + e["completion"] for e in map(example, range(12))],
                                 pretrain_steps=5)
    dataset = write_dataset(home / "train.jsonl", 16)
    env = {**os.environ, "DATAPILOT_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "MLFLOW_ENABLE_TELEMETRY": "false", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    # --multi_gpu is accelerate's torchrun launcher; without CUDA the process group is gloo on CPU
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "datapilot_pipeline", "train",
               "--dataset", str(dataset), "--base-model", str(tiny), "--max-steps", "3", "--max-seq-length", "512"]
    done = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("registered models:/datapilot-insights/1") == 1, done.stdout
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.params["n_processes"] == "2"
    versions = client.search_model_versions("name='datapilot-insights'")
    assert len(versions) == 1 and versions[0].run_id == runs[0].info.run_id
    run_dirs = list((home / "models" / "runs").iterdir())
    assert len(run_dirs) == 1 and (run_dirs[0] / "adapter" / "adapter_model.safetensors").is_file()
