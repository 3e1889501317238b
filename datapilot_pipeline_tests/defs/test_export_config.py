"""Each export asset's launchpad config holds only what that asset reads: every field, set away from its default,
changes that asset's output (a field that changed nothing would be a knob wired to nothing)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.export import (
    FinetuneDatasetConfig, ReviewedExamplesConfig, finetune_dataset, reviewed_examples,
)
from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.lib.export_fixtures import make_seed

# field -> a non-default value (paths are filled in per test); every field of each class must be listed here
REVIEWED_CHANGES = {"min_score": 4, "check_evidence": False, "output_dir": "other_dir"}
DATASET_CHANGES = {"shot_count": 1, "sample": 5, "seed": 7, "validation_fraction": 0.3, "holdout_fraction": 0.3,
                   "output_dir": "other_dir", "seeds_path": "other_seeds.jsonl", "max_length": 4096,
                   "base_model": "other_model"}
# A field that only matters beside another one is compared against a baseline that sets the other one.
BASELINES = {"seed": {"sample": 5}}


def _value(output) -> dict:
    return output.value if isinstance(output, dg.Output) else output


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> WorkspaceResource:
    root = tmp_path_factory.mktemp("ws")
    write_feedback_files(root / "feedback_inbox", 40, seed=5)
    seeds = root / "other_seeds.jsonl"
    seeds.write_text("".join(json.dumps(make_seed(f"x{k}", f"other_{k}.csv", ("quality",))) + "\n" for k in range(3)))
    _other_model(root / "other_model", [p.read_text() for p in sorted((root / "feedback_inbox").glob("*.json"))])
    return WorkspaceResource(root=str(root))


def _other_model(path: Path, texts: list[str]) -> None:
    """A model directory with its own (smaller) tokenizer: another token budget than the tiny default's."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from datapilot_pipeline.lib.generation.modeling import build_tiny_tokenizer

    build_tiny_tokenizer(path, texts, vocab_size=1500)
    config = LlamaConfig(vocab_size=1500, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)


@pytest.fixture(scope="module")
def records(workspace: WorkspaceResource) -> dict:
    return _value(feedback_records(context=dg.build_asset_context(), workspace=workspace))


def _resolve(changes: dict, root: str) -> dict:
    return {k: (str(Path(root) / v) if k in ("output_dir", "seeds_path", "base_model") else v)
            for k, v in changes.items()}


def _reviewed(workspace, records, **config) -> dict:
    return _value(reviewed_examples(context=dg.build_asset_context(), config=ReviewedExamplesConfig(**config),
                                    workspace=workspace, feedback_records=records))


def _dataset(workspace, reviewed, **config) -> dict:
    return _value(finetune_dataset(context=dg.build_asset_context(), config=FinetuneDatasetConfig(**config),
                                   workspace=workspace, reviewed_examples=reviewed))


def _reviewed_signature(value: dict) -> tuple:
    return value["path"], hashlib.sha256(Path(value["path"]).read_bytes()).hexdigest(), value["n_examples"]


def _dataset_signature(value: dict) -> tuple:
    return (value["path"], json.dumps(value["sha256_by_file"], sort_keys=True), json.dumps(value["per_split"]),
            json.dumps(value["recipe"], sort_keys=True))


def test_every_config_field_is_exercised_below() -> None:
    assert set(REVIEWED_CHANGES) == set(ReviewedExamplesConfig.model_fields)
    assert set(DATASET_CHANGES) == set(FinetuneDatasetConfig.model_fields)
    for cls, changes in ((ReviewedExamplesConfig, REVIEWED_CHANGES), (FinetuneDatasetConfig, DATASET_CHANGES)):
        defaults = cls()
        assert all(getattr(defaults, k) != v for k, v in changes.items()), cls


def test_reviewed_examples_shows_no_dataset_options() -> None:
    # the split and prompt options used to sit here and changed nothing
    assert not {"shot_count", "sample", "seed", "seeds_path"} & set(ReviewedExamplesConfig.model_fields)
    assert not any("fraction" in k for k in ReviewedExamplesConfig.model_fields)
    assert "min_score" not in FinetuneDatasetConfig.model_fields and "check_evidence" not in FinetuneDatasetConfig.model_fields


@pytest.mark.parametrize("field", sorted(REVIEWED_CHANGES))
def test_each_reviewed_examples_field_changes_its_output(workspace, records, field: str) -> None:
    baseline = _reviewed(workspace, records)
    if field == "check_evidence":  # the data must hold insights whose evidence fails, or the field cannot matter
        assert baseline["discarded"].get("insight_invalid_evidence", 0) > 0, baseline["discarded"]
    before = _reviewed_signature(baseline)  # read now: the same folder is written again below
    changed = _reviewed(workspace, records, **_resolve({field: REVIEWED_CHANGES[field]}, workspace.root))
    assert _reviewed_signature(changed) != before


@pytest.mark.parametrize("field", sorted(DATASET_CHANGES))
def test_each_finetune_dataset_field_changes_its_output(workspace, records, field: str) -> None:
    reviewed = _reviewed(workspace, records)
    base = BASELINES.get(field, {})
    baseline = _dataset(workspace, reviewed, **base)
    changed = _dataset(workspace, reviewed, **base, **_resolve({field: DATASET_CHANGES[field]}, workspace.root))
    if field == "output_dir":  # the same files in another folder
        assert Path(changed["path"]).parent != Path(baseline["path"]).parent
    else:  # file names are run-scoped (never the same twice): what must differ is the content, or the recipe
        assert _dataset_signature(changed)[1:] != _dataset_signature(baseline)[1:]


def test_fractions_leave_training_a_share() -> None:
    with pytest.raises(Exception, match="below 1"):
        FinetuneDatasetConfig(validation_fraction=0.5, holdout_fraction=0.5)
