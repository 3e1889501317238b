from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.defs.trends import feedback_quality_has_not_drifted, feedback_quality_trends
from datapilot_pipeline.lib.feedback.store import insert_rows, store_url_for, write_transaction
from datapilot_pipeline.lib.feedback.ingest import decisions_table
from datapilot_pipeline.lib.synthetic import write_feedback_files


def test_trends_materialize_from_ingested_synthetic_feedback(home: Path) -> None:
    write_feedback_files(home / "feedback_inbox", n_jobs=12, seed=3)
    result = dg.materialize([feedback_records, feedback_quality_trends, feedback_quality_has_not_drifted],
                            resources={"workspace": WorkspaceResource(root=str(home))})
    assert result.success
    (mat,) = [m for m in result.get_asset_materialization_events()
              if m.asset_key == dg.AssetKey("feedback_quality_trends")]
    metadata = mat.step_materialization_data.materialization.metadata
    assert metadata["months"].value >= 1
    assert 0.0 <= metadata["approval_rate"].value <= 1.0
    assert metadata["monthly"].value.startswith("| month | n_feedback |")
    report = json.loads((home / "reports" / "feedback_quality_trends.json").read_text())
    decisions = decisions_table(home / "data" / "feedback")
    assert sum(row["n_decisions"] for row in report["monthly"]) == len(decisions)
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "feedback_quality_has_not_drifted"


def _decisions(month: str, n: int, approve: int, job_prefix: str) -> list[dict]:
    return [{"feedback_id": f"{job_prefix}{i}", "job_id": f"{job_prefix}{i}", "reviewer_id": "a", "insight_id": "i1",
             "category": "outlier", "severity": "high", "action": "approve" if i < approve else "reject",
             "human_score": 5 if i < approve else 2, "evidence_valid": True, "created_at": f"{month}-10T00:00:00Z"}
            for i in range(n)]


def test_a_drop_in_approval_warns_with_numbers(tmp_path: Path) -> None:
    rows = (_decisions("2026-08", 40, 36, "a") + _decisions("2026-09", 40, 35, "b")
            + _decisions("2026-10", 40, 20, "c"))
    paths = {"feedback_dir": str(tmp_path)}
    with write_transaction(store_url_for(tmp_path)) as conn:
        insert_rows(conn, "decisions", rows)
        insert_rows(conn, "feedback", [{"created_at": row["created_at"], "overall_score": 4} for row in rows])

    output = feedback_quality_trends(dg.build_asset_context(), feedback_records=paths,
                                     workspace=WorkspaceResource(root=str(tmp_path)))
    assert output.metadata["latest_month"].value == "2026-10" and output.metadata["approval_rate"].value == 0.5
    check = feedback_quality_has_not_drifted(output.value)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    # baseline (36/40 + 35/40) / 2 = 0.8875, latest 0.5: both overall and the outlier category drifted
    assert check.metadata["all.approval_rate.baseline"].value == 0.8875
    assert check.metadata["all.approval_rate.drop"].value == 0.3875
    assert "outlier.approval_rate.latest" in check.metadata
    assert check.metadata["month"].value == "2026-10"
