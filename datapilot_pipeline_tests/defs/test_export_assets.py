"""reviewed_examples and finetune_dataset materialized with feedback_records on a synthetic inbox in tmp."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from datapilot_pipeline.defs.export import finetune_dataset, reviewed_examples
from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.storage import ValueStoreIOManager
from datapilot_pipeline.lib.export.formats import openai_chat_problems
from datapilot_pipeline.lib.feedback.inbox import load_inbox
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.lib.export_fixtures import make_seed


def _lines(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _run(root: Path, config: dict):
    reviewed = {k: config[k] for k in ("min_score",) if k in config}
    dataset = {k: v for k, v in config.items() if k not in reviewed}
    return dg.materialize([feedback_records, reviewed_examples, finetune_dataset],
                          resources={"workspace": WorkspaceResource(root=str(root)),
                                     "io_manager": ValueStoreIOManager(base_dir=str(root / "storage"))},
                          run_config={"ops": {"reviewed_examples": {"config": reviewed},
                                              "finetune_dataset": {"config": dataset}}},
                          instance=dg.DagsterInstance.ephemeral())


def test_export_assets_materialize_the_dataset(tmp_path: Path):
    root = tmp_path / "ws"
    write_feedback_files(root / "feedback_inbox", 60, seed=3)
    (root / "feedback_inbox" / "feedback_broken.json").write_text("{")
    os.utime(root / "feedback_inbox" / "feedback_broken.json", (1, 1))  # complete long ago, not being copied
    good, bad = load_inbox(root / "feedback_inbox")  # read before the ingestion moves the files out
    seeds = root / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(make_seed(f"s{k}", f"seed_{k}.csv", ("trend",))) + "\n" for k in range(2)))
    config = {"min_score": 3, "shot_count": 2, "seed": 1, "seeds_path": str(seeds)}
    result = _run(root, config)
    assert result.success

    reviewed = result.output_for_node("reviewed_examples")
    assert reviewed["path"] == str(root / "data" / "finetune_ready" / "reviewed_examples.jsonl")
    assert reviewed["n_reviews"] == len(good) and len(bad) == 1
    assert reviewed["n_examples"] == len(_lines(reviewed["path"])) > 0
    meta = result.asset_materializations_for_node("reviewed_examples")[0].metadata
    assert meta["n_examples"].value == reviewed["n_examples"] and "| reason | count |" in meta["discarded"].value

    value = result.output_for_node("finetune_dataset")
    rows = _lines(value["path"])
    assert Path(value["holdout_path"]) == Path(value["path"]).with_name(Path(value["path"]).stem + "_holdout.jsonl")
    assert Path(value["recipe_path"]).is_file() and value["recipe"]["max_length"] == 2048
    holdout = _lines(value["holdout_path"])
    assert len(rows) + len(holdout) == value["n_examples"] == reviewed["n_examples"]
    assert {r["metadata"]["split"] for r in rows} <= {"train", "validation"}
    assert all(r["metadata"]["shot_count"] <= 2 and r["metadata"]["sequence_tokens"] <= 2048 for r in rows)
    assert value["recipe"]["shot_ids"] == ["s0", "s1"]
    chat = _lines(value["chat_path"]) + _lines(value["chat_validation_path"])
    assert len(chat) == len(rows) and all(openai_chat_problems(c) == [] for c in chat)
    import hashlib
    assert value["sha256"] == hashlib.sha256(Path(value["path"]).read_bytes()).hexdigest()

    fmeta = result.asset_materializations_for_node("finetune_dataset")[0].metadata
    assert fmeta["n_train"].value == value["per_split"]["train"] > 0
    assert fmeta["sha256"].value == value["sha256"]
    # the asset's own `path` is the dataset; where Dagster pickled the value is recorded apart
    assert fmeta["path"].value == value["path"] and meta["path"].value == reviewed["path"]
    assert fmeta["stored_value"].value == str(root / "storage" / "finetune_dataset")
    assert fmeta["preview"].value.startswith("| job_id | split |") and rows[0]["metadata"]["job_id"] in fmeta["preview"].value
    train_tables = {r["metadata"]["dataset_name"] for r in rows if r["metadata"]["split"] == "train"}
    assert not train_tables & {h["compact_eda"]["dataset"]["name"] for h in holdout}

    again = _run(root, config)  # same inbox and options: byte-identical dataset, in a file of its own
    repeat = again.output_for_node("finetune_dataset")
    assert repeat["sha256_by_file"] == value["sha256_by_file"] and repeat["path"] != value["path"]
    assert hashlib.sha256(Path(value["path"]).read_bytes()).hexdigest() == value["sha256"]  # never overwritten
