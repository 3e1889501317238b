"""The demo's run configs are valid for its job: the default one, and the one sized for a real base model."""

from __future__ import annotations

import dagster as dg

from datapilot_pipeline.definitions import defs
from datapilot_pipeline.defs.demo import DEMO_RUN_CONFIG, demo_run_config


def test_both_demo_configs_validate_against_the_demo_job():
    job = defs.resolve_job_def("demo_job")
    assert demo_run_config() is DEMO_RUN_CONFIG
    real = demo_run_config("smollm2-135m-instruct")
    for config in (DEMO_RUN_CONFIG, real):
        assert dg.validate_run_config(job, config)
    ops = real["ops"]
    assert ops["finetune_dataset"]["config"]["base_model"] == "smollm2-135m-instruct"
    assert ops["evaluation_scores"]["config"]["max_examples"] >= 30  # the promotion rule's minimum
    assert ops["evaluation_scores"]["config"]["shot_count"] >= 1  # few-shot stays few-shot
