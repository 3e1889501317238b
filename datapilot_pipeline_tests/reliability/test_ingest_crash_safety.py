"""SIGKILL the ingestion at every write point, on both store backends: a re-run converges to the store an
uninterrupted run writes (reference: 5 reviews and their decisions), no review lost, none counted twice, and every
file ends in the archive or the quarantine."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from datapilot_pipeline.lib.feedback import store as feedback_store
from datapilot_pipeline.lib.feedback.ingest import ingest_inbox
from datapilot_pipeline.lib.paths import Workspace
from datapilot_pipeline.lib.synthetic import write_feedback_files
from datapilot_pipeline_tests.reliability.ingest_kill import WRITE_POINTS, run_ingestion

# Points after which the batch is committed: the killed run already stored it.
COMMITTED = {"after the commit, before any move", "between two file moves",
             "before a quarantine reason is published"}


def _deliver(inbox: Path) -> None:
    """5 reviews, one of them sent twice, and one broken file, delivered a while ago."""
    paths = write_feedback_files(inbox, 5, seed=5)
    shutil.copy(paths[0], inbox / "resent.json")
    (inbox / "broken.json").write_text('{"schema_version": 1,')
    for n, path in enumerate(sorted(inbox.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))):
        os.utime(path, ns=(10**18 + n, 10**18 + n))


def _contents(url: str) -> dict:
    """The store as sets, free of run-specific values (row order, timestamps, folders)."""
    feedback = feedback_store.read_table(url, "feedback", ["feedback_id", "content_sha256", "source_file"])
    decisions = feedback_store.read_table(url, "decisions", ["feedback_id", "insight_id", "action", "evidence_valid"])
    files = feedback_store.read_table(url, "inbox_files", ["name", "sha256", "status", "reason"])
    return {"feedback": sorted(map(tuple, feedback.values.tolist())),
            "decisions": sorted(map(tuple, decisions.values.tolist())),
            "files": sorted(map(tuple, files.astype(str).values.tolist()))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("reference")
    _deliver(root / "inbox")
    url = f"sqlite:///{root / 'store.sqlite'}"
    decisions = sum(len(json.loads(p.read_text())["items"]) for p in (root / "inbox").glob("feedback_*.json"))
    result = ingest_inbox(root / "inbox", root / "feedback", store_url=url)
    assert decisions > 5  # several insight decisions a review, counted from the delivered files
    assert (result.total_feedback, result.total_decisions, result.duplicates, result.quarantined) == (5, decisions, 1, 1)
    return _contents(url)


@pytest.mark.parametrize("point", list(WRITE_POINTS))
def test_a_kill_at_any_write_point_converges_to_the_uninterrupted_store(home, store_url, reference, point):
    ws = Workspace(home)
    _deliver(ws.inbox)
    delivered = {p.name for p in ws.inbox.iterdir()}
    decisions = sum(len(json.loads(p.read_text())["items"]) for p in ws.inbox.glob("feedback_*.json"))
    url = store_url or feedback_store.store_url_for(ws.feedback_dir)

    killed = run_ingestion(home, kill_at=WRITE_POINTS[point])
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    stored = feedback_store.summary(url)["total_feedback"] if feedback_store.exists(url) else 0
    assert stored == (5 if point in COMMITTED else 0), "a batch is stored whole or not at all"

    finished = run_ingestion(home)
    assert finished.returncode == 0, finished.stderr[-2000:]
    counts = json.loads(finished.stdout.strip().splitlines()[-1])
    assert (counts["total_feedback"], counts["total_decisions"], counts["total_quarantined"]) == (5, decisions, 1)
    assert _contents(url) == reference
    assert list(ws.inbox.iterdir()) == []
    archived = {p.name for p in (ws.feedback_dir / "archive").rglob("*.json")}
    quarantined = {p.name for p in (ws.feedback_dir / "quarantine").iterdir()}
    assert archived | {"broken.json"} == delivered and quarantined == {"broken.json", "broken.json.reason.txt"}
