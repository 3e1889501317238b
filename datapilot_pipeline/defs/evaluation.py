"""Evaluation and promotion: few-shot against fine-tuned on the holdout, and the `champion` alias."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.resources import WorkspaceResource

ARMS = ("few_shot", "fine_tuned")
RATES = ("schema_pass_rate", "evidence_accuracy", "text_grounding", "bleu", "rouge_l")


class EvaluationConfig(dg.Config):
    holdout_path: str | None = Field(default=None, description="Holdout JSONL; default the workspace's holdout_test.jsonl.")
    shot_count: int = Field(default=3, ge=0, le=20, description="Worked examples shown to the few-shot arm.")
    fine_tuned_shot_count: int = Field(default=0, ge=0, le=20, description="Worked examples shown to the fine-tuned arm.")
    max_examples: int | None = Field(default=None, ge=1, description="Evaluate only the first N holdout examples.")
    max_new_tokens: int = Field(default=1024, ge=1, description="Bound on each reply's length, in tokens.")
    constrained: bool = Field(default=True, description="Local arms decode under the llm_output JSON Schema, bounded "
                              "so that a complete answer fits max_new_tokens.")
    grounded_schema: bool = Field(default=False, description="Local arms: limit columns, row indices and aggregate "
                                  "keys to each example's own EDA.")
    structured_outputs: bool = Field(default=False, description="Endpoint arm: send the schema as response_format "
                                     "(only for endpoints that support OpenAI structured outputs).")
    batch_size: int = Field(default=4, ge=1, description="Prompts per forward pass for local generation.")
    n_bootstrap: int = Field(default=1000, ge=100, description="Bootstrap resamples for the confidence intervals.")
    fewshot_endpoint: str | None = Field(default=None, description="Chat-completions URL for the few-shot arm; "
                                         "default the fine-tuned model's own base model, locally.")
    fewshot_model_name: str = Field(default="default", description="`model` sent to the few-shot endpoint.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the endpoint's API key.")


def _arm_metadata(report: dict) -> dict:
    out = {}
    for arm in ARMS:
        for key in RATES:
            value = report[arm].get(key)
            out[f"{arm}/{key}"] = dg.MetadataValue.float(float(value)) if value is not None else dg.MetadataValue.text("n/a")
    return out


@dg.asset(group_name="evaluation", kinds={"mlflow"})
def evaluation_scores(context: dg.AssetExecutionContext, config: EvaluationConfig, workspace: WorkspaceResource,
                      fine_tuned_model: dict) -> dg.Output[dict]:
    """Few-shot (the base model with worked examples) against the fine-tuned model from `fine_tuned_model`'s
    lineage on the holdout: schema pass rate, evidence accuracy, BLEU and ROUGE-L with bootstrap CIs and a
    per-category breakdown. Written to `reports/eval_<TIMESTAMP>.json`, both arms logged in one MLflow run,
    every model call in the audit log."""
    from datapilot_pipeline.lib.audit import AuditLog
    from datapilot_pipeline.lib.evaluation.arms import endpoint_arm
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator
    from datapilot_pipeline.lib.evaluation.runner import comparison_table, evaluate_arms, load_holdout
    from datapilot_pipeline.lib.evaluation.tracking import log_evaluation
    from datapilot_pipeline.lib.export.shots import load_seeds
    from datapilot_pipeline.lib.tracking import default_tracking_uri

    ws = workspace.workspace()
    holdout = load_holdout(Path(config.holdout_path) if config.holdout_path else ws.holdout_path())
    seeds = load_seeds(ws.seed_examples_path()) if config.shot_count or config.fine_tuned_shot_count else []
    base = Path(fine_tuned_model["base_model"])
    local = {"max_new_tokens": config.max_new_tokens, "batch_size": config.batch_size,
             "constrained": config.constrained, "grounded": config.grounded_schema}
    few = (endpoint_arm(config.fewshot_endpoint, config.fewshot_model_name, config.api_key_env, 4, config.max_new_tokens,
                        structured_outputs=config.structured_outputs)
           if config.fewshot_endpoint else LocalGenerator(base_model=base, **local))
    tuned = LocalGenerator(base_model=base, adapter_dir=Path(fine_tuned_model["adapter_dir"]),
                           name=fine_tuned_model["model_uri"], **local)
    result = evaluate_arms(holdout, few, tuned, config.shot_count, seeds=seeds,
                           fine_tuned_shot_count=config.fine_tuned_shot_count, audit=AuditLog(ws.llm_logs),
                           report_dir=ws.reports, n_bootstrap=config.n_bootstrap, max_examples=config.max_examples)
    tracking_uri = default_tracking_uri(ws)
    run_id = log_evaluation(result.report, tracking_uri, tags={"model_uri": fine_tuned_model["model_uri"],
                                                                 "training_run_id": str(fine_tuned_model.get("run_id"))})
    table = comparison_table(result.report)
    context.log.info("evaluation\n" + table)
    value = {"report_path": str(result.report_path), "mlflow_run_id": run_id, "tracking_uri": tracking_uri,
             "model_uri": fine_tuned_model["model_uri"], "version": fine_tuned_model.get("version"),
             **{arm: {k: result.report[arm][k] for k in ("n", *RATES)} for arm in ARMS},
             "comparison": result.report["comparison"], "report": result.report}
    metadata = {"comparison": dg.MetadataValue.md(table), "report": dg.MetadataValue.path(str(result.report_path)),
                "n_examples": result.report["n_examples"], "mlflow_run_id": run_id, **_arm_metadata(result.report)}
    return dg.Output(value, metadata=metadata)


class PromotionConfig(dg.Config):
    schema_target: float = Field(default=0.95, ge=0, le=1, description="Fine-tuned schema pass rate needed to promote.")


@dg.asset(group_name="evaluation", kinds={"mlflow"})
def model_promotion(context: dg.AssetExecutionContext, config: PromotionConfig,
                    evaluation_scores: dict) -> dg.Output[dict]:
    """The promotion decision for the evaluated model: it gets the MLflow alias `champion` only when its schema
    pass rate meets the target and its evidence accuracy is not worse than few-shot beyond the CI."""
    from datapilot_pipeline.lib.evaluation.promotion import decide_promotion
    from datapilot_pipeline.lib.evaluation.tracking import tag_decision
    from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, set_alias

    decision = decide_promotion(evaluation_scores["report"], config.schema_target).as_dict()
    tracking_uri = evaluation_scores["tracking_uri"]
    if decision["promote"]:
        set_alias(tracking_uri, evaluation_scores["version"], CHAMPION_ALIAS)
        context.log.info(f"{evaluation_scores['model_uri']} is now @{CHAMPION_ALIAS}")
    tag_decision(evaluation_scores["mlflow_run_id"], tracking_uri, decision)
    value = {**decision, "model_uri": evaluation_scores["model_uri"], "version": evaluation_scores["version"],
             "alias": CHAMPION_ALIAS if decision["promote"] else None}
    numbers = {k: dg.MetadataValue.float(float(v)) for k, v in decision["numbers"].items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    metadata = {"promoted": decision["promote"], "model_uri": str(evaluation_scores["model_uri"]),
                "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision["reasons"])), **numbers}
    return dg.Output(value, metadata=metadata)


@dg.asset_check(asset=model_promotion, description="The evaluated fine-tuned model was promoted to champion.")
def fine_tuned_model_is_promoted(model_promotion: dict) -> dg.AssetCheckResult:
    numbers = {k: v for k, v in model_promotion["numbers"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return dg.AssetCheckResult(passed=bool(model_promotion["promote"]), severity=dg.AssetCheckSeverity.WARN,
                               metadata={"reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in model_promotion["reasons"])),
                                         **numbers})
