"""Data-parallel training processes (`accelerate launch`, one per GPU): which one is the main process, and one
value every process agrees on. Only the main process (rank 0) tracks in MLflow, registers, writes the adapter
and reports through Pipes; the others train their share of the batches."""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def _process_group() -> Any:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():  # the trainer's accelerate state reuses the group made here
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist


def agree(value: Any) -> Any:
    """The main process's `value` on every process (a broadcast); the value itself when there is one process."""
    if world_size() <= 1:
        return value
    box = [value]
    _process_group().broadcast_object_list(box, src=0)
    return box[0]


def wait_for_everyone() -> None:
    if world_size() > 1:
        _process_group().barrier()
