"""Sharded validation: the fine-tuning dataset checked in line-range partitions that Dagster's multiprocess
(or, deployed, Kubernetes) executor runs side by side, merged into one report equal to `validation_report`."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from datapilot_pipeline.defs.display import for_display
from datapilot_pipeline.defs.resources import DedupIndexResource, WorkspaceResource
from datapilot_pipeline.lib.generation.token_budget import DEFAULT_MAX_LENGTH

N_SHARDS = 4
SHARDS = dg.StaticPartitionsDefinition([str(k) for k in range(N_SHARDS)])


class ValidationShardConfig(dg.Config):
    """How each shard counts tokens; the same meaning as in `ValidationConfig`."""

    max_tokens: int = Field(default=DEFAULT_MAX_LENGTH, ge=16, description="Max sequence length; longer lines are an issue.")
    tokenizer_path: str | None = Field(default=None, description="Local tokenizer folder for exact token counts.")


class ShardedReportConfig(dg.Config):
    """Options of the merge into one report."""

    run_gx: bool = Field(default=True, description="Also run the Great Expectations suite in the merge.")
    report_dir: str | None = Field(default=None, description="Folder of the report; default $DATAPILOT_HOME/reports.")


def _shard_dir(workspace: WorkspaceResource, sha256: str) -> Path:
    return workspace.workspace().reports / "shards" / sha256[:16]


@dg.asset(group_name="validation", kinds={"json"}, partitions_def=SHARDS)
def validation_shards(context: dg.AssetExecutionContext, config: ValidationShardConfig,
                      workspace: WorkspaceResource, dedup_index: DedupIndexResource,
                      finetune_dataset: dict) -> dg.Output[dict]:
    """One line range of the fine-tuning dataset checked on its own: schema, evidence, PII and token counts per
    line, plus each line's exact-duplicate key and MinHash signature for the merge's duplicate pass."""
    from datapilot_pipeline.lib.validation.shards import dataset_sha256, save_shard, validate_shard

    shard = int(context.partition_key)
    sha = dataset_sha256(finetune_dataset["path"])
    result = validate_shard(finetune_dataset["path"], shard, N_SHARDS, tokenizer_path=config.tokenizer_path,
                            max_tokens=config.max_tokens, index=dedup_index.index(sha))
    path = save_shard(result, _shard_dir(workspace, sha))
    lines = [f.line for f in result.facts]
    value = {"path": str(path), "shard": shard, "n_shards": N_SHARDS, "dataset_sha256": sha,
             "dataset_path": finetune_dataset["path"], "n_lines": len(lines)}
    return dg.Output(value, metadata={"n_lines": len(lines), "first_line": lines[0] if lines else 0,
                                      "last_line": lines[-1] if lines else 0,
                                      "shared_index": dedup_index.redis_host is not None,
                                      "path": dg.MetadataValue.path(str(path))})


@dg.asset(group_name="validation", kinds={"json"})
def sharded_validation_report(context: dg.AssetExecutionContext, config: ShardedReportConfig,
                              workspace: WorkspaceResource, dedup_index: DedupIndexResource,
                              validation_shards: dict) -> dg.Output[dict]:
    """The validation report of the fine-tuning dataset assembled from every shard: the same score, counts,
    invalid lines, PII by entity, tokens and duplicates (across shards too) as one pass over the file."""
    from datapilot_pipeline.lib.validation.report import write_report
    from datapilot_pipeline.lib.validation.shards import ShardMismatchError, load_shard, merge_shard_results

    shards = [load_shard(v["path"]) for v in validation_shards.values()]
    sha = shards[0].source_sha256 if shards else ""
    index = dedup_index.index(sha)
    try:
        report = merge_shard_results(shards, run_gx=config.run_gx, index=index, prefilled=index is not None)
    except ShardMismatchError as exc:
        raise dg.Failure(f"shards cannot be merged ({exc}): materialize every partition of validation_shards "
                         "from the same finetune_dataset") from None
    report["source"]["path"] = next(iter(validation_shards.values()))["dataset_path"]
    path = write_report(report, Path(config.report_dir) if config.report_dir else workspace.workspace().reports)
    context.log.info(f"quality score {report['quality_score']} ({report['grade']}) from {len(shards)} shards")
    value = {"report_path": str(path), "quality_score": report["quality_score"], "grade": report["grade"],
             "n_examples": report["n_examples"], "schema_invalid": report["schema"]["invalid_count"],
             "pii_by_entity": report["pii"]["by_entity"], "n_exact": len(report["duplicates"]["exact"]),
             "n_near": len(report["duplicates"]["near"]), "shards": report["shards"]}
    return dg.Output(value, metadata=for_display({
        "quality_score": float(report["quality_score"]), "grade": report["grade"],
        "n_examples": report["n_examples"], "shards": len(shards),
        "duplicates": len(report["duplicates"]["exact"]) + len(report["duplicates"]["near"]),
        "report_path": dg.MetadataValue.path(str(path))}))
