"""The command that starts the training process: plain Python on one device, `accelerate launch` with one
process per GPU when more than one is visible (data-parallel LoRA; each rank trains on its share of batches)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping


def launch_command(python: str, entry_module: str, n_gpus: int) -> list[str]:
    """`python -m entry_module` for 0 or 1 GPU; for more, the same module under `accelerate launch`."""
    if n_gpus < 0:
        raise ValueError(f"n_gpus must be >= 0, got {n_gpus}")
    if n_gpus <= 1:
        return [python, "-m", entry_module]
    return [python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n_gpus),
            "--num_machines", "1", "--module", entry_module]


def visible_gpu_count(env: Mapping[str, str] | None = None, nvidia_smi: str | None = None) -> int:
    """GPUs this process may use, without importing torch: `CUDA_VISIBLE_DEVICES` when set (empty or -1: none),
    else the GPUs `nvidia-smi -L` lists, else 0."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d.strip() for d in visible.split(",") if d.strip()]
        # CUDA stops at the first invalid index, so "-1" or "0,-1,1" hide everything from that point on.
        count = 0
        for d in devices:
            if d.startswith("-"):
                break
            count += 1
        return count
    smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):  # a driver that does not answer: no usable GPU
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))
