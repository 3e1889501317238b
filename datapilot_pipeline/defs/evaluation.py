"""Evaluation and promotion: the candidate against few-shot and the current champion on the holdout of its own
export, and the `champion` alias."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.tracking import MlflowResource, model_version_link, run_link
from datapilot_pipeline.lib.evaluation.local import DEFAULT_MAX_NEW_TOKENS
from datapilot_pipeline.lib.evaluation.metrics import RATE_METRICS
from datapilot_pipeline.lib.evaluation.promotion import (DEFAULT_ALPHA, DEFAULT_COVERAGE_MARGIN,
                                                         DEFAULT_GROUNDING_MARGIN, DEFAULT_MIN_EXAMPLES,
                                                         DEFAULT_MIN_GAIN, DEFAULT_SCHEMA_MARGIN,
                                                         DEFAULT_SCHEMA_TARGET)

ARMS = ("few_shot", "fine_tuned", "champion")
RATES = RATE_METRICS  # every arm metric, evidence coverage included


class EvaluationConfig(dg.Config):
    holdout_path: str | None = Field(default=None, description="Holdout JSONL; default the holdout written by the "
                                     "export the model was trained on (its lineage), else the workspace's holdout_test.jsonl.")
    shot_count: int = Field(default=3, ge=0, le=20, description="Worked examples shown to the few-shot arm.")
    fine_tuned_shot_count: int = Field(default=0, ge=0, le=20, description="Worked examples shown to the fine-tuned "
                                       "arm when its lineage carries no prompt recipe.")
    compare_with_champion: bool = Field(default=True, description="Also evaluate the current champion on the same holdout.")
    max_examples: int | None = Field(default=None, ge=1, description="Evaluate only the first N holdout examples.")
    max_new_tokens: int = Field(default=DEFAULT_MAX_NEW_TOKENS, ge=1, description="Bound on each reply's length, in "
                                "tokens (the default lets a constrained answer hold 3 insights).")
    constrained: bool = Field(default=True, description="Local arms decode under the llm_output JSON Schema, bounded "
                              "so that a complete answer fits max_new_tokens.")
    grounded_schema: bool = Field(default=False, description="Local arms: limit columns, row indices and aggregate "
                                  "keys to each example's own EDA.")
    structured_outputs: bool = Field(default=False, description="Endpoint arm: send the schema as response_format "
                                     "(only for endpoints that support OpenAI structured outputs).")
    batch_size: int = Field(default=4, ge=1, description="Prompts per forward pass for local generation.")
    reply_cache: bool = Field(default=True, description="Local arms read back replies this model already generated "
                              "for the same prompt, schema and length (few-shot and the champion on a holdout "
                              "that mostly repeats); see lib.evaluation.reply_cache.")
    n_bootstrap: int = Field(default=1000, ge=100, description="Bootstrap resamples for the confidence intervals.")
    fewshot_endpoint: str | None = Field(default=None, description="Chat-completions URL for the few-shot arm; "
                                         "default the fine-tuned model's own base model, locally.")
    fewshot_model_name: str = Field(default="default", description="`model` sent to the few-shot endpoint.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="Environment variable holding the endpoint's API key.")


def _arm_metadata(report: dict) -> dict:
    out = {}
    for arm in (a for a in ARMS if a in report):
        for key in RATES:
            value = report[arm].get(key)
            out[f"{arm}/{key}"] = dg.MetadataValue.float(round(float(value), 4)) if value is not None else dg.MetadataValue.text("n/a")
    return out


# The comparison as the Dagster UI shows it: short labels and cells, the models under the table, so the table fits the
# metadata panel (lib's `comparison_table`, one row per model path and 95% CIs in full, ran past 1600 px there; the
# run log and `datapilot eval` keep it). The panel's cells wrap at hyphens and slashes ("86-" over "100", "few-" over
# "shot") when the panel is narrower than the table: a word joiner after each keeps a cell's tokens whole, so a
# narrow panel scrolls instead; labels may still wrap between words.
_JOIN = "\u2060"  # WORD JOINER: no line break on either side, renders as nothing
_SHORT_LABELS = {"schema_pass_rate": "schema pass", "evidence_accuracy": "evidence accuracy",
                 "evidence_coverage": "evidence coverage", "text_grounding": "text grounding", "bleu": "BLEU",
                 "rouge_l": "ROUGE-L"}


def comparison_markdown(report: dict, root: Path | None = None) -> str:
    """The arms side by side as a narrow Markdown table: each rate in percent (`25.0`), under it its 95% CI in whole
    points (`10-40`), no cell breakable inside a token; below the table, which model each arm ran (paths under
    `root` shown relative to it, as plain text to copy)."""
    def model(label: str) -> str:
        path = Path(label)
        if root is not None and path.is_absolute() and path.is_relative_to(root):
            return str(path.relative_to(root))
        return label

    def whole(text: str) -> str:
        return text.replace("-", "-" + _JOIN).replace("/", "/" + _JOIN)

    def row(label: str, cells: list[str]) -> str:
        return f"| {whole(label)} | " + " | ".join(map(whole, cells)) + " |"

    arms = [arm for arm in ARMS if arm in report]
    rows = [row("%", [arm.replace("_", "-") for arm in arms]), "| --- |" + " ---: |" * len(arms),
            row("examples", [str(report[arm]["n"]) for arm in arms])]
    for key in RATES:
        values = [report[arm].get(key) for arm in arms]
        rows.append(row(_SHORT_LABELS.get(key, key), ["n/a" if v is None else f"{v * 100:.1f}" for v in values]))
        cis = [(report[arm].get("ci") or {}).get(key) for arm in arms]
        if any(cis):
            rows.append(row("95% CI", [f"{ci[0] * 100:.0f}-{ci[1] * 100:.0f}" if ci else "" for ci in cis]))
    models = [f"- {arm.replace('_', '-')}: `{model(str(report[arm]['model']))}`" for arm in arms]
    return "\n".join(rows) + "\n\nModels:\n\n" + "\n".join(models)


def _holdout_and_recipe(config: EvaluationConfig, ws, lineage: dict, log) -> tuple[Path, object]:
    from datapilot_pipeline.lib.evaluation.recipe import holdout_of, recipe_of

    recipe = recipe_of(lineage)
    if recipe is None:
        log.warning("the model's lineage carries no prompt recipe: the fine-tuned arm gets "
                    f"fine_tuned_shot_count={config.fine_tuned_shot_count} worked examples")
    if config.holdout_path:
        return Path(config.holdout_path), recipe
    own = holdout_of(lineage)
    if own is None:
        log.warning("the model's lineage names no holdout: evaluating on the workspace's holdout_test.jsonl")
        return ws.holdout_path(), recipe
    return own, recipe


@dg.asset(group_name="evaluation", kinds={"mlflow"})
def evaluation_scores(context: dg.AssetExecutionContext, config: EvaluationConfig, workspace: WorkspaceResource,
                      mlflow: MlflowResource, fine_tuned_model: dict) -> dg.Output[dict]:
    """The candidate from `fine_tuned_model`'s lineage, prompted with its own prompt recipe, against few-shot (its
    base model with worked examples) and the current champion, on the holdout its own export wrote: schema pass
    rate, evidence accuracy, BLEU and ROUGE-L with bootstrap CIs, and the paired differences the promotion rule
    judges. Written to `reports/eval_<TIMESTAMP>.json`, logged in MLflow (one child run per arm), every model
    call in the audit log."""
    from datapilot_pipeline.lib.audit import AuditLog
    from datapilot_pipeline.lib.evaluation.arms import endpoint_arm
    from datapilot_pipeline.lib.evaluation.local import LocalGenerator
    from datapilot_pipeline.lib.evaluation.recipe import recipe_of, recipe_shots
    from datapilot_pipeline.lib.evaluation.runner import comparison_table, evaluate_arms, load_holdout
    from datapilot_pipeline.lib.evaluation.tracking import log_evaluation
    from datapilot_pipeline.lib.export.shots import load_seeds
    from datapilot_pipeline.lib.tracking import current_champion, run_source_tags

    ws = workspace.workspace()
    tracking_uri = fine_tuned_model.get("tracking_uri") or mlflow.uri(ws)
    holdout_path, recipe = _holdout_and_recipe(config, ws, fine_tuned_model, context.log)
    holdout = load_holdout(holdout_path)
    seeds = load_seeds(ws.seed_examples_path())
    base = Path(fine_tuned_model["base_model"])
    gen = {"max_new_tokens": config.max_new_tokens, "batch_size": config.batch_size,
           "constrained": config.constrained, "grounded": config.grounded_schema,
           "reply_cache": ws.reply_cache_path() if config.reply_cache else None}
    few = (endpoint_arm(config.fewshot_endpoint, config.fewshot_model_name, config.api_key_env, 4, config.max_new_tokens,
                        structured_outputs=config.structured_outputs)
           if config.fewshot_endpoint else LocalGenerator(base_model=base, **gen))
    tuned = LocalGenerator(base_model=base, adapter_dir=Path(fine_tuned_model["adapter_dir"]),
                           name=fine_tuned_model["model_uri"], **gen)
    champion = current_champion(tracking_uri) if config.compare_with_champion else None
    champion_arm = champion_shots = None
    if champion is not None and champion[0].version != str(fine_tuned_model.get("version")):
        ref, tags = champion
        champion_arm = LocalGenerator(base_model=ref.base_model, adapter_dir=ref.adapter_dir, name=ref.model_uri, **gen)
        champion_recipe = recipe_of(tags)
        champion_shots = recipe_shots(champion_recipe, seeds, holdout) if champion_recipe else None
    result = evaluate_arms(holdout, few, tuned, config.shot_count, seeds=seeds,
                           fine_tuned_shot_count=config.fine_tuned_shot_count,
                           fine_tuned_shots=recipe_shots(recipe, seeds, holdout) if recipe else None,
                           champion_arm=champion_arm, champion_shots=champion_shots, audit=AuditLog(ws.llm_logs),
                           report_dir=ws.reports, n_bootstrap=config.n_bootstrap, max_examples=config.max_examples,
                           holdout_path=holdout_path)
    tags = {"model_uri": fine_tuned_model["model_uri"], "training_run_id": str(fine_tuned_model.get("run_id")),
            **run_source_tags("dagster:evaluation_scores", context.run_id, context.asset_key.to_user_string())}
    run_id = log_evaluation(result.report, tracking_uri, tags=tags)
    table = comparison_table(result.report)
    context.log.info("evaluation\n" + table)
    value = {"report_path": str(result.report_path), "mlflow_run_id": run_id, "tracking_uri": tracking_uri,
             "model_uri": fine_tuned_model["model_uri"], "version": fine_tuned_model.get("version"),
             "training_run_id": fine_tuned_model.get("run_id"), "holdout_path": str(holdout_path),
             **{arm: {k: result.report[arm][k] for k in ("n", *RATES)} for arm in ARMS if arm in result.report},
             "comparison": result.report["comparison"], "report": result.report}
    metadata = {"comparison": dg.MetadataValue.md(comparison_markdown(result.report, ws.root)),
                "report": dg.MetadataValue.path(str(result.report_path)),
                "holdout": dg.MetadataValue.path(str(holdout_path)), "n_examples": result.report["n_examples"],
                "mlflow_run_id": run_id, "mlflow_run": run_link(run_id),
                "mlflow_model": model_version_link(fine_tuned_model["model_uri"]), **_arm_metadata(result.report)}
    return dg.Output(value, metadata=for_display(metadata))


class PromotionConfig(dg.Config):
    """The rule of `lib.evaluation.promotion` (see the README's "Promotion" section for why these defaults)."""

    min_gain: float = Field(default=DEFAULT_MIN_GAIN, ge=0, lt=1, description="Superiority: the lower bound of the "
                            "per-example evidence-score difference against every reference must be above this.")
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0, lt=0.5, description="One-sided error rate of each lower bound.")
    schema_target: float = Field(default=DEFAULT_SCHEMA_TARGET, ge=0, le=1,
                                 description="Candidate schema pass rate needed to promote.")
    schema_margin: float = Field(default=DEFAULT_SCHEMA_MARGIN, ge=0, lt=1, description="Non-inferiority margin of "
                                 "the schema pass rate against each reference.")
    grounding_margin: float = Field(default=DEFAULT_GROUNDING_MARGIN, ge=0, lt=1, description="Non-inferiority "
                                    "margin of text grounding against each reference.")
    coverage_margin: float = Field(default=DEFAULT_COVERAGE_MARGIN, ge=0, lt=1, description="Non-inferiority "
                                   "margin of evidence coverage against each reference.")
    min_examples: int = Field(default=DEFAULT_MIN_EXAMPLES, ge=2, description="Fewest holdout examples to promote on.")

    def rules(self):
        from dataclasses import fields

        from datapilot_pipeline.lib.evaluation.promotion import PromotionRules

        return PromotionRules(**{f.name: getattr(self, f.name) for f in fields(PromotionRules)})


@dg.asset(group_name="evaluation", kinds={"mlflow"})
def model_promotion(context: dg.AssetExecutionContext, config: PromotionConfig,
                    evaluation_scores: dict) -> dg.Output[dict]:
    """The promotion decision for the evaluated version: it becomes `champion` only when every rule passes
    (holdout size, schema pass rate, better than few-shot and than the current champion on the per-example
    evidence score, non-inferior to both on the guardrails). The same decision function as `datapilot eval`; each
    rule with its numbers is in the metadata, in the report's `promotion` and on the MLflow run's and version's
    tags."""
    from datapilot_pipeline.lib.atomic import atomic_write_json
    from datapilot_pipeline.lib.evaluation.promotion import decide_promotion, rules_table
    from datapilot_pipeline.lib.evaluation.tracking import tag_decision, tag_version
    from datapilot_pipeline.lib.tracking import CHAMPION_ALIAS, promote_version

    report = evaluation_scores["report"]
    outcome = decide_promotion(report, config.rules())
    decision = outcome.as_dict()
    report_path = evaluation_scores.get("report_path")
    if report.get("promotion") != decision and report_path and Path(report_path).is_file():
        atomic_write_json(Path(report_path), {**report, "promotion": decision})  # the decision acted upon
    tracking_uri, version = evaluation_scores["tracking_uri"], evaluation_scores["version"]
    if outcome.promote:
        promote_version(tracking_uri, version, evaluation_scores.get("training_run_id"))
        context.log.info(f"{evaluation_scores['model_uri']} is now @{CHAMPION_ALIAS}")
    table = rules_table(outcome)
    tag_decision(evaluation_scores["mlflow_run_id"], tracking_uri, decision, table)
    if version is not None:
        tag_version(tracking_uri, str(version), evaluation_scores["mlflow_run_id"], evaluation_scores["report"], decision)
    value = {**decision, "model_uri": evaluation_scores["model_uri"], "version": version,
             "alias": CHAMPION_ALIAS if outcome.promote else None}
    context.log.info(f"promotion: {'PROMOTE' if outcome.promote else 'do not promote'}\n{table}")
    metadata = {"promoted": outcome.promote, "model_uri": str(evaluation_scores["model_uri"]),
                "rules": dg.MetadataValue.md(table), **_numbers(decision["numbers"])}
    return dg.Output(value, metadata=for_display(metadata))


def _numbers(numbers: dict) -> dict:
    return {k: dg.MetadataValue.float(round(float(v), 4)) for k, v in numbers.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


@dg.asset_check(asset=model_promotion, description="The evaluated fine-tuned model was promoted to champion.")
def fine_tuned_model_is_promoted(model_promotion: dict) -> dg.AssetCheckResult:
    from datapilot_pipeline.lib.evaluation.promotion import decision_from_dict, rules_table

    table = rules_table(decision_from_dict(model_promotion))
    return dg.AssetCheckResult(passed=bool(model_promotion["promote"]), severity=dg.AssetCheckSeverity.WARN,
                               metadata=for_display({"rules": dg.MetadataValue.md(table),
                                                     **_numbers(model_promotion["numbers"])}))
