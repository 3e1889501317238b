"""Partitioned validation: every shard materialized in its own run, merged into the one-pass report."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.validation_shards import (
    N_SHARDS, SHARDS, DedupIndexResource, sharded_validation_report, validation_shards,
)
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.validation.report import validate_dataset
from datapilot_pipeline.lib.validation.sample_data import example_line, example_lines, shots


def _source(path: Path) -> dg.AssetsDefinition:
    @dg.asset(name="finetune_dataset")
    def finetune_dataset() -> dict:
        return {"path": str(path), "sha256": "x", "n_examples": 0}

    return finetune_dataset


@pytest.fixture
def dataset(home: Path) -> Path:
    rows = example_lines(60)
    rows[50] = rows[4]                                    # exact duplicate from the first shard in the last
    rows[33] = dict(rows[8], completion=rows[8]["completion"].replace("far above", "well above"))  # near, across
    rows[20] = example_line(20, 0, shots(0), contact="jane.doe@example.com")
    rows[41] = "{broken"
    return atomic_write_jsonl(home / "data" / "finetune_ready" / "finetune_test.jsonl", rows)


def _materialize(home: Path, dataset: Path, instance: dg.DagsterInstance, assets: list, **kwargs):
    resources = {"workspace": WorkspaceResource(root=str(home)), "dedup_index": DedupIndexResource()}
    return dg.materialize([_source(dataset), validation_shards, sharded_validation_report], selection=assets,
                          resources=resources, instance=instance, **kwargs)


def test_shards_in_separate_runs_merge_into_the_one_pass_report(home: Path, dataset: Path) -> None:
    instance = dg.DagsterInstance.get()
    assert _materialize(home, dataset, instance, ["finetune_dataset"]).success
    lines = []
    for key in SHARDS.get_partition_keys():
        result = _materialize(home, dataset, instance, ["validation_shards"], partition_key=key)
        assert result.success
        lines.append(result.asset_materializations_for_node("validation_shards")[0].metadata["n_lines"].value)
    assert lines == [15] * N_SHARDS
    merged = _materialize(home, dataset, instance, ["sharded_validation_report"])
    assert merged.success
    value = merged.output_for_node("sharded_validation_report")
    single = validate_dataset(dataset).report
    report = json.loads(Path(value["report_path"]).read_text())
    for key in ("quality_score", "grade", "schema", "pii", "duplicates", "tokens", "evidence", "issues",
                "great_expectations"):
        assert report[key] == single[key], key
    assert report["duplicates"]["pairs"] == {"34": 9, "51": 5} and report["schema"]["invalid_lines"] == [42]
    assert value["shards"]["count"] == N_SHARDS and report["source"]["path"] == str(dataset)


def test_merge_refuses_shards_of_two_datasets(home: Path, dataset: Path) -> None:
    instance = dg.DagsterInstance.get()
    other = atomic_write_jsonl(home / "other.jsonl", example_lines(12, seed=3))
    assert _materialize(home, dataset, instance, ["finetune_dataset"]).success
    for key in SHARDS.get_partition_keys():
        source = other if key == "0" else dataset
        assert _materialize(home, source, instance, ["finetune_dataset"]).success
        assert _materialize(home, source, instance, ["validation_shards"], partition_key=key).success
    result = _materialize(home, dataset, instance, ["sharded_validation_report"], raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "materialize every partition of validation_shards" in failure.step_failure_data.error.message


def test_definitions_hold_the_sharded_assets_beside_the_unpartitioned_report() -> None:
    from datapilot_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"validation_shards", "sharded_validation_report", "validation_report", "training_dataset"} <= keys
    assert graph.get(dg.AssetKey("validation_shards")).partitions_def == SHARDS
    assert graph.get(dg.AssetKey("validation_report")).partitions_def is None
