"""Row shapes of the ingested feedback tables (column names are what downstream stages read)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from datapilot_pipeline.lib.contracts import FeedbackFile
from datapilot_pipeline.lib.evidence import evidence_problems

FEEDBACK_COLUMNS = [
    "feedback_id", "job_id", "reviewer_id", "created_at", "overall_score", "model", "variant", "dataset_name",
    "n_insights", "n_items", "n_approved", "n_edited", "n_rejected", "n_skipped", "source_file", "ingested_at",
    "content_sha256", "raw_json",
]
DECISION_COLUMNS = [
    "feedback_id", "job_id", "reviewer_id", "insight_id", "category", "severity", "action", "human_score",
    "evidence_valid", "evidence_problems", "edited_evidence_valid", "notes", "model", "variant", "created_at",
]

# Nullable dtypes: skipped decisions have no score, only edits of evidence have an edited verdict.
_DTYPES = {"human_score": "Int64", "edited_evidence_valid": "boolean", "evidence_valid": "bool",
           "overall_score": "int64"}


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """The table with the dtypes downstream stages expect (nullable ints and booleans where a value may be absent)."""
    return df.astype({col: dtype for col, dtype in _DTYPES.items() if col in df.columns})


def feedback_row(feedback: FeedbackFile, source_file: str, raw_json: str, content_sha256: str,
                 ingested_at: str) -> dict[str, Any]:
    actions = [item.action for item in feedback.items]
    return {
        "feedback_id": feedback.feedback_id, "job_id": feedback.job_id, "reviewer_id": feedback.reviewer_id,
        "created_at": feedback.created_at, "overall_score": feedback.overall_score, "model": feedback.model,
        "variant": feedback.variant, "dataset_name": feedback.compact_eda.dataset.name,
        "n_insights": len(feedback.llm_output.insights), "n_items": len(feedback.items),
        "n_approved": actions.count("approve"), "n_edited": actions.count("edit"),
        "n_rejected": actions.count("reject"), "n_skipped": actions.count("skip"),
        "source_file": source_file, "ingested_at": ingested_at, "content_sha256": content_sha256,
        "raw_json": raw_json,
    }


def decision_rows(feedback: FeedbackFile) -> list[dict[str, Any]]:
    """One row per reviewed insight; evidence verdicts are against this job's own compact EDA."""
    eda = feedback.compact_eda.model_dump(mode="json")
    insights = {insight.id: insight for insight in feedback.llm_output.insights}
    rows = []
    for item in feedback.items:
        insight = insights[item.insight_id]
        problems = evidence_problems(insight.evidence.model_dump(), eda)
        edited_valid = None
        if item.edited_evidence is not None:
            edited_valid = not evidence_problems(item.edited_evidence, eda)
        rows.append({
            "feedback_id": feedback.feedback_id, "job_id": feedback.job_id, "reviewer_id": feedback.reviewer_id,
            "insight_id": item.insight_id, "category": insight.category, "severity": insight.severity,
            "action": item.action, "human_score": item.human_score, "evidence_valid": not problems,
            "evidence_problems": "; ".join(problems), "edited_evidence_valid": edited_valid, "notes": item.notes,
            "model": feedback.model, "variant": feedback.variant, "created_at": feedback.created_at,
        })
    return rows


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table of `rows` (cell pipes and newlines escaped)."""

    def cell(value: Any) -> str:
        text = "" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(col)) for col in columns) + " |" for row in rows]
    return "\n".join(lines)
