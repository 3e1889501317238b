"""Secrets and trust: an API key comes only from the environment and is written nowhere; models load from
safetensors and never unpickle a file; the PII gate fails closed when its scanner cannot run."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.cli import build_parser, main
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds
from datapilot_pipeline_tests.eval_server import SECRET, server, url  # noqa: F401 - server is a fixture
from datapilot_pipeline_tests.training_data import example, write_dataset


def test_api_key_is_read_from_the_environment_and_written_nowhere(server, home, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("EVAL_KEY", SECRET)
    atomic_write_jsonl(home / "data" / "finetune_samples" / "seed_examples.jsonl", seeds())
    path = atomic_write_jsonl(home / "holdout.jsonl", holdout(4))
    server.script = [500, 429]  # the retry and error paths run too
    rc = main(["eval", "--holdout", str(path), "--fewshot-endpoint", url(server, "fs"), "--finetuned-endpoint",
               url(server, "ft"), "--api-key-env", "EVAL_KEY", "--bootstrap", "100", "--max-retries", "3"])
    captured = capsys.readouterr()
    assert rc == 0
    assert {s["auth"] for s in server.seen} == {f"Bearer {SECRET}"}  # the key was used ...
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("eval_") for p in written) and any("llm_calls" in p.name for p in written)
    leaks = [str(p) for p in written if SECRET.encode() in p.read_bytes()]
    assert leaks == []  # ... and is in no report, audit log or other file under the working root
    assert SECRET not in captured.out + captured.err + caplog.text
    # No command takes a key as an argument (it would land in shell history and process listings).
    options = [opt for action in _all_actions(build_parser()) for opt in action.option_strings]
    assert {o for o in options if "key" in o} == {"--api-key-env"}  # eval and serve name a variable, never a key


def _all_actions(parser):
    for action in parser._actions:
        yield action
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):  # a subcommand table
            for sub in choices.values():
                yield from _all_actions(sub)


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A tiny base model and a LoRA adapter for it, both saved as safetensors."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    root = tmp_path_factory.mktemp("models")
    texts = [example(i)["prompt"] + example(i)["completion"] for i in range(4)]
    base = build_tiny_base_model(root / "base", texts, pretrain_steps=0, vocab_size=300)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, use_safetensors=True),
                           LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    model.save_pretrained(root / "adapter", safe_serialization=True)
    return {"base": base, "adapter": root / "adapter"}


def _plant_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(marker)))


def test_models_load_from_safetensors_and_never_unpickle(tiny, tmp_path: Path):
    from datapilot_pipeline.lib.generation.modeling import load_causal_lm, resolve_base_model

    marker = tmp_path / "pickle_ran"
    _plant_pickle(tiny["adapter"] / "adapter_model.bin", marker)  # beside the real weights
    model, _ = load_causal_lm(tiny["base"], tiny["adapter"])
    assert model is not None and not marker.exists()

    pickled_only = tmp_path / "pickled_adapter"
    pickled_only.mkdir()
    (pickled_only / "adapter_config.json").write_bytes((tiny["adapter"] / "adapter_config.json").read_bytes())
    _plant_pickle(pickled_only / "adapter_model.bin", marker)
    with pytest.raises(ValueError, match="no adapter_model.safetensors"):
        load_causal_lm(tiny["base"], pickled_only)

    pickled_base = tmp_path / "pickled_base"
    pickled_base.mkdir()
    (pickled_base / "config.json").write_bytes((tiny["base"] / "config.json").read_bytes())
    _plant_pickle(pickled_base / "pytorch_model.bin", marker)
    with pytest.raises(ValueError, match="safetensors"):
        resolve_base_model(str(pickled_base), workspace=None)
    with pytest.raises(ValueError, match="safetensors"):
        load_causal_lm(pickled_base)
    assert not marker.exists()


def _gate_run(home: Path, dataset: Path) -> dg.ExecuteInProcessResult:
    from datapilot_pipeline.defs.resources import WorkspaceResource
    from datapilot_pipeline.defs.validation import training_dataset, validation_report

    @dg.asset(name="finetune_dataset")
    def given_dataset() -> dict:
        return {"path": str(dataset)}

    return dg.materialize(
        [given_dataset, validation_report, training_dataset],  # the report's step emits the dataset's checks
        resources={"workspace": WorkspaceResource(root=str(home))}, raise_on_error=False,
        run_config={"ops": {"validation_report": {"config": {"min_score": 0, "max_duplicate_rate": 1.0}}}},
        instance=dg.DagsterInstance.ephemeral())


def test_pii_gate_fails_closed_when_the_scanner_cannot_run(home: Path, monkeypatch):
    import datapilot_pipeline.lib.pii.engine as pii  # where the scanner looks its analyzer up

    dataset = write_dataset(home / "data" / "finetune_ready" / "finetune_x.jsonl", 6)
    rows = [json.loads(line) for line in dataset.read_text().split("\n") if line]
    rows[0]["metadata"]["note"] = "questions go to the #data@ channel"  # a string the scanner must look at
    atomic_write_jsonl(dataset, rows)
    clean = home / "data" / "finetune_ready" / "finetune_x_clean.jsonl"

    control = _gate_run(home, dataset)  # the scanner works: the gate passes and training data is written
    assert control.success and clean.is_file()
    clean.unlink()

    def unavailable():
        raise RuntimeError("PII scanner unavailable")

    monkeypatch.setattr(pii, "get_analyzer", unavailable)
    blocked = _gate_run(home, dataset)
    assert not blocked.success
    passed = [e for e in blocked.get_asset_check_evaluations() if e.passed]
    assert passed == []  # no check, the PII one included, ever reports a pass
    assert blocked.asset_materializations_for_node("training_dataset") == [] and not clean.exists()


def test_api_key_reaches_no_asset_metadata_run_log_or_mlflow_record(server, home, tiny, monkeypatch, capfd):
    from datapilot_pipeline.defs.evaluation import evaluation_scores
    from datapilot_pipeline.defs.resources import WorkspaceResource
    from datapilot_pipeline.defs.tracking import MlflowResource

    monkeypatch.setenv("EVAL_KEY", SECRET)
    holdout_path = atomic_write_jsonl(home / "holdout.jsonl", holdout(2))

    @dg.asset(name="fine_tuned_model")
    def given_model() -> dict:
        return {"base_model": str(tiny["base"]), "adapter_dir": str(tiny["adapter"]),
                "model_uri": "models:/datapilot-insights/1", "version": "1", "run_id": "r1"}

    config = {"holdout_path": str(holdout_path), "shot_count": 0, "max_new_tokens": 8, "n_bootstrap": 100,
              "constrained": False,  # 8 tokens hold no constrained answer; the key's path is what is tested
              "fewshot_endpoint": url(server, "fs"), "api_key_env": "EVAL_KEY"}
    with dg.instance_for_test(temp_dir=str(home / ".dagster_home")) as instance:  # run logs stored under home
        result = dg.materialize([given_model, evaluation_scores], instance=instance,
                                resources={"workspace": WorkspaceResource(root=str(home)), "mlflow": MlflowResource()},
                                run_config={"ops": {"evaluation_scores": {"config": config}}})
        assert result.success
        records = instance.get_records_for_run(result.run_id).records
        assert records and not any(SECRET in str(r.event_log_entry) for r in records)
    assert {s["auth"] for s in server.seen} == {f"Bearer {SECRET}"}
    meta = result.asset_materializations_for_node("evaluation_scores")[0].metadata
    assert "mlflow_run_id" in meta and SECRET not in str(meta)
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in written)
    assert [str(p) for p in written if SECRET.encode() in p.read_bytes()] == []
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err
