"""A small real job (compact EDA computed from a DataFrame, a four-insight output) and reviews of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from datapilot_pipeline.lib.eda import compact_eda

JOB_ID = "job_sales_001"


def sales_eda() -> dict[str, Any]:
    df = pd.DataFrame({
        "revenue": [100.0, 120.0, 110.0, 9800.0, 105.0, 115.0, 98.0, 102.0, 130.0, 125.0],
        "units": [1, 2, 1, 50, 1, 2, 1, 1, 3, 2],
        "region": ["EMEA", "NA", "EMEA", "NA", "APAC", "EMEA", "NA", "EMEA", "NA", "APAC"],
    })
    return compact_eda(df, "sales_q3.csv", kpis={"total_revenue": float(df["revenue"].sum())})


def sales_output() -> dict[str, Any]:
    """i1 grounded outlier, i2 grounded correlation, i3 hallucinated max, i4 out-of-range rows."""
    return {
        "summary": "One extreme order dominates revenue.",
        "insights": [
            {"id": "i1", "category": "outlier", "severity": "high",
             "text": "Order 3 has revenue 9,800, far above the typical 100-130.",
             "evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 9800.0},
                          "row_indices": [3]},
             "recommendation": {"action": "Audit order 3 for a data-entry error.", "priority": "high"}},
            {"id": "i2", "category": "correlation", "severity": "medium",
             "text": "Revenue rises with units almost perfectly.",
             "evidence": {"columns": ["revenue", "units"], "aggregates": {"/correlations/0/pearson": 0.9991}},
             "recommendation": {"action": "Report revenue per unit.", "priority": "low"}},
            {"id": "i3", "category": "distribution", "severity": "low",
             "text": "Maximum revenue is 50,000.",
             "evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 50000.0}},
             "recommendation": {"action": "Check the revenue ceiling.", "priority": "medium"}},
            {"id": "i4", "category": "quality", "severity": "medium",
             "text": "Rows 40 and 41 are empty.",
             "evidence": {"columns": ["region"], "row_indices": [40, 41]},
             "recommendation": {"action": "Drop empty rows.", "priority": "low"}},
        ],
    }


def job_result(job_id: str | None = JOB_ID) -> dict[str, Any]:
    job = {"created_at": "2026-11-24T09:00:00Z", "model": "fewshot-base", "variant": "few_shot",
           "compact_eda": sales_eda(), "llm_output": sales_output()}
    if job_id is not None:
        job["job_id"] = job_id
    return job


def review_items() -> list[dict[str, Any]]:
    return [
        {"insight_id": "i1", "action": "approve", "human_score": 5},
        {"insight_id": "i2", "action": "edit", "human_score": 4, "edited_text": "Revenue tracks units (r = 0.999).",
         "edited_recommendation": {"action": "Report revenue per unit by region.", "priority": "medium"}},
        {"insight_id": "i3", "action": "reject", "human_score": 1, "notes": "Hallucinated maximum"},
        {"insight_id": "i4", "action": "skip"},
    ]


def feedback_kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs = dict(job_id=JOB_ID, compact_eda=sales_eda(), llm_output=sales_output(), feedback_items=review_items(),
                  reviewer_id="analyst_jane", overall_score=4, model="fewshot-base", variant="few_shot",
                  created_at="2026-11-24T10:00:00Z")
    kwargs.update(overrides)
    return kwargs


def write_job(path: Path, job_id: str | None = JOB_ID) -> Path:
    path.write_text(json.dumps(job_result(job_id)), encoding="utf-8")
    return path
