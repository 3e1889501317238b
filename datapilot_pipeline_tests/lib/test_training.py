"""LoRA SFT on the tiny model: data guards, loss falls, adapter changes and loads, resume continues, MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model, generate, load_causal_lm
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.training import TrainingConfig
from datapilot_pipeline.lib.training.data import NoTrainableTokensError, prepare_data, split_examples
from datapilot_pipeline.lib.training.run import run_training
from datapilot_pipeline.lib.training.trainer import last_checkpoint, train_lora
from datapilot_pipeline_tests.training_data import example, write_dataset

# A higher LR than the default keeps these runs to a few dozen steps on a shared CPU.
FAST = dict(max_seq_length=512, batch_size=4, gradient_accumulation_steps=1, logging_steps=2, evals_per_epoch=2, learning_rate=1e-3)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    texts = [e["prompt"] + e["completion"] for e in map(example, range(30))]
    return build_tiny_base_model(tmp_path_factory.mktemp("m") / "base", texts, pretrain_steps=40)


@pytest.fixture(scope="module")
def tokenizer(base: Path):
    return load_causal_lm(base)[1]


def test_defaults_follow_the_playbook():
    config = TrainingConfig()
    effective_batch = config.batch_size * config.gradient_accumulation_steps  # memory holds batch_size rows
    assert config.epochs == 3 and 4 <= effective_batch <= 8 and 0.10 <= config.validation_fraction <= 0.15
    assert config.batch_size == 1 and config.gradient_checkpointing is None and config.generation_eval_examples == 0
    assert config.max_seq_length is None  # None: the dataset recipe's max length (2048 without one)
    assert 8 <= config.lora_r <= 16 and config.early_stopping_patience == 2
    assert config.learning_rate == 2e-4 and config.warmup_ratio == 0.1
    with pytest.raises(ValueError):
        TrainingConfig(lora_rank=8)  # unknown keys are errors, not ignored


def test_metadata_split_wins_over_random_split():
    rows = [example(i) for i in range(16)]
    train, val, source = split_examples(rows, 0.5, seed=0)
    assert source == "metadata" and [r["metadata"]["job_id"] for r in val] == ["job_0", "job_8"]
    for row in rows:
        del row["metadata"]
    train, val, source = split_examples(rows, 0.125, seed=0)
    assert source == "random" and len(val) == 2 and len(train) == 14
    assert split_examples(rows, 0.125, seed=0)[1] == val  # seeded


def test_examples_that_do_not_fit_are_dropped_and_counted(tmp_path: Path, tokenizer):
    rows = [example(i) for i in range(6)]
    rows[1] = {**rows[1], "prompt": rows[1]["prompt"] * 3}
    path = atomic_write_jsonl(tmp_path / "d.jsonl", rows)
    n_prompt = len(tokenizer(example(0)["prompt"])["input_ids"])
    data = prepare_data(path, tokenizer, max_seq_length=n_prompt * 2, validation_fraction=0.1, seed=0)
    assert data.dropped_truncated == 1
    assert len(data.train) + len(data.validation) == 5
    assert rows[1]["prompt"] not in [r["prompt"] for r in data.train + data.validation]
    assert data.train_completion_tokens > 0


def test_no_trainable_tokens_fails_loudly(tmp_path: Path, tokenizer):
    path = write_dataset(tmp_path / "d.jsonl", 4)
    n_prompt = len(tokenizer(example(0)["prompt"])["input_ids"])
    with pytest.raises(NoTrainableTokensError, match="no trainable tokens.*4 of 4"):
        prepare_data(path, tokenizer, max_seq_length=n_prompt, validation_fraction=0.1, seed=0)


@pytest.mark.parametrize("line, message", [("not json", "d.jsonl:1: not JSON"), ('{"prompt": "x"}', "d.jsonl:1: needs")])
def test_malformed_lines_name_the_line(tmp_path: Path, tokenizer, line: str, message: str):
    path = tmp_path / "d.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message):
        prepare_data(path, tokenizer, 512, 0.1, 0)


def test_training_lowers_loss_changes_adapter_and_generates(tmp_path: Path, base: Path, tokenizer):
    data = prepare_data(write_dataset(tmp_path / "d.jsonl", 32), tokenizer, 512, 0.1, 0)
    seen: list[tuple[int, dict]] = []
    outcome = train_lora(TrainingConfig(epochs=2, **FAST), data, base, tmp_path / "out",
                         sink=lambda step, m: seen.append((step, m)))
    assert outcome.params_changed and outcome.trainable_params > 0
    assert outcome.final_loss < outcome.first_loss * 0.8
    assert outcome.eval_loss is not None and outcome.tokens_per_second > 0
    assert any("eval_loss" in m for _, m in seen) and any("tokens_per_second" in m for _, m in seen)
    assert (outcome.adapter_dir / "adapter_model.safetensors").is_file()
    assert json.loads((outcome.adapter_dir / "adapter_config.json").read_text())["r"] == 16
    model, tok = load_causal_lm(base, outcome.adapter_dir)
    plain, _ = load_causal_lm(base)
    prompt = [example(500)["prompt"]]
    tuned_text = generate(model, tok, prompt, max_new_tokens=12, batch_size=1)[0]
    assert tuned_text.startswith('{"insights"')
    assert tuned_text != generate(plain, tok, prompt, max_new_tokens=12, batch_size=1)[0]


def test_resume_continues_the_step_count(tmp_path: Path, base: Path, tokenizer):
    data = prepare_data(write_dataset(tmp_path / "d.jsonl", 24), tokenizer, 512, 0.0, 0)
    config = dict(FAST, evals_per_epoch=1, save_total_limit=3)
    first = train_lora(TrainingConfig(max_steps=3, **config), data, base, tmp_path / "out")
    assert first.global_step == 3 and last_checkpoint(first.checkpoint_dir).name == "checkpoint-3"
    steps: list[int] = []
    second = train_lora(TrainingConfig(max_steps=6, **config), data, base, tmp_path / "out",
                        sink=lambda step, m: steps.append(step), resume=True)
    assert second.global_step == 6
    assert steps and min(steps) > 3  # no step before the checkpoint was trained again
    with pytest.raises(ValueError, match="nothing to resume"):
        train_lora(TrainingConfig(max_steps=2, **config), data, base, tmp_path / "elsewhere", resume=True)


def test_run_training_records_a_finished_mlflow_run(home: Path, base: Path):
    from mlflow.tracking import MlflowClient

    dataset = write_dataset(home / "d.jsonl", 16)
    report = home / "report.json"
    report.write_text('{"quality_score": 95}')
    result = run_training(TrainingConfig(max_steps=4, **FAST), dataset, Workspace.current(), base_model=base,
                          report_path=report)
    assert result["model_uri"] == "models:/datapilot-insights/1" and result["version"] == "1"
    client = MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["lora_r"] == "16" and run.data.params["dataset_sha256"] == result["dataset_sha256"]
    assert run.data.params["target_modules"].startswith("q_proj,")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")][:2] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"adapter", "validation_report"} <= artifacts
    version = client.get_model_version_by_alias("datapilot-insights", "candidate")
    assert str(version.version) == "1" and version.run_id == result["run_id"]
    assert str(home / "models" / "runs") in result["adapter_dir"]


def test_mlflow_records_what_its_users_expect(home: Path, base: Path):
    """Experiment description and classic-ML kind, run source, the dataset as an input, one-off figures at
    step 0, and a registered version that is a loadable pyfunc model with a signature and a description."""
    import json

    import mlflow
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline_tests.training_data import example

    dataset = write_dataset(home / "d.jsonl", 8)
    result = run_training(TrainingConfig(max_steps=2, **FAST), dataset, Workspace.current(), base_model=base,
                          run_tags={"dagster.run_id": "abc123", "dagster.asset_key": "fine_tuned_model"})
    client = MlflowClient(result["tracking_uri"])
    experiment = client.get_experiment(result["experiment_id"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "LoRA fine-tuning" in experiment.tags["mlflow.note.content"]
    run = client.get_run(result["run_id"])
    assert run.data.tags["dagster.run_id"] == "abc123" and run.data.tags["dagster.asset_key"] == "fine_tuned_model"
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "d.jsonl" and inp.dataset.digest == result["dataset_sha256"][:16]
    assert json.loads(inp.dataset.profile)["num_rows"] == 8
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_seconds")] == [0]
    version = client.get_model_version_by_alias("datapilot-insights", "candidate")
    assert "LoRA adapter" in version.description and version.tags["dataset_sha256"] == result["dataset_sha256"]
    from datapilot_pipeline.lib.registry.log import using_tracking_uri

    with using_tracking_uri(result["tracking_uri"]):
        model = mlflow.pyfunc.load_model("models:/datapilot-insights@candidate")
    assert [c.name for c in model.metadata.get_input_schema().inputs] == ["compact_eda"]
    eda = json.loads(json.dumps(example(3)))  # a real compact EDA, as the prompt carries it
    from datapilot_pipeline.lib.prompts import extract_task_eda

    answer = model.predict({"compact_eda": [json.dumps(extract_task_eda(eda["prompt"]))]})
    assert list(answer.columns) == ["llm_output", "schema_pass"] and len(answer) == 1
    assert isinstance(answer["llm_output"][0], str)


def test_the_ci_step_cap_applies_only_where_no_max_steps_is_set(monkeypatch):
    monkeypatch.setenv("DATAPILOT_MAX_TRAIN_STEPS", "3")
    assert TrainingConfig().with_environment_cap().max_steps == 3
    assert TrainingConfig(max_steps=7).with_environment_cap().max_steps == 7
    monkeypatch.setenv("DATAPILOT_MAX_TRAIN_STEPS", "many")
    with pytest.raises(ValueError, match="DATAPILOT_MAX_TRAIN_STEPS"):
        TrainingConfig().with_environment_cap()
    monkeypatch.delenv("DATAPILOT_MAX_TRAIN_STEPS")
    assert TrainingConfig().with_environment_cap().max_steps is None


def test_gradient_checkpointing_follows_model_size_unless_set():
    from datapilot_pipeline.lib.training.trainer import use_gradient_checkpointing

    assert use_gradient_checkpointing(TrainingConfig(), 134_515_008)  # SmolLM2-135M
    assert not use_gradient_checkpointing(TrainingConfig(), 1_200_000)  # the demo base
    assert not use_gradient_checkpointing(TrainingConfig(gradient_checkpointing=False), 134_515_008)
    assert use_gradient_checkpointing(TrainingConfig(gradient_checkpointing=True), 1_200_000)
