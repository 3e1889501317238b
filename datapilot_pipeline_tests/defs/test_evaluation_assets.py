from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.evaluation import (EvaluationConfig, PromotionConfig, evaluation_scores,
                                                fine_tuned_model_is_promoted, model_promotion)
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.tracking import MlflowResource
from datapilot_pipeline.lib.atomic import atomic_write_jsonl, dumps_compact
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
    """Holdout and prompt recipe come from the lineage, the champion is a third arm on the same holdout, and
    evaluation, the decision and the version tags all land in the one tracking DB."""
    base, adapter = tiny_with_adapter
    samples = home / "data" / "finetune_samples"
    atomic_write_jsonl(samples / "seed_examples.jsonl", seeds())
    atomic_write_jsonl(samples / "holdout_test.jsonl", holdout(5))  # the shipped one: must not be used
    own_holdout = atomic_write_jsonl(home / "data" / "finetune_ready" / "finetune_x_holdout.jsonl", holdout(3))
    champion = _register(home, base, adapter)
    from datapilot_pipeline.lib.tracking import set_alias

    set_alias(f"sqlite:///{home / 'mlflow.db'}", champion["version"], "champion")
    lineage = {**_register(home, base, adapter), "holdout_path": str(own_holdout),
               "recipe": {"prompt_version": "v1", "shot_count": 1, "shot_ids": ["seed2"], "max_seq_length": 2048,
                          "tokenizer": str(base)}}

    @dg.asset(name="fine_tuned_model")
    def fine_tuned_model_stub() -> dict:
        return lineage

    config = {"ops": {"evaluation_scores": {"config": {"shot_count": 1, "max_new_tokens": 12, "n_bootstrap": 100,
                                                       "constrained": False}}}}  # 12 tokens: no complete answer
    result = dg.materialize([fine_tuned_model_stub, evaluation_scores, model_promotion, fine_tuned_model_is_promoted],
                            resources={"workspace": WorkspaceResource(), "mlflow": MlflowResource()}, run_config=config)
    assert result.success
    scores = result.output_for_node("evaluation_scores")
    report = json.loads(Path(scores["report_path"]).read_text())
    assert report["few_shot"]["n"] == report["fine_tuned"]["n"] == report["champion"]["n"] == 3  # the lineage's file
    assert report["holdout_path"] == str(own_holdout)
    assert report["few_shot"]["shot_count"] == 1 and report["fine_tuned"]["shot_ids"] == ["seed2"]
    assert report["fine_tuned"]["model"] == lineage["model_uri"] and report["fine_tuned"]["backend"] == "local"
    assert report["champion"]["model"] == champion["model_uri"]
    assert set(report["per_example"]) == {"example_id", "few_shot", "fine_tuned", "champion"}
    assert report["promotion"]["promote"] is False and report["per_example"]["example_id"] == ["h1", "h2", "h3"]
    for arm in ("few_shot", "fine_tuned"):
        assert 0.0 <= report[arm]["schema_pass_rate"] <= 1.0 and 0.0 <= report[arm]["bleu"] <= 1.0
    audit = [json.loads(line) for p in (home / "data" / "llm_logs").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(audit) == 9 and all(r["completion_tokens"] is not None and r["completion_tokens"] <= 12 for r in audit)

    mat = result.asset_materializations_for_node("evaluation_scores")[0]
    assert "| schema pass |" in mat.metadata["comparison"].value
    # the UI shows 4 significant digits; the report keeps full precision
    assert mat.metadata["fine_tuned/bleu"].value == pytest.approx(report["fine_tuned"]["bleu"], rel=1e-3, abs=1e-12)
    assert mat.metadata["mlflow_run"].value.endswith(f"/#/runs/{scores['mlflow_run_id']}?workflowType=machine_learning")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    run = client.get_run(scores["mlflow_run_id"])
    assert run.data.metrics["fine_tuned_schema_pass_rate"] == report["fine_tuned"]["schema_pass_rate"]
    assert run.data.tags["dagster.asset_key"] == "evaluation_scores" and run.data.tags["dagster.run_id"] == result.run_id
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert sorted(c.data.tags["arm"] for c in children) == ["champion", "few_shot", "fine_tuned"]
    assert all("evidence_accuracy" in c.data.metrics or report[c.data.tags["arm"]]["evidence_accuracy"] is None
               for c in children)
    # an untrained tiny model on 3 examples cannot pass: the champion stays, and the rules say why
    decision = result.output_for_node("model_promotion")
    (check,) = result.get_asset_check_evaluations()
    assert decision["promote"] is False and check.passed is False
    assert _aliases(home)["champion"] == int(champion["version"])
    assert "| holdout size | 3 examples | >= 30 | FAIL |" in check.metadata["rules"].value
    assert run.data.tags["promotion.promote"] == "false" and "FAIL: holdout size" in run.data.tags["promotion.reasons"]
    assert run.data.tags["promotion.rule.holdout_size"] == "FAIL: 3 examples (needs >= 30)"
    assert "| better than champion |" in run.data.tags["promotion.rules_table"]
    version = MlflowClient(registry_uri=f"sqlite:///{home / 'mlflow.db'}").get_model_version(
        "datapilot-insights", lineage["version"])
    assert version.tags["promotion.decision"] == "reject" and version.tags["evaluation.n"] == "3"
    assert version.tags["evaluation.run_id"] == run.info.run_id


def test_promotion_sets_the_champion_alias_when_the_rule_passes(home, tiny_with_adapter):
    from datapilot_pipeline.lib.evaluation.tracking import log_evaluation

    lineage = _register(home, *tiny_with_adapter)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    def counts(schema: list[int], valid: int) -> dict:  # 2 insights a reply, each stating one grounded number
        return {"schema_pass": schema, "n_insights": [2 * s for s in schema], "n_valid_evidence": [valid * s for s in schema],
                "n_numbers": [2 * s for s in schema], "n_grounded": [2 * s for s in schema]}

    report = {"few_shot": {"n": 40, "schema_pass_rate": 1.0, "evidence_accuracy": 0.5, "bleu": 0.1, "rouge_l": 0.2},
              "fine_tuned": {"n": 40, "schema_pass_rate": 0.975, "evidence_accuracy": 1.0, "bleu": 0.3, "rouge_l": 0.4,
                             "model": lineage["model_uri"], "backend": "local", "shot_count": 0},
              "comparison": {"evidence_accuracy": {"value": 0.5, "ci": [0.4, 0.6]}},
              "per_example": {"example_id": [f"e{i}" for i in range(40)], "few_shot": counts([1] * 40, 1),
                              "fine_tuned": counts([1] * 39 + [0], 2)}}
    report_path = home / "reports" / "eval_x.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report))
    scores = {"report": report, "tracking_uri": uri, "mlflow_run_id": log_evaluation(report, uri),
              "model_uri": lineage["model_uri"], "version": lineage["version"], "training_run_id": lineage["run_id"],
              "report_path": str(report_path)}
    with pytest.raises(ValueError, match="refusing to promote another model"):
        model_promotion(dg.build_asset_context(), PromotionConfig(), evaluation_scores={**scores, "training_run_id": "x"})
    assert "champion" not in _aliases(home)
    out = model_promotion(dg.build_asset_context(), PromotionConfig(), evaluation_scores=scores)
    assert out.value["promote"] is True and out.metadata["promoted"].value is True
    assert _aliases(home)["champion"] == int(lineage["version"])
    assert out.value["alias"] == "champion"
    assert "| better than few_shot | 97.5% vs 50.0% per example: difference +47.5%" in out.metadata["rules"].value
    assert json.loads(report_path.read_text())["promotion"]["promote"] is True  # the decision acted upon
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(tracking_uri=uri).get_run(scores["mlflow_run_id"]).data.tags
    assert tags["promotion.promote"] == "true" and tags["promotion.rule.better_than_few_shot"].startswith("pass: ")
    strict = model_promotion(dg.build_asset_context(), PromotionConfig(schema_target=0.99), evaluation_scores=scores)
    assert strict.value["promote"] is False and strict.value["alias"] is None
    assert json.loads(report_path.read_text())["promotion"]["rules"][1] == {
        "name": "schema pass rate", "observed": "97.5%", "needs": ">= 99.0%", "passed": False}
