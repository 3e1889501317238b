"""feedback_records materialized on a mixed inbox: good reviews kept, bad entries quarantined, metadata shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import os

import dagster as dg

from datapilot_pipeline.defs.ingestion import feedback_records
from datapilot_pipeline.defs.resources import WorkspaceResource
from datapilot_pipeline.lib.feedback.collector import FeedbackCollector
from datapilot_pipeline.lib.feedback.inbox import read_feedback_file
from datapilot_pipeline.lib.feedback.ingest import feedback_table, quarantine_table
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs


def _materialize(root: Path, instance: dg.DagsterInstance) -> tuple[dict, dict]:
    result = dg.materialize([feedback_records], resources={"workspace": WorkspaceResource(root=str(root))},
                            instance=instance)
    assert result.success
    materialization = result.asset_materializations_for_node("feedback_records")[0]
    return result.output_for_node("feedback_records"), materialization.metadata


def test_feedback_records_keeps_good_reviews_and_quarantines_bad_entries(tmp_path: Path):
    root = tmp_path / "ws"
    inbox = root / "feedback_inbox"
    collector = FeedbackCollector(inbox=inbox)
    good = [collector.collect_feedback(**feedback_kwargs(job_id=f"job_{n}", reviewer_id=f"analyst_{n}"))
            for n in range(2)]
    shutil.copy(good[0], inbox / "resent.json")
    (inbox / "broken.json").write_text('{"schema_version": 1, "job_id": ')
    (inbox / "latin1.json").write_bytes(b'{"notes": "caf\xe9"}')
    (inbox / "escape.json").write_text(good[1].read_text().replace('"job_1"', '"../job_1"', 1))
    (inbox / "README.md").write_text("the inbox")  # documentation, not an entry
    good_ids = sorted(read_feedback_file(p).feedback_id for p in good)
    for n, path in enumerate(sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))):
        os.utime(path, ns=(10**18 + n, 10**18 + n))  # delivered a while ago: complete, not still being copied

    instance = dg.DagsterInstance.ephemeral()
    value, meta = _materialize(root, instance)

    feedback = feedback_table(value["feedback_dir"])
    assert sorted(feedback["feedback_id"]) == good_ids
    assert value["feedback_dir"] == str(root / "data" / "feedback")
    assert value["store"] == f"sqlite:///{root / 'data' / 'feedback' / 'feedback.sqlite'}"
    assert sorted(p.name for p in inbox.iterdir()) == ["README.md"], "handled files leave the inbox"
    quarantine = quarantine_table(value["feedback_dir"]).set_index("path")
    assert sorted(Path(p).name for p in quarantine.index) == ["broken.json", "escape.json", "latin1.json"]
    assert quarantine.loc[str(inbox / "escape.json"), "reason"].startswith("invalid: job_id")
    assert quarantine.loc[str(inbox / "latin1.json"), "reason"] == "not UTF-8 text"
    assert "malformed JSON" in quarantine.loc[str(inbox / "broken.json"), "reason"]

    assert meta["ingested_new"].value == 2 and meta["total_feedback"].value == 2
    assert meta["duplicates"].value == 1 and meta["quarantined_new"].value == 3
    assert meta["approval_rate"].value == round(2 / 6, 4)  # one approve of three reviewed insights, per review
    assert "not UTF-8 text" in meta["quarantine_reasons"].value
    assert f"| {inbox / 'latin1.json'} | not UTF-8 text |" in meta["quarantine"].value
    preview = meta["preview"].value
    assert preview.startswith("| job_id | reviewer_id |") and "| job_0 | analyst_0 |" in preview

    value_again, meta_again = _materialize(root, instance)
    assert meta_again["ingested_new"].value == 0 and meta_again["quarantined_new"].value == 0
    assert meta_again["total_feedback"].value == 2 and meta_again["quarantined_total"].value == 3
    assert meta_again["preview"].value == "no new feedback this run"
    assert value_again["new_feedback_ids"] == []


def test_feedback_records_on_an_empty_workspace(tmp_path: Path):
    value, meta = _materialize(tmp_path / "empty", dg.DagsterInstance.ephemeral())
    assert (value["total_feedback"], meta["quarantined_total"].value) == (0, 0)
    assert "approval_rate" not in meta, "no reviewed decision, no rate"
    assert meta["quarantine"].value == "nothing quarantined"
    assert (Path(value["feedback_dir"]) / "feedback.sqlite").exists()


def test_feedback_records_is_in_the_feedback_group_with_a_description():
    spec = feedback_records.specs_by_key[dg.AssetKey("feedback_records")]
    assert spec.group_name == "feedback"
    assert "quarantine" in spec.description and "DATAPILOT_STORE_URL" in spec.description
    assert feedback_records.op.pool == "feedback_store"  # one ingestion at a time (Dagster concurrency pool)
