"""The training launch command: plain Python on 0-1 GPU, `accelerate launch` with one process per GPU beyond."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from datapilot_pipeline.lib.training.launch import launch_command, visible_gpu_count

ENTRY = "datapilot_pipeline.pipes.train_entry"


@pytest.mark.parametrize("n_gpus", [0, 1])
def test_one_device_runs_the_entry_module_directly(n_gpus: int) -> None:
    assert launch_command("/venv/bin/python", ENTRY, n_gpus) == ["/venv/bin/python", "-m", ENTRY]


def test_four_gpus_launch_four_processes_that_accelerate_parses() -> None:
    from accelerate.commands.launch import launch_command_parser

    cmd = launch_command("/venv/bin/python", ENTRY, 4)
    assert cmd[:3] == ["/venv/bin/python", "-m", "accelerate.commands.launch"]
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 4 and args.multi_gpu is True and args.num_machines == 1
    assert args.module is True and args.training_script == ENTRY and args.training_script_args == []


def test_negative_gpu_count_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        launch_command("python", ENTRY, -1)


@pytest.mark.parametrize("value,count", [("", 0), ("-1", 0), ("0", 1), ("0,1,2,3", 4), ("2, 3", 2),
                                         ("0,-1,1", 1), ("GPU-8a1b,GPU-77c2", 2)])
def test_cuda_visible_devices_decides_when_set(value: str, count: int, tmp_path: Path) -> None:
    smi = _fake_smi(tmp_path, 8)
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": value}, nvidia_smi=str(smi)) == count


def _fake_smi(tmp_path: Path, n: int, exit_code: int = 0) -> Path:
    script = tmp_path / "nvidia-smi"
    lines = "".join(f"echo 'GPU {k}: NVIDIA H100 (UUID: GPU-{k:04d})'\n" for k in range(n))
    script.write_text(f"#!/bin/sh\n{lines}exit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_nvidia_smi_listing_counts_gpus(tmp_path: Path) -> None:
    assert visible_gpu_count({}, nvidia_smi=str(_fake_smi(tmp_path, 4))) == 4
    assert launch_command("python", ENTRY, visible_gpu_count({}, nvidia_smi=str(_fake_smi(tmp_path, 4))))[2] == \
        "accelerate.commands.launch"


def test_no_driver_or_a_failing_driver_means_no_gpu(tmp_path: Path) -> None:
    assert visible_gpu_count({}, nvidia_smi="") == 0
    assert visible_gpu_count({}, nvidia_smi=str(_fake_smi(tmp_path, 2, exit_code=9))) == 0
