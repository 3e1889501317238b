"""Validation assets: the report's metadata, blocking checks, and a failing check stopping training_dataset."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.validation import (
    DATASET_CHECKS, few_duplicates, has_no_pii, quality_score_ok, few_schema_errors,
    training_dataset, validation_report,
)
from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline_tests.defs.test_display import assert_readable
from datapilot_pipeline.lib.validation.sample_data import example_line, example_lines, shots


def _source(path: Path) -> dg.AssetsDefinition:
    @dg.asset(name="finetune_dataset")
    def finetune_dataset() -> dict:
        from datapilot_pipeline.lib.hashing import file_sha256

        return {"path": str(path), "sha256": file_sha256(path), "n_examples": 0}

    return finetune_dataset


def _run(home: Path, rows: list[dict]) -> dg.ExecuteInProcessResult:
    path = atomic_write_jsonl(home / "data" / "finetune_ready" / "finetune_test.jsonl", rows)
    return dg.materialize([_source(path), validation_report, training_dataset],
                          resources={"workspace": WorkspaceResource(root=str(home))}, raise_on_error=False)


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_dataset_passes_every_check_and_training_dataset_is_written(home: Path) -> None:
    result = _run(home, example_lines(60))
    assert result.success
    checks = _check_results(result)
    assert {name: c.passed for name, c in checks.items()} == {c.__name__: True for c in DATASET_CHECKS}
    assert {c.asset_key.to_user_string() for c in checks.values()} == {"finetune_dataset"}
    assert checks["quality_score_ok"].metadata["quality_score"].value >= 90
    report_meta = result.asset_materializations_for_node("validation_report")[0].metadata
    assert report_meta["pii_lines"].value == 0 and report_meta["n_examples"].value == 60
    assert_readable(report_meta)
    for check in checks.values():
        assert_readable(check.metadata)
    value = result.output_for_node("training_dataset")
    assert value["n_examples"] == 60 and Path(value["path"]).is_file() and len(value["sha256"]) == 64
    assert Path(value["report_path"]).is_file()


def test_failing_blocking_check_stops_training_dataset(home: Path) -> None:
    rows = example_lines(60)
    rows[2] = example_line(2, 0, shots(0), contact="jane.doe@example.com")
    result = _run(home, rows)
    checks = _check_results(result)
    assert checks["has_no_pii"].passed is False and checks["has_no_pii"].asset_key == dg.AssetKey("finetune_dataset")
    assert checks["has_no_pii"].metadata["pii_lines"].value == 1
    assert checks["few_schema_errors"].passed is True
    assert result.asset_materializations_for_node("validation_report")
    assert not result.asset_materializations_for_node("training_dataset")
    assert not (home / "data" / "finetune_ready" / "finetune_test_clean.jsonl").exists()


def test_checks_called_directly_read_thresholds_from_the_report_value() -> None:
    value = {"pii_lines": [], "pii_by_entity": {}, "schema_error_rate": 0.2, "schema_invalid": 20,
             "duplicate_rate": 0.05, "n_exact": 5, "n_near": 0, "quality_score": 65.0, "grade": "poor",
             "thresholds": {"min_score": 70.0, "max_schema_error_rate": 0.05, "max_duplicate_rate": 0.1}}
    assert has_no_pii(value).passed is True
    assert few_schema_errors(value).passed is False
    assert few_duplicates(value).passed is True
    result = quality_score_ok(value)
    assert result.passed is False and result.metadata["quality_score"].value == 65.0
    assert json.dumps(value)  # the value stays JSON-serializable


def test_a_dataset_training_would_cut_by_ten_percent_is_blocked(home: Path) -> None:
    rows = example_lines(60)
    for n in range(0, 60, 10):  # 6 of 60 lines (10%) far over 2048 tokens
        rows[n] = {**rows[n], "prompt": rows[n]["prompt"] + " padding" * 2000}
    result = _run(home, rows)
    check = _check_results(result)["fits_token_budget"]
    assert check.passed is False and check.metadata["drop_rate"].value == 0.1
    assert "training_dataset" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_training_dataset_refuses_bytes_other_than_the_validated_ones(home: Path) -> None:
    from datapilot_pipeline.lib.hashing import file_sha256

    path = atomic_write_jsonl(home / "data" / "finetune_ready" / "finetune_test.jsonl", example_lines(60))
    report = {"dataset_path": str(path), "dataset_sha256": file_sha256(path), "report_path": "r", "recipe": None,
              "holdout_path": None, "validate_options": {"tokenizer_path": None, "max_tokens": None}}
    atomic_write_jsonl(path, example_lines(61))  # another run rewrote the file after validation
    context = dg.build_asset_context()
    try:
        training_dataset(context, WorkspaceResource(root=str(home)), report)
    except dg.Failure as exc:
        assert "changed after validation" in str(exc)
    else:
        raise AssertionError("training_dataset accepted bytes the report never validated")
