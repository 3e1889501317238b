"""Export stage: ingested reviews -> consensus examples -> the fine-tuning dataset files."""

from pathlib import Path

import dagster as dg
from pydantic import Field, model_validator

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.export.eligibility import DEFAULT_MIN_SCORE
from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH

PREVIEW_ROWS = 5


class ReviewedExamplesConfig(dg.Config):
    """Which reviews become examples (the eligibility rule of `datapilot export`)."""

    min_score: int = Field(default=DEFAULT_MIN_SCORE, ge=1, le=5, description="Minimum human_score of a kept insight and "
                           "minimum (median) overall score of an exported job, 1-5.")
    check_evidence: bool = Field(default=True, description="Leave out kept insights whose evidence does not check "
                                 "out against the job's compact EDA.")
    output_dir: str | None = Field(default=None, description="Folder of reviewed_examples.jsonl; default "
                                   "$DATAPILOT_HOME/data/finetune_ready.")


class FinetuneDatasetConfig(dg.Config):
    """How the examples become dataset files: prompts, sampling and splits (the rest of `datapilot export`)."""

    shot_count: int = Field(default=3, ge=0, le=20, description="Most worked examples in a prompt; a prompt holds "
                            "as many of them as fit the token budget.")
    base_model: str | None = Field(default=None, description="Model the dataset is for (local folder or cached hub "
                                   "id): its tokenizer counts the token budget; default the demo base model.")
    max_length: int = Field(default=DEFAULT_MAX_LENGTH, ge=16, description="Max tokens of prompt + completion "
                            "(training's max_seq_length).")
    sample: int | None = Field(default=None, ge=1, description="Export a seeded random sample of this many examples; "
                               "all when unset.")
    seed: int = Field(default=0, ge=0, description="Seed of sampling (splits follow table identities only).")
    validation_fraction: float = Field(default=0.1, ge=0, lt=1, description="Share of tables for validation.")
    holdout_fraction: float = Field(default=0.1, ge=0, lt=1, description="Share of tables held out for evaluation; "
                                    "training gets the rest.")
    output_dir: str | None = Field(default=None, description="Folder of the dataset files; default "
                                   "$DATAPILOT_HOME/data/finetune_ready.")
    seeds_path: str | None = Field(default=None, description="Seed-example JSONL for the shots; default "
                                   "data/finetune_samples/seed_examples.jsonl (else the packaged copy).")

    @model_validator(mode="after")
    def _training_keeps_a_share(self):
        if self.validation_fraction + self.holdout_fraction >= 1:
            raise ValueError("validation_fraction + holdout_fraction must stay below 1 (training gets the rest)")
        return self


def _out_dir(output_dir: str | None, workspace: WorkspaceResource) -> Path:
    return Path(output_dir) if output_dir else workspace.workspace().finetune_ready


def _md_counts(counts: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    return "| reason | count |\n| --- | --- |\n" + (rows or "| none | 0 |")


@dg.asset(group_name="export", kinds={"json"})
def reviewed_examples(context: dg.AssetExecutionContext, config: ReviewedExamplesConfig, workspace: WorkspaceResource,
                      feedback_records: dict) -> dg.Output[dict]:
    """Every reviewed job that becomes a training example, after the consensus of its reviewers: approved and
    edited insights with a human score of at least `min_score` (edits applied), jobs whose median overall score
    reaches `min_score`; a later review by the same analyst replaces the earlier one, an insight most reviewers
    reject is dropped. Written to `reviewed_examples.jsonl` with what the rules discarded, by reason."""
    from datapilot_pipeline.lib.atomic import atomic_write_jsonl
    from datapilot_pipeline.lib.export import ReviewOutcome
    from datapilot_pipeline.lib.export.eligibility import iter_examples
    from datapilot_pipeline.lib.feedback.ingest import iter_stored_groups

    outcome = ReviewOutcome()  # the store streamed job by job, each example written as it is found
    examples = iter_examples(iter_stored_groups(feedback_records["feedback_dir"]), config.min_score,
                             config.check_evidence, outcome)
    path = atomic_write_jsonl(_out_dir(config.output_dir, workspace) / "reviewed_examples.jsonl",
                              (e.to_dict() for e in examples))
    stats = outcome.stats()
    context.log.info(f"{stats['n_examples']} examples from {stats['n_jobs']} jobs ({stats['n_reviews']} reviews)")
    return dg.Output({"path": str(path), **stats}, metadata=for_display({
        "n_examples": stats["n_examples"], "n_jobs": stats["n_jobs"], "n_reviews": stats["n_reviews"],
        "approval_rate": dg.MetadataValue.float(stats["approval_rate"]),
        "actions": dg.MetadataValue.json(stats["actions"]),
        "discarded": dg.MetadataValue.md(_md_counts(stats["discarded"])),
        "path": dg.MetadataValue.path(str(path))}))


def _preview(path: Path) -> str:
    import json

    lines = ["| job_id | split | categories | insights | prompt chars |", "| --- | --- | --- | --- | --- |"]
    with path.open(encoding="utf-8") as fh:
        for _, line in zip(range(PREVIEW_ROWS), fh):
            meta = json.loads(line)["metadata"]
            lines.append(f"| {meta['job_id']} | {meta['split']} | {', '.join(meta['categories'])} | "
                         f"{meta['approved_insight_count']} | {meta['prompt_length']} |")
    return "\n".join(lines)


@dg.asset(group_name="export", kinds={"jsonl"})
def finetune_dataset(context: dg.AssetExecutionContext, config: FinetuneDatasetConfig, workspace: WorkspaceResource,
                     reviewed_examples: dict) -> dg.Output[dict]:
    """The fine-tuning dataset, in files named for this run (`finetune_<UTC stamp>_<run id>.jsonl`, never
    overwritten): prompt/completion lines (train and validation told apart by `metadata.split`), the same
    examples as OpenAI chat files, `<stem>_holdout.jsonl` in the seed-example format for evaluation (absent
    when no table fell in the holdout) and `<stem>_recipe.json`, the prompt recipe. Every prompt + completion
    fits the target model's token budget; a table's split follows its identity (name + columns), and a table
    ever held out, or in the shipped holdout, is never trained on. PII is masked in every prompt and completion."""
    import json
    import time

    from datapilot_pipeline.lib.export import (
        ExportOptions, ReviewedExample, SplitFractions, default_output, holdout_path_for, load_seeds, write_export,
    )
    from datapilot_pipeline.lib.export.workspace import export_settings

    def examples():  # read line by line, twice with `sample` (once to count): never the whole file in memory
        with Path(reviewed_examples["path"]).open(encoding="utf-8") as fh:
            for line in fh:
                yield ReviewedExample.from_dict(json.loads(line))

    ws = workspace.workspace()
    seeds_path = Path(config.seeds_path) if config.seeds_path else ws.seed_examples_path()
    seeds = load_seeds(seeds_path) if config.shot_count else []
    fractions = SplitFractions(1 - config.validation_fraction - config.holdout_fraction, config.validation_fraction,
                               config.holdout_fraction)
    # min_score and check_evidence were applied by reviewed_examples; the options here only shape the files.
    options = ExportOptions(shot_count=config.shot_count, sample=config.sample, seed=config.seed, fractions=fractions)
    token = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{context.run_id[:8]}"
    out = _out_dir(config.output_dir, workspace)
    main = default_output(out, "prompt-completion", token)
    targets = {"prompt-completion": main, "openai-chat": default_output(out, "openai-chat", token)}
    result = write_export(examples, seeds, options, targets, holdout_path_for(main),
                          **export_settings(ws, config.base_model, config.max_length))
    holdout = result.paths.get("holdout")
    value = {"path": str(main), "chat_path": str(result.paths["openai-chat"]),
             "chat_validation_path": str(result.paths["openai-chat/validation"]),
             "holdout_path": str(holdout) if holdout else None, "recipe": result.recipe.to_dict(),
             "recipe_path": str(result.paths["recipe"]), "sha256": result.sha256["prompt-completion"],
             "sha256_by_file": result.sha256, "n_examples": result.n_exported, "per_split": result.per_split,
             "per_category": result.per_category, "lines": result.lines, "discarded": result.discarded}
    context.log.info(f"wrote {result.lines['prompt-completion']} lines to {main}")
    return dg.Output(value, metadata={
        "n_examples": result.n_exported, "n_train": result.per_split["train"],
        "n_validation": result.per_split["validation"], "n_holdout": result.per_split["holdout"],
        "over_token_budget": result.discarded.get("over_token_budget", 0),
        "shots_per_prompt": dg.MetadataValue.json(result.shots_per_prompt), "recipe": dg.MetadataValue.json(value["recipe"]),
        "per_category": dg.MetadataValue.json(result.per_category),
        "path": dg.MetadataValue.path(str(main)),
        "holdout_path": dg.MetadataValue.path(str(holdout)) if holdout else dg.MetadataValue.text("none"),
        "sha256": result.sha256["prompt-completion"],
        "preview": dg.MetadataValue.md(_preview(main))})
