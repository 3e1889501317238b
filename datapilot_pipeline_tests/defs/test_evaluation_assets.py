from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from datapilot_pipeline.defs.ab_testing import AbTestConfig, ab_test_report
from datapilot_pipeline.defs.evaluation import (EvaluationConfig, PromotionConfig, evaluation_scores,
                                                fine_tuned_model_is_promoted, model_promotion)
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds


@pytest.fixture(scope="module")
def tiny_with_adapter(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny base model and an (untrained) LoRA adapter on it, both real safetensors directories."""
    from peft import LoraConfig, get_peft_model

    from datapilot_pipeline.lib.modeling import build_tiny_base_model, load_causal_lm

    root = tmp_path_factory.mktemp("tiny")
    texts = [dumps_compact(e["output"]) for e in holdout(3)] + [dumps_compact(e["compact_eda"]) for e in holdout(3)]
    base = build_tiny_base_model(root / "base", texts, seed=0, pretrain_steps=10)  # a real model; quality is not under test
    model, _ = load_causal_lm(base)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(root / "adapter", safe_serialization=True)
    return base, root / "adapter"


def _register(home: Path, base: Path, adapter: Path) -> dict:
    """What the training asset hands on: a run with the adapter artifact, registered as a version."""
    from mlflow.tracking import MlflowClient

    from datapilot_pipeline.lib.tracking import ensure_tracking_db, register_adapter

    uri = f"sqlite:///{home / 'mlflow.db'}"
    experiment = ensure_tracking_db(uri)
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(adapter), "adapter")
    version = register_adapter(run.info.run_id, uri, base, adapter)
    return {"model_uri": f"models:/datapilot-insights/{version}", "version": version, "run_id": run.info.run_id,
            "adapter_dir": str(adapter), "base_model": str(base), "dataset_sha256": "0" * 64}


def _aliases(home: Path) -> dict:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model("datapilot-insights").aliases


def test_local_arms_end_to_end_on_the_tiny_model(home, tiny_with_adapter):
    base, adapter = tiny_with_adapter
    samples = home / "data" / "finetune_samples"
    atomic_write_jsonl(samples / "seed_examples.jsonl", seeds())
    atomic_write_jsonl(samples / "holdout_test.jsonl", holdout(3))
    lineage = _register(home, base, adapter)

    @dg.asset(name="fine_tuned_model")
    def fine_tuned_model_stub() -> dict:
        return lineage

    config = {"ops": {"evaluation_scores": {"config": {"shot_count": 1, "max_examples": 2, "max_new_tokens": 12,
                                                       "n_bootstrap": 100}}}}
    result = dg.materialize([fine_tuned_model_stub, evaluation_scores, model_promotion, fine_tuned_model_is_promoted],
                            resources={"workspace": WorkspaceResource()}, run_config=config)
    assert result.success
    scores = result.output_for_node("evaluation_scores")
    report = json.loads(Path(scores["report_path"]).read_text())
    assert report["few_shot"]["n"] == report["fine_tuned"]["n"] == 2
    assert report["few_shot"]["shot_count"] == 1 and report["fine_tuned"]["shot_count"] == 0
    assert report["fine_tuned"]["model"] == lineage["model_uri"] and report["fine_tuned"]["backend"] == "local"
    for arm in ("few_shot", "fine_tuned"):
        assert 0.0 <= report[arm]["schema_pass_rate"] <= 1.0 and 0.0 <= report[arm]["bleu"] <= 1.0
    audit = [json.loads(line) for p in (home / "data" / "llm_logs").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(audit) == 4 and all(r["completion_tokens"] is not None and r["completion_tokens"] <= 12 for r in audit)

    mat = result.asset_materializations_for_node("evaluation_scores")[0]
    assert "| schema_pass_rate |" in mat.metadata["comparison"].value
    # the UI shows 4 significant digits; the report keeps full precision
    assert mat.metadata["fine_tuned/bleu"].value == pytest.approx(report["fine_tuned"]["bleu"], rel=1e-3, abs=1e-12)
    assert mat.metadata["mlflow_run"].value.endswith(f"/#/runs/{scores['mlflow_run_id']}")

    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").get_run(scores["mlflow_run_id"])
    assert run.data.metrics["fine_tuned_schema_pass_rate"] == report["fine_tuned"]["schema_pass_rate"]
    assert "few_shot_bleu" in run.data.metrics
    # an untrained tiny model cannot reach a 95% schema pass rate: no champion, and the check says why
    decision = result.output_for_node("model_promotion")
    (check,) = result.get_asset_check_evaluations()
    assert decision["promote"] is False and check.passed is False and "champion" not in _aliases(home)
    assert run.data.tags["promotion.promote"] == "false" and "below the target" in run.data.tags["promotion.reasons"]


def test_promotion_sets_the_champion_alias_when_the_rule_passes(home, tiny_with_adapter):
    from datapilot_pipeline.lib.evaluation.tracking import log_evaluation

    lineage = _register(home, *tiny_with_adapter)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    report = {"few_shot": {"n": 40, "schema_pass_rate": 0.6, "evidence_accuracy": 0.7, "bleu": 0.1, "rouge_l": 0.2},
              "fine_tuned": {"n": 40, "schema_pass_rate": 0.975, "evidence_accuracy": 0.8, "bleu": 0.3, "rouge_l": 0.4,
                             "model": lineage["model_uri"], "backend": "local", "shot_count": 0},
              "comparison": {"evidence_accuracy": {"value": 0.1, "ci": [0.02, 0.18]}}}
    scores = {"report": report, "tracking_uri": uri, "mlflow_run_id": log_evaluation(report, uri),
              "model_uri": lineage["model_uri"], "version": lineage["version"]}
    out = model_promotion(dg.build_asset_context(), PromotionConfig(), evaluation_scores=scores)
    assert out.value["promote"] is True and out.metadata["promoted"].value is True
    assert _aliases(home)["champion"] == int(lineage["version"])
    strict = model_promotion(dg.build_asset_context(), PromotionConfig(schema_target=0.99), evaluation_scores=scores)
    assert strict.value["promote"] is False and strict.value["alias"] is None


def test_ab_test_report_from_the_feedback_table(home):
    def rows(variant: str, jobs: int, approved_per_job: int, score: int) -> list[dict]:
        return [{"variant": variant, "overall_score": score + (k % 2), "n_approved": approved_per_job,
                 "n_edited": 1, "n_rejected": 9 - approved_per_job, "n_skipped": 2} for k in range(jobs)]

    table = home / "feedback.parquet"
    pd.DataFrame(rows("fine_tuned", 40, 7, 4) + rows("few_shot", 40, 5, 3)).to_parquet(table)
    out = ab_test_report(dg.build_asset_context(), AbTestConfig(), WorkspaceResource(),
                         feedback_records={"feedback_path": str(table)})
    value = out.value
    # 280 of 400 reviewed insights against 200 of 400
    assert value["variants"]["fine_tuned"]["approval_rate"] == 0.7 and value["variants"]["few_shot"]["approval_rate"] == 0.5
    assert value["verdict"] == "promote" and out.metadata["verdict"].value == "promote"
    assert out.metadata["fine_tuned/mean_overall_score"].value == 4.5
    saved = json.loads(Path(value["report_path"]).read_text())
    assert saved["verdict"] == "promote" and Path(value["report_path"]).parent == home / "reports"
    empty = ab_test_report(dg.build_asset_context(), AbTestConfig(), WorkspaceResource(),
                           feedback_records={"feedback_path": str(home / "missing.parquet")})
    assert empty.value["verdict"] == "keep collecting"
