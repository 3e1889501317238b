"""`datapilot train`: a FINISHED tracked run from the command line, vendor backends, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model
from datapilot_pipeline_tests.training_data import example, write_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """One tiny base for the module (building it takes minutes on a loaded machine); no test writes into it."""
    return build_tiny_base_model(tmp_path_factory.mktemp("base") / "tiny",
                                 [e["prompt"] + e["completion"] for e in map(example, range(12))], pretrain_steps=10)


def test_local_training_leaves_a_finished_registered_run(home: Path, tiny: Path, capsys):
    from mlflow.tracking import MlflowClient

    dataset = write_dataset(home / "train.jsonl", 16)
    code = main(["train", "--dataset", str(dataset), "--base-model", str(tiny), "--max-steps", "5",
                 "--max-seq-length", "512", "--output-dir", str(home / "models" / "runs" / "cli")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trained 5 steps" in out and "models:/datapilot-insights/1" in out
    # output is not a terminal here: the plan, an estimate and progress lines are printed all the same
    assert "plan: " in out and "training: 5 optimizer steps to step 5" in out and "estimate: " in out
    assert "step 5/5 (100%)" in out and "last evaluation, saving and registering" in out
    assert "alias candidate (not set yet) moves to it (--no-alias leaves it)" in out
    assert "alias candidate set to version 1" in out and "\x1b[" not in out
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    run = client.search_runs(["1"])[0]
    assert run.info.status == "FINISHED" and run.data.params["max_steps"] == "5"
    assert run.data.params["dataset_path"] == str(dataset.resolve())
    assert len(client.get_metric_history(run.info.run_id, "loss")) >= 2
    assert client.get_model_version_by_alias("datapilot-insights", "candidate").run_id == run.info.run_id
    assert (home / "models" / "runs" / "cli" / "adapter" / "adapter_model.safetensors").is_file()


def test_a_trial_run_with_no_alias_leaves_candidate_where_it_was(home: Path, tiny: Path, capsys):
    from mlflow.tracking import MlflowClient

    dataset = write_dataset(home / "train.jsonl", 8)
    base = ["train", "--dataset", str(dataset), "--base-model", str(tiny), "--max-steps", "2", "--max-seq-length", "512"]
    assert main(base) == 0
    assert main(base + ["--no-alias"]) == 0
    out = capsys.readouterr().out
    assert "no alias moves (--no-alias)" in out and "alias: none moved (--no-alias)" in out
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("datapilot-insights", "candidate").version) == "1"
    assert "models:/datapilot-insights/2" in out  # registered all the same
    assert main(base) == 0
    assert "alias candidate moved from version 1 to 3" in capsys.readouterr().out


def test_ctrl_c_says_what_was_left_and_the_printed_command_resumes(home: Path, tiny: Path, capsys, monkeypatch):
    import shlex

    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.cli import train

    dataset = write_dataset(home / "train.jsonl", 16)  # 4 steps an epoch at batch 4: a checkpoint every 2 steps
    progress = train.TrainReport.on_progress

    def interrupt_at_step_3(self, step, total):
        progress(self, step, total)
        if step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(train.TrainReport, "on_progress", interrupt_at_step_3)
    argv = ["train", "--dataset", str(dataset), "--base-model", str(tiny), "--max-steps", "5", "--max-seq-length", "512",
            "--output-dir", str(home / "runs" / "stopped")]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "nothing was written" not in err and "interrupted at step 3/5" in err and "Traceback" not in err
    assert "is marked KILLED" in err and "alias candidate did not move" in err
    assert f"checkpoints kept in {home / 'runs' / 'stopped' / 'checkpoints'} (newest checkpoint-2)" in err
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert [r.info.status for r in client.search_runs(["1"])] == ["KILLED"]
    monkeypatch.setattr(train.TrainReport, "on_progress", progress)
    command = shlex.split(err.split("resume with: ", 1)[1].strip())
    assert command[:2] == ["datapilot", "train"] and "--resume" in command and "--max-steps" in command
    assert main(command[1:]) == 0
    out = capsys.readouterr().out
    assert "resuming at step 2" in out and "trained 5 steps" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "missing.jsonl"], "no such file: missing.jsonl"),
    (["train"], "no dataset: pass --dataset PATH"),
    (["train", "--base-model", "nobody-org/absent", "--dataset", "d.jsonl"], "hf download nobody-org/absent"),
    (["train", "--dataset", "d.jsonl", "--resume"], "--resume needs --output-dir"),
    (["train", "--dataset", "d.jsonl", "--max-steps", "0"], "must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_2(home: Path, capsys, argv, message):
    write_dataset(home / "d.jsonl", 4)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse-level errors exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_no_trainable_tokens_is_a_usage_error(home: Path, tiny: Path, capsys):
    dataset = write_dataset(home / "d.jsonl", 4)
    code = main(["train", "--dataset", str(dataset), "--base-model", str(tiny), "--max-seq-length", "16"])
    assert code == 2
    assert "no trainable tokens" in capsys.readouterr().err


def test_anthropic_backend_writes_bedrock_file_and_prints_steps(home: Path, capsys):
    dataset = write_dataset(home / "d.jsonl", 3)
    assert main(["train", "--backend", "anthropic", "--dataset", str(dataset), "--output-dir", str(home / "out")]) == 0
    out = capsys.readouterr().out
    written = home / "out" / "d_bedrock.jsonl"
    assert len(written.read_text().splitlines()) == 3 and json.loads(written.read_text().splitlines()[0])["system"]
    assert "aws bedrock create-model-customization-job" in out


def test_openai_backend_without_key_is_a_usage_error(home: Path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    dataset = write_dataset(home / "d.jsonl", 2)
    assert main(["train", "--backend", "openai", "--dataset", str(dataset)]) == 2
    assert "api_key" in capsys.readouterr().err


def test_an_empty_dataset_is_reported_before_any_progress_bar(home: Path, capsys):
    empty = home / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    assert main(["train", "--dataset", str(empty)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "training" not in captured.err
    assert captured.err.strip() == f"datapilot: error: {empty}: no examples; export one with `datapilot export`"
