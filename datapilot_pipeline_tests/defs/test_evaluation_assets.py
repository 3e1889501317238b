from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.evaluation import (EvaluationConfig, PromotionConfig, evaluation_scores,
                                                fine_tuned_model_is_promoted, model_promotion)
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline_tests.eval_fixtures import holdout, seeds
from datapilot_pipeline_tests.model_fixtures import build_tiny_with_adapter, register_version


@pytest.fixture(scope="module")
def tiny_with_adapter(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_with_adapter(tmp_path_factory.mktemp("tiny"))


def _register(home: Path, base: Path, adapter: Path) -> dict:
    return register_version(home, base, adapter)


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
    assert mat.metadata["fine_tuned/bleu"].value == pytest.approx(report["fine_tuned"]["bleu"])

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
