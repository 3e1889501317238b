"""Tracking writes stay under the working root even when the process runs from another directory."""

from __future__ import annotations

import os
from pathlib import Path

from datapilot_pipeline.lib.evaluation.tracking import log_evaluation
from datapilot_pipeline_tests.reliability.conftest import snapshot

REPORT = {"few_shot": {"n": 2, "schema_pass_rate": 1.0, "model": "base"},
          "fine_tuned": {"n": 2, "schema_pass_rate": 0.5, "model": "models:/datapilot-insights/1"},
          "prompt_version": "v1"}


def test_evaluation_run_artifacts_stay_beside_the_tracking_db(home: Path, tmp_path: Path, elsewhere: Path):
    os.chdir(elsewhere)  # MLflow resolves its default artifact root (./mlruns) against the current directory
    outside = snapshot(tmp_path, skip=home)
    run_id = log_evaluation(REPORT, f"sqlite:///{home / 'mlflow.db'}")
    assert snapshot(tmp_path, skip=home) == outside
    (artifact,) = home.glob(f"mlartifacts/{run_id}/artifacts/eval_report.json")
    assert artifact.is_file()
