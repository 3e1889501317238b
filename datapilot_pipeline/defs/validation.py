"""Validation stage: the fine-tuning dataset's quality report, the gates that block training, and the
clean training file."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource


class ValidationConfig(dg.Config):
    """Thresholds of the blocking checks and options of the report (`datapilot validate`)."""

    min_score: float = Field(default=70.0, ge=0, le=100, description="Quality score (0-100) training needs.")
    max_schema_error_rate: float = Field(default=0.05, ge=0, le=1, description="Largest share of lines that may "
                                         "fail the schema.")
    max_duplicate_rate: float = Field(default=0.10, ge=0, le=1, description="Largest share of lines that may repeat "
                                      "an earlier line exactly or nearly.")
    max_tokens: int | None = Field(default=None, ge=16, description="Max sequence length; longer lines are an issue. "
                                   "Default: the dataset's prompt recipe (training's max length).")
    tokenizer_path: str | None = Field(default=None, description="Local tokenizer folder for exact token counts; "
                                       "default the recipe's (the training tokenizer), else a chars/4 estimate.")
    report_dir: str | None = Field(default=None, description="Folder of the report; default $DATAPILOT_HOME/reports.")


def _issues_table(issues: list[dict]) -> str:
    rows = "\n".join(f"| {i['check']} | {i['points']:g} | {i['reason']} |" for i in issues)
    return "| check | points lost | reason |\n| --- | --- | --- |\n" + (rows or "| none | 0 | |")


def _rate_check(passed: bool, description: str, **numbers) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR, description=description,
                               metadata=for_display(numbers))


def has_no_pii(validation_report: dict) -> dg.AssetCheckResult:
    """No line of the dataset holds unmasked PII (typed placeholders are fine)."""
    lines = validation_report["pii_lines"]
    return _rate_check(not lines, f"{len(lines)} lines hold unmasked PII", pii_lines=len(lines),
                       first_lines=dg.MetadataValue.json(lines[:20]),
                       by_entity=dg.MetadataValue.json(validation_report["pii_by_entity"]))


def few_schema_errors(validation_report: dict) -> dg.AssetCheckResult:
    """The share of lines failing the schema is at most `max_schema_error_rate` (validation_report config,
    default 0.05)."""
    rate, limit = validation_report["schema_error_rate"], validation_report["thresholds"]["max_schema_error_rate"]
    return _rate_check(rate <= limit, f"schema error rate {rate:.2%} (max {limit:.2%})", schema_error_rate=float(rate),
                       max_schema_error_rate=float(limit), invalid_lines=validation_report["schema_invalid"])


def few_duplicates(validation_report: dict) -> dg.AssetCheckResult:
    """The share of lines repeating an earlier line, exactly or nearly, is at most `max_duplicate_rate`
    (validation_report config, default 0.10)."""
    rate, limit = validation_report["duplicate_rate"], validation_report["thresholds"]["max_duplicate_rate"]
    return _rate_check(rate <= limit, f"duplicate rate {rate:.2%} (max {limit:.2%})", duplicate_rate=float(rate),
                       max_duplicate_rate=float(limit), exact=validation_report["n_exact"],
                       near=validation_report["n_near"])


def quality_score_ok(validation_report: dict) -> dg.AssetCheckResult:
    """The quality score (0-100) reaches `min_score` (validation_report config, default 70)."""
    score, limit = validation_report["quality_score"], validation_report["thresholds"]["min_score"]
    return _rate_check(score >= limit, f"quality score {score:.1f} ({validation_report['grade']}), needs {limit:g}",
                       quality_score=float(score), min_score=float(limit))


def fits_token_budget(validation_report: dict) -> dg.AssetCheckResult:
    """Training would drop under 10% of the lines as too long (counted with the training tokenizer and max
    length from the dataset's prompt recipe), and the lines follow that recipe."""
    from datapilot_pipeline.lib.validation.tokens import MAX_DROP_RATE

    rate, problems = validation_report["token_drop_rate"], validation_report["recipe_problems"]
    return _rate_check(rate < MAX_DROP_RATE and not problems,
                       f"training would drop {rate:.1%} of lines as longer than {validation_report['max_tokens']} "
                       f"tokens (max {MAX_DROP_RATE:.0%}); {len(problems)} recipe problems",
                       drop_rate=float(rate), over_max_lines=validation_report["over_max_count"],
                       max_tokens=validation_report["max_tokens"], token_method=validation_report["token_method"],
                       recipe_problems=dg.MetadataValue.json(problems[:20]))


# The gates that stop training, judged on the dataset they are about (its Checks tab) from the report's numbers.
DATASET_CHECKS = (has_no_pii, few_schema_errors, few_duplicates, fits_token_budget, quality_score_ok)


def _dataset_check_spec(check) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(check.__name__, asset="finetune_dataset", blocking=True,
                             description=check.__doc__, additional_deps=["validation_report"])


# The checks judge finetune_dataset but read validation_report, which is downstream of it: as separate check steps
# they would form a cycle (a blocking check holds back the dataset's downstream assets, the report among them), so
# the report's own step emits them. A failed one fails that step after the report is stored, so training_dataset,
# which needs the report, does not run.
@dg.multi_asset(
    specs=[dg.AssetSpec("validation_report", group_name="validation", kinds={"json"}, deps=["finetune_dataset"],
                        description="The quality report of the fine-tuning dataset: schema errors by line, evidence "
                        "grounding, unmasked PII by entity type, exact and near duplicates, token lengths, size, "
                        "category balance and a Great Expectations suite, summed up in a 0-100 quality score with "
                        "every point lost explained. It judges `finetune_dataset` with blocking checks that gate "
                        "training.").with_io_manager_key("io_manager")],  # a stored value, not Nothing
    check_specs=[_dataset_check_spec(check) for check in DATASET_CHECKS],
    allow_arbitrary_check_specs=True,  # checks on the upstream dataset, emitted here
)
def validation_report(context: dg.AssetExecutionContext, config: ValidationConfig, workspace: WorkspaceResource,
                      finetune_dataset: dict):
    """The quality report of the fine-tuning dataset and the dataset's blocking checks."""
    from datapilot_pipeline.lib.validation.report import validate_dataset, write_report

    ws = workspace.workspace()
    validation = validate_dataset(finetune_dataset["path"], tokenizer_path=config.tokenizer_path,
                                  max_tokens=config.max_tokens, workspace=ws,
                                  expected_sha256=finetune_dataset.get("sha256"))
    report = validation.report
    path = write_report(report, Path(config.report_dir) if config.report_dir else ws.reports)
    context.log.info(f"quality score {report['quality_score']} ({report['grade']}) for {report['n_examples']} lines")
    tokens = report["tokens"]
    value = {"report_path": str(path), "dataset_path": finetune_dataset["path"],
             "dataset_sha256": report["source"]["sha256"], "recipe": report["recipe"]["recipe"],
             "recipe_problems": report["recipe"]["problems"], "holdout_path": finetune_dataset.get("holdout_path"),
             "token_drop_rate": tokens["drop_rate"], "over_max_count": tokens["over_max_count"],
             "token_method": tokens["method"], "max_tokens": tokens["max_tokens"],
             "quality_score": report["quality_score"],
             "grade": report["grade"], "n_examples": report["n_examples"],
             "schema_invalid": report["schema"]["invalid_count"], "schema_error_rate": report["schema"]["invalid_rate"],
             "pii_lines": report["pii"]["lines"], "pii_by_entity": report["pii"]["by_entity"],
             "duplicate_rate": report["duplicates"]["rate"], "n_exact": len(report["duplicates"]["exact"]),
             "n_near": len(report["duplicates"]["near"]),
             "thresholds": {"min_score": config.min_score, "max_schema_error_rate": config.max_schema_error_rate,
                            "max_duplicate_rate": config.max_duplicate_rate},
             "validate_options": {"tokenizer_path": config.tokenizer_path, "max_tokens": config.max_tokens}}
    yield dg.Output(value, output_name="validation_report", metadata=for_display({
        "quality_score": float(report["quality_score"]), "grade": report["grade"],
        "n_examples": report["n_examples"], "schema_invalid_lines": report["schema"]["invalid_count"],
        "pii_lines": len(report["pii"]["lines"]), "pii_by_entity": dg.MetadataValue.json(report["pii"]["by_entity"]),
        "duplicate_rate": float(report["duplicates"]["rate"]),
        "issues": dg.MetadataValue.md(_issues_table(report["issues"])),
        "report_path": dg.MetadataValue.path(str(path))}))
    for check in DATASET_CHECKS:
        result = check(value)
        yield dg.AssetCheckResult(asset_key="finetune_dataset", check_name=check.__name__, passed=result.passed,
                                  severity=result.severity, description=result.description, metadata=result.metadata)


@dg.asset(group_name="validation", kinds={"json"})
def training_dataset(context: dg.AssetExecutionContext, workspace: WorkspaceResource,
                     validation_report: dict) -> dg.Output[dict]:
    """The file training reads: the validated dataset's schema-valid lines with duplicates dropped and PII masked,
    made from exactly the bytes the report validated (sha256 checked, file read once), beside the dataset as
    `<stem>_clean.jsonl`. Carries the prompt recipe and the export's holdout on to training and evaluation.
    Materializes only when every blocking check on `finetune_dataset` passes."""
    from datapilot_pipeline.lib.validation.clean import clean_dataset
    from datapilot_pipeline.lib.validation.report import DatasetChangedError

    source = Path(validation_report["dataset_path"])
    target = source.with_name(f"{source.stem}_clean.jsonl")
    try:
        result = clean_dataset(source, target, workspace=workspace.workspace(),
                               expected_sha256=validation_report["dataset_sha256"],
                               **validation_report["validate_options"])
    except DatasetChangedError as exc:
        raise dg.Failure(str(exc)) from None
    context.log.info(f"{result['n_examples']} clean examples written to {target}")
    value = {**result, "report_path": validation_report["report_path"], "source_path": str(source),
             "source_sha256": validation_report["dataset_sha256"], "recipe": validation_report["recipe"],
             "holdout_path": validation_report["holdout_path"]}
    return dg.Output(value, metadata={
        "n_examples": result["n_examples"], "masked_lines": result["masked_lines"],
        "dropped_duplicates": result["dropped_duplicates"], "dropped_invalid": result["dropped_invalid"],
        "sha256": result["sha256"], "source_sha256": validation_report["dataset_sha256"],
        "path": dg.MetadataValue.path(result["path"])})
