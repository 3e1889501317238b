"""A team deployment: the Dagster instance (runs, events, schedules, concurrency pools) and the feedback store on
one real PostgreSQL server, as the README describes; feedback_records materialized through it."""

from __future__ import annotations

import json

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.postgres_server import create_database

pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed (the team extra)")


def test_feedback_records_on_a_postgresql_instance_and_store(home: Path, postgres_server: str, postgres_url: str,
                                                            monkeypatch) -> None:
    store_url = postgres_url
    monkeypatch.setenv("DATAPILOT_STORE_URL", store_url)
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL.
    dagster_db = create_database(postgres_server, prefix="dagster").replace("postgresql://", "postgresql+psycopg2://", 1)
    dagster_home = home / ".dagster_home"
    (dagster_home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {dagster_db}\n"
        "concurrency:\n  pools:\n    default_limit: 1\n")
    written = write_feedback_files(home / "feedback_inbox", 5, seed=5)
    decisions = sum(len(json.loads(p.read_text())["items"]) for p in written)  # what the files carry
    resources = {"workspace": WorkspaceResource(root=str(home))}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        first = dg.materialize([feedback_records], resources=resources, instance=instance)
        second = dg.materialize([feedback_records], resources=resources, instance=instance)
        assert first.success and second.success
        event = instance.get_latest_materialization_event(dg.AssetKey("feedback_records"))
        meta = event.asset_materialization.metadata
        assert (meta["total_feedback"].value, meta["total_decisions"].value, meta["ingested_new"].value) == (5, decisions, 0)
        assert meta["store"].value.startswith("postgresql")
    runs = sa.create_engine(dagster_db)
    with runs.connect() as conn:  # the runs live in the server's database, not in files under DAGSTER_HOME
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one() == 2
    runs.dispose()
    stored = sa.create_engine(store_url)
    with stored.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar_one() == 5
        assert conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one() == decisions
    stored.dispose()
