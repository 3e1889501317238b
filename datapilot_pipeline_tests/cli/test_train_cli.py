"""`datapilot train`: a FINISHED tracked run from the command line, vendor backends, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.cli import main
from datapilot_pipeline.lib.modeling import build_tiny_base_model
from datapilot_pipeline_tests.training_data import example, write_dataset


@pytest.fixture
def tiny(home: Path) -> Path:
    return build_tiny_base_model(home / "tiny", [e["prompt"] + e["completion"] for e in map(example, range(12))],
                                 pretrain_steps=10)


def test_local_training_leaves_a_finished_registered_run(home: Path, tiny: Path, capsys):
    from mlflow.tracking import MlflowClient

    dataset = write_dataset(home / "train.jsonl", 16)
    code = main(["train", "--dataset", str(dataset), "--base-model", str(tiny), "--max-steps", "5",
                 "--max-seq-length", "512", "--output-dir", str(home / "models" / "runs" / "cli")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "trained 5 steps" in out and "models:/datapilot-insights/1" in out
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    run = client.search_runs(["1"])[0]
    assert run.info.status == "FINISHED" and run.data.params["max_steps"] == "5"
    assert run.data.params["dataset_path"] == str(dataset.resolve())
    assert len(client.get_metric_history(run.info.run_id, "loss")) >= 2
    assert client.get_model_version_by_alias("datapilot-insights", "candidate").run_id == run.info.run_id
    assert (home / "models" / "runs" / "cli" / "adapter" / "adapter_model.safetensors").is_file()


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
