"""The feedback store on both backends (SQLite file, real PostgreSQL server): one transaction per batch, only new
files read, writers serialized, files created with the process umask."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from datapilot_pipeline.lib.feedback import ingest, store as feedback_store
from datapilot_pipeline.lib.atomic import atomic_write_text
from datapilot_pipeline.lib.feedback.ingest import decisions_table, feedback_table, ingest_inbox, quarantine_table
from datapilot_pipeline.lib.synthetic import write_feedback_files

SPAWN = multiprocessing.get_context("spawn")  # not fork: a child forked while a thread held a lock hangs on it


def _inbox(root: Path, n_jobs: int = 5, seed: int = 5) -> Path:
    inbox = root / "feedback_inbox"
    write_feedback_files(inbox, n_jobs, seed=seed)
    return inbox


def _decisions_in(inbox: Path) -> int:
    """Insight decisions the inbox's feedback files carry, read from the files themselves."""
    import json

    return sum(len(json.loads(p.read_text())["items"]) for p in inbox.glob("*.json"))


def test_the_store_selected_by_the_setting_holds_the_reviews(tmp_path, store_url):
    inbox, out = _inbox(tmp_path), tmp_path / "feedback"
    decisions = _decisions_in(inbox)
    assert decisions > 5  # several insights a job
    result = ingest_inbox(inbox, out)
    assert (result.new_feedback, result.new_decisions, result.total_feedback, result.total_decisions) == (
        5, decisions, 5, decisions)
    expected = "sqlite" if store_url is None else "postgresql"
    assert result.store.startswith(expected)
    assert (out / "feedback.sqlite").exists() == (store_url is None)
    assert len(feedback_table(out)) == 5 and len(decisions_table(out)) == decisions
    assert feedback_table(out)["feedback_id"].is_unique


def test_a_failed_batch_stores_nothing_and_leaves_its_files_in_the_inbox(tmp_path, store_url, monkeypatch):
    inbox, out = _inbox(tmp_path), tmp_path / "feedback"
    names = sorted(p.name for p in inbox.iterdir())
    decisions = _decisions_in(inbox)
    real = feedback_store.insert_rows

    def failing(conn, table, rows):
        if table == "inbox_files":  # feedback and decisions already inserted in this transaction
            raise RuntimeError("disk full")
        return real(conn, table, rows)

    monkeypatch.setattr(feedback_store, "insert_rows", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_inbox(inbox, out)
    monkeypatch.setattr(feedback_store, "insert_rows", real)
    assert feedback_table(out).empty and decisions_table(out).empty, "rolled back together"
    assert sorted(p.name for p in inbox.iterdir()) == names
    again = ingest_inbox(inbox, out)
    assert (again.total_feedback, again.total_decisions, again.recovered) == (5, decisions, 0)


def test_a_run_reads_only_the_new_files(tmp_path, store_url, monkeypatch):
    inbox, out = _inbox(tmp_path), tmp_path / "feedback"
    ingest_inbox(inbox, out)
    new = write_feedback_files(inbox, 2, seed=77)
    reads: list[str] = []
    real = ingest._read_entry
    monkeypatch.setattr(ingest, "_read_entry", lambda path, st: reads.append(path.name) or real(path, st))
    result = ingest_inbox(inbox, out)
    assert sorted(reads) == sorted(p.name for p in new)
    assert (result.new_feedback, result.total_feedback) == (len({p.name for p in new}), 7)


def _ingest(inbox: str, out: str, url: str | None) -> int:
    if url:
        os.environ[feedback_store.STORE_URL_ENV] = url
    return ingest_inbox(Path(inbox), Path(out)).new_feedback


def test_concurrent_writers_store_each_review_once(tmp_path, store_url):
    inbox, out = _inbox(tmp_path, n_jobs=30, seed=8), tmp_path / "feedback"
    n_files = len(list(inbox.iterdir()))
    with SPAWN.Pool(3) as pool:
        added = pool.starmap_async(_ingest, [(str(inbox), str(out), store_url)] * 3).get(180)
        pool.close()  # workers exit by themselves; the `with` block's SIGTERM may be ignored by a background runner
        pool.join()
    assert sum(added) == n_files == len(feedback_table(out))
    assert feedback_table(out)["feedback_id"].is_unique
    assert quarantine_table(out).empty and list(inbox.iterdir()) == []


def test_an_unreachable_store_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(feedback_store.STORE_URL_ENV, "postgresql://nobody:secret@127.0.0.1:9/none")
    with pytest.raises(feedback_store.StoreError) as exc:
        ingest_inbox(tmp_path / "inbox", tmp_path / "out")
    assert "secret" not in str(exc.value) and "127.0.0.1:9" in str(exc.value)
    monkeypatch.setenv(feedback_store.STORE_URL_ENV, "not a url")
    with pytest.raises(feedback_store.StoreError, match="not a database URL"):
        ingest_inbox(tmp_path / "inbox", tmp_path / "out")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_take_the_process_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "report.json", "{}\n")
        moved = _inbox(tmp_path, n_jobs=1)
        ingest_inbox(moved, tmp_path / "feedback")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    (archived,) = (tmp_path / "feedback" / "archive").rglob("*.json")
    assert stat.S_IMODE(archived.stat().st_mode) == mode  # the reviewers' file, as written through the API
