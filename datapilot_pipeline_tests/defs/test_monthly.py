"""Feedback by month: the store's month column and index (SQLite and PostgreSQL), the monthly partitioned assets
materialized per partition key through Dagster, and the schedule that requests the month just ended."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from datapilot_pipeline.defs.monthly import (
    MONTHS, ab_test_by_month, feedback_quality_by_month, monthly_reports_schedule, previous_month_key,
)
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.feedback import store
from datapilot_pipeline.lib.feedback.ingest import (
    decisions_table, feedback_table, ingest_inbox, stored_reviews, stored_reviews_in_month,
)
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline.lib.trends import monthly_trends


@pytest.mark.parametrize(("created_at", "month"), [
    ("2026-11-30T23:30:00Z", "2026-11"), ("2026-11-30T20:30:00-05:00", "2026-12"),
    ("2026-12-01T00:30:00+02:00", "2026-11"), ("2026-07-04T12:00:00", "2026-07"), ("2026-07-04", "2026-07"),
    ("not a time", None), (None, None),
])
def test_utc_month(created_at: str | None, month: str | None) -> None:
    assert store.utc_month(created_at) == month


def _rows(month_times: list[str]) -> tuple[list[dict], list[dict]]:
    feedback, decisions = [], []
    for i, created_at in enumerate(month_times):
        feedback.append({"feedback_id": f"f{i}", "job_id": f"job_{i}", "created_at": created_at, "overall_score": 4})
        decisions += [{"feedback_id": f"f{i}", "job_id": f"job_{i}", "reviewer_id": "a", "insight_id": f"i{k}",
                       "category": "outlier", "action": "approve", "human_score": 5, "evidence_valid": True,
                       "created_at": created_at} for k in range(2)]
    return feedback, decisions


TIMES = ["2026-10-31T23:59:59Z", "2026-11-01T00:00:00Z", "2026-11-30T20:30:00-05:00", "2026-11-15T10:00:00Z",
         "2026-12-02T08:00:00Z"]


def _fill(feedback_dir: Path) -> None:
    feedback, decisions = _rows(TIMES)
    with store.write_transaction(store.store_url_for(feedback_dir)) as conn:
        store.insert_rows(conn, "feedback", feedback)
        store.insert_rows(conn, "decisions", decisions)


def test_month_reads_return_that_month_only_on_both_backends(tmp_path: Path, store_url: str | None) -> None:
    _fill(tmp_path)
    november = feedback_table(tmp_path, "2026-11")
    assert list(november["feedback_id"]) == ["f1", "f3"]  # 20:30 -05:00 on Nov 30 is December in UTC
    assert list(feedback_table(tmp_path, "2026-12")["feedback_id"]) == ["f2", "f4"]
    assert list(feedback_table(tmp_path, "2026-10")["feedback_id"]) == ["f0"]
    assert feedback_table(tmp_path, "2026-09").empty
    assert list(feedback_table(tmp_path).columns) == list(feedback_table(tmp_path, "2026-11").columns)
    assert len(decisions_table(tmp_path, "2026-11")) == 4 and set(decisions_table(tmp_path, "2026-11")["feedback_id"]) \
        == {"f1", "f3"}
    # the month read is the month's slice of what the whole-table trends compute
    whole = monthly_trends(decisions_table(tmp_path), feedback_table(tmp_path))
    alone = monthly_trends(decisions_table(tmp_path, "2026-11"), feedback_table(tmp_path, "2026-11"))
    assert alone.loc["2026-11"].equals(whole.loc["2026-11"])


def test_month_queries_use_the_month_index(tmp_path: Path, store_url: str | None) -> None:
    _fill(tmp_path)
    url = store.store_url_for(tmp_path)
    table = store.TABLES["feedback"]
    query = sa.select(table.c.raw_json).where(store.month_filter("2026-11")(table)).order_by(table.c.seq)
    with store.engine_for(url).connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        else:  # five rows: let the planner show whether the index can serve the query
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "feedback_by_month" in plan, plan
    assert "TEMP B-TREE" not in plan  # ordered by seq through the index, no sort


def test_a_store_made_before_the_month_column_gets_it_filled(tmp_path: Path, store_url: str | None) -> None:
    _fill(tmp_path)
    url = store.store_url_for(tmp_path)
    with store.write_transaction(url) as conn:  # back to the older layout
        for name, index in (("feedback", "feedback_by_month"), ("decisions", "decisions_by_month")):
            conn.exec_driver_sql(f"DROP INDEX {index}")
            conn.exec_driver_sql(f"ALTER TABLE {name} DROP COLUMN {store.MONTH_COLUMN}")
    store._ENGINES.clear()  # a new process opens the store
    assert list(feedback_table(tmp_path, "2026-11")["feedback_id"]) == ["f1", "f3"]
    assert len(decisions_table(tmp_path, "2026-12")) == 4


def _ingested_home(home: Path) -> Path:
    write_feedback_files(home / "feedback_inbox", n_jobs=40, seed=5)
    ingest_inbox(home / "feedback_inbox", home / "data" / "feedback")
    return home / "data" / "feedback"


def _busiest_month(feedback_dir: Path) -> str:
    months = feedback_table(feedback_dir)["created_at"].map(store.utc_month)
    return months.value_counts().index[0]


def test_monthly_assets_materialize_per_partition(home: Path, store_url: str | None) -> None:
    feedback_dir = _ingested_home(home)
    month = _busiest_month(feedback_dir)
    in_month = [r for _, r in stored_reviews(feedback_dir) if store.utc_month(r.created_at) == month]
    assert [r.feedback_id for r in stored_reviews_in_month(feedback_dir, month)] == [r.feedback_id for r in in_month]

    result = dg.materialize([ab_test_by_month, feedback_quality_by_month], partition_key=f"{month}-01",
                            resources={"workspace": WorkspaceResource(root=str(home))})
    assert result.success
    outputs = {m.asset_key.to_user_string(): m.step_materialization_data.materialization
               for m in result.get_asset_materialization_events()}
    assert set(outputs) == {"ab_test_by_month", "feedback_quality_by_month"}
    assert all(m.partition == f"{month}-01" for m in outputs.values())
    ab = json.loads((home / "reports" / f"ab_test_month_{month}.json").read_text())
    assert ab["month"] == month and ab["reviews"] == len(in_month)
    assert sum(v["reviews"] for v in ab["variants"].values()) <= len(in_month)
    assert "verdict" not in ab  # the verdict is ab_test_report's alone
    quality = json.loads((home / "reports" / f"feedback_quality_month_{month}.json").read_text())
    assert quality["n_feedback"] == len(in_month)
    assert quality["n_decisions"] == len(decisions_table(feedback_dir, month)) > 0

    empty = dg.materialize([feedback_quality_by_month], partition_key="2025-01-01",
                           resources={"workspace": WorkspaceResource(root=str(home))})
    assert empty.success
    assert json.loads((home / "reports" / "feedback_quality_month_2025-01.json").read_text())["n_feedback"] == 0


def test_schedule_requests_the_month_that_ended_without_run_config(home: Path) -> None:
    assert previous_month_key(datetime(2027, 1, 1, 7, tzinfo=timezone.utc)) == "2026-12-01"
    assert previous_month_key(datetime(2026, 3, 1, 7, tzinfo=timezone.utc)) == "2026-02-01"
    feedback_dir = _ingested_home(home)
    month = _busiest_month(feedback_dir)
    year, number = map(int, month.split("-"))
    tick = datetime(year + number // 12, number % 12 + 1, 1, 7, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        request = monthly_reports_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert isinstance(request, dg.RunRequest) and request.partition_key == f"{month}-01"
        assert not request.run_config
        from datapilot_pipeline.definitions import defs

        job = defs.resolve_job_def("monthly_reports_job")
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
        assert result.success
    assert json.loads((home / "reports" / f"ab_test_month_{month}.json").read_text())["month"] == month
    early = monthly_reports_schedule(dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 1, 1, 7, tzinfo=timezone.utc)))
    assert isinstance(early, dg.SkipReason)
    assert MONTHS.get_partition_keys(current_time=tick)[-1] == tick.strftime("%Y-%m-01")  # the month in progress too
