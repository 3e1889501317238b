"""Small, valid feedback built from the contracts for the export tests."""

from __future__ import annotations

import uuid

from datapilot_pipeline.lib.contracts import FeedbackFile

CATEGORY_CYCLE = ("outlier", "correlation", "trend", "quality", "missing_data", "distribution", "segment")


def make_eda(name: str = "sales.csv", sample_value: str = "EMEA", top_label: str = "EMEA") -> dict:
    return {"dataset": {"name": name, "n_rows": 1200, "n_cols": 3},
            "columns": {"revenue": {"dtype": "float", "missing": 3, "unique": 1100,
                                    "stats": {"mean": 1520.4, "std": 310.2, "min": 10.0, "median": 1500.0,
                                              "max": 1683.75},
                                    "outliers": {"method": "iqr", "count": 2, "row_indices": [17, 250]}},
                        "region": {"dtype": "category", "missing": 0, "unique": 2,
                                   "top_values": {top_label: 500, "NA": 400}},
                        "units": {"dtype": "int", "missing": 0, "unique": 50, "stats": {"mean": 4.5}}},
            "correlations": [{"columns": ["revenue", "units"], "pearson": 0.91}],
            "kpis": {"total_revenue": 1824480.0, "avg_order_value": 1520.4},
            "sample_rows": [{"row_index": 0, "values": {"revenue": 1200.5, "region": sample_value, "units": 3}},
                            {"row_index": 1, "values": {"revenue": "1683.75", "region": "NA", "units": 4}}]}


def make_insight(iid: str, category: str = "outlier", text: str | None = None, action: str | None = None) -> dict:
    return {"id": iid, "category": category, "severity": "high",
            "text": text or f"Insight {iid}: revenue peaks at 1,683.75 against a median of 1,500.",
            "evidence": {"columns": ["revenue"], "aggregates": {"/columns/revenue/stats/max": 1683.75,
                                                                "total_revenue": 1824480.0},
                         "row_indices": [17, 250]},
            "recommendation": {"action": action or f"Audit rows 17 and 250 ({iid}).", "priority": "high"}}


def make_output(n: int = 3, categories: tuple[str, ...] = ("outlier",), summary: str | None = "Two outliers.") -> dict:
    out = {"insights": [make_insight(f"i{k}", categories[(k - 1) % len(categories)]) for k in range(1, n + 1)]}
    if summary is not None:
        out["summary"] = summary
    return out


def item(iid: str, action: str, score: int | None = 4, **extra) -> dict:
    row = {"insight_id": iid, "action": action, **extra}
    if score is not None:
        row["human_score"] = score
    return row


def make_feedback(job_id: str = "job_1", reviewer: str = "ana", created_at: str = "2026-11-24T10:00:00Z",
                  overall: int = 4, items: list[dict] | None = None, eda: dict | None = None,
                  output: dict | None = None, feedback_id: str | None = None) -> FeedbackFile:
    output = output or make_output()
    items = items if items is not None else [item(i["id"], "approve", 5) for i in output["insights"]]
    fid = feedback_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job_id}/{reviewer}/{created_at}"))
    return FeedbackFile.model_validate({
        "schema_version": 1, "feedback_id": fid, "job_id": job_id, "reviewer_id": reviewer,
        "created_at": created_at, "overall_score": overall, "model": "m", "variant": "few_shot",
        "compact_eda": eda or make_eda(), "llm_output": output, "items": items})


def make_seed(example_id: str, name: str, categories: tuple[str, ...]) -> dict:
    return {"example_id": example_id, "compact_eda": make_eda(name),
            "output": make_output(len(categories), categories, summary=None)}


def many_jobs(n: int, tables: int = 10) -> list[FeedbackFile]:
    """`n` approved jobs over `tables` tables, categories cycling so strata are mixed."""
    return [make_feedback(job_id=f"job_{k:04d}", eda=make_eda(f"table_{k % tables}.csv"),
                          output=make_output(2, (CATEGORY_CYCLE[k % tables % 7],)))
            for k in range(n)]
