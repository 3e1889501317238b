"""validation_report's launchpad config holds only what it reads: every field, set away from its default, changes
the report or the verdict of the dataset's checks (the report's file name changes on every run, so it is left out
of the comparison except for `report_dir`)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.validation import ValidationConfig, validation_report
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.validation.sample_data import example_line, example_lines, shots

# field -> a non-default value; tokenizer_path and report_dir are filled in below
CHANGES = {"min_score": 95.0, "max_schema_error_rate": 0.0, "max_duplicate_rate": 0.0, "max_tokens": 64,
           "tokenizer_path": "tokenizer", "report_dir": "other_reports"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from datapilot_pipeline.lib.generation.modeling import build_tiny_base_model

    root = tmp_path_factory.mktemp("ws")
    rows = example_lines(30)
    rows[3] = dict(rows[1])  # one exact duplicate
    rows[5] = {"prompt": "", "completion": "not json", "metadata": {}}  # one schema error
    rows[7] = example_line(7, 0, shots(0))
    dataset = atomic_write_jsonl(root / "finetune_test.jsonl", rows)
    tokenizer = build_tiny_base_model(root / "tokenizer", [r["prompt"] + r["completion"] for r in rows[:10]],
                                      pretrain_steps=0)
    return root, {"path": str(dataset)}, str(tokenizer)


def _signature(root: Path, dataset: dict, **config) -> str:
    events = list(validation_report(context=dg.build_asset_context(), config=ValidationConfig(**config),
                                    workspace=WorkspaceResource(root=str(root)), finetune_dataset=dataset))
    value = next(e.value for e in events if isinstance(e, dg.Output))
    report = json.loads(Path(value["report_path"]).read_text())
    checks = sorted((e.check_name, e.passed, e.description) for e in events if isinstance(e, dg.AssetCheckResult))
    kept = {k: v for k, v in report.items() if k not in ("created_at", "source", "great_expectations")}
    return json.dumps([kept, checks, str(Path(value["report_path"]).parent)], sort_keys=True, default=str)


def test_every_field_is_exercised_below() -> None:
    assert set(CHANGES) == set(ValidationConfig.model_fields)


def test_each_field_changes_the_report_or_the_checks(setup) -> None:
    root, dataset, tokenizer = setup
    baseline = _signature(root, dataset)
    assert _signature(root, dataset) == baseline  # the signature itself is stable
    for field, value in CHANGES.items():
        value = {"tokenizer_path": tokenizer, "report_dir": str(root / "other_reports")}.get(field, value)
        assert _signature(root, dataset, **{field: value}) != baseline, field
