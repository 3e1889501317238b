"""Many writers at once: reviewers' processes writing feedback, ingestion running while files land (atomic and
copied-in-place writers), two ingestions racing, first use of the MLflow sqlite DB from several processes, and
several Dagster runs sharing one sqlite instance."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from datapilot_pipeline.lib.feedback.collector import FeedbackCollector
from datapilot_pipeline.lib.feedback.inbox import feedback_filename, load_inbox
from datapilot_pipeline.lib.feedback.ingest import feedback_table, ingest_inbox, quarantine_table
from datapilot_pipeline_tests.feedback_fixtures import feedback_kwargs

# spawn, not fork: by the time this file runs, the test process has threads (torch's pools, Dagster's, gRPC's), and a
# child forked while one of them held a lock hung forever on it. Spawned children start clean (a second or two each).
SPAWN = multiprocessing.get_context("spawn")
WAIT_S = 180
N_PROCS, PER_PROC = 8, 25


def _write_reviews(inbox: str, worker: int, n: int, pause_s: float = 0.0) -> list[str]:
    collector = FeedbackCollector(inbox=inbox)
    paths = []
    for i in range(n):
        # One job for everyone and the current second: names differ only by the feedback_id.
        paths.append(str(collector.collect_feedback(**feedback_kwargs(
            created_at=None, reviewer_id=f"analyst_{worker}", overall_score=1 + (worker + i) % 5))))
        time.sleep(pause_s)
    return paths


def _close(pool) -> None:
    """Let the workers finish and exit: leaving the `with` block would SIGTERM them, which a runner started in
    the background may ignore (and then the join waits for ever)."""
    pool.close()
    pool.join()


def _child(target, index: int, args: tuple, barrier, results) -> None:
    results.put((index, target(*args, barrier)))


def _run_all(target, arg_lists: list[tuple]) -> list:
    """Run `target(*args, barrier)` in one process per entry, all released at once; their results."""
    barrier, results = SPAWN.Barrier(len(arg_lists)), SPAWN.Queue()
    procs = [SPAWN.Process(target=_child, args=(target, i, args, barrier, results)) for i, args in enumerate(arg_lists)]
    for proc in procs:
        proc.start()
    out = dict(results.get(timeout=WAIT_S) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return [out[i] for i in range(len(procs))]


COPIED = "_c0"  # the short id of the files delivered by _copy_in_place


def _copy_in_place(inbox: str, worker: int, n: int) -> None:
    """A careless delivery: each file written in two halves under its final name, like a slow `cp`."""
    base = json.loads(Path(_write_reviews(inbox + "_src", worker, 1)[0]).read_text())
    for i in range(n):
        doc = dict(base, feedback_id=f"c0{worker:02d}{i:04d}-0000-4000-8000-000000000000")
        data = json.dumps(doc).encode()
        path = Path(inbox) / feedback_filename(doc["job_id"], doc["created_at"], doc["feedback_id"])
        with path.open("wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(0.02)
            fh.write(data[len(data) // 2:])


def _ingest(inbox: str, out: str) -> int:
    return ingest_inbox(Path(inbox), Path(out)).new_feedback


def test_many_processes_writing_feedback_at_once(tmp_path: Path):
    inbox = tmp_path / "inbox"
    with SPAWN.Pool(N_PROCS) as pool:
        written = pool.starmap_async(_write_reviews, [(str(inbox), w, PER_PROC) for w in range(N_PROCS)]).get(WAIT_S)
        _close(pool)
    paths = [p for chunk in written for p in chunk]
    assert len(paths) == len(set(paths)) == N_PROCS * PER_PROC
    good, bad = load_inbox(inbox)
    assert bad == [] and len(good) == N_PROCS * PER_PROC
    assert len({fb.feedback_id for _, fb in good}) == N_PROCS * PER_PROC
    assert {fb.reviewer_id for _, fb in good} == {f"analyst_{w}" for w in range(N_PROCS)}
    assert not [p for p in inbox.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_ingestion_while_files_land_never_reads_half_a_file_and_converges(tmp_path: Path):
    inbox, out = tmp_path / "inbox", tmp_path / "feedback"
    inbox.mkdir()
    writers = [SPAWN.Process(target=_write_reviews, args=(str(inbox), w, 30, 0.005)) for w in range(3)]
    writers.append(SPAWN.Process(target=_copy_in_place, args=(str(inbox), 9, 20)))
    for proc in writers:
        proc.start()
    runs = 0
    atomic_quarantined = 0
    while any(proc.is_alive() for proc in writers) or runs == 0:
        result = ingest_inbox(inbox, out)
        runs += 1
        # Files written through the API are renamed into place whole: never quarantined, at any moment.
        quarantine = quarantine_table(out)
        atomic_quarantined = max(atomic_quarantined, sum(COPIED not in Path(p).name for p in quarantine["path"]))
    for proc in writers:
        proc.join()
        assert proc.exitcode == 0
    with SPAWN.Pool(2) as pool:  # two final ingestions racing: the lock keeps each review once
        pool.starmap_async(_ingest, [(str(inbox), str(out))] * 2).get(WAIT_S)
        _close(pool)
    final = ingest_inbox(inbox, out)
    assert runs >= 2 and atomic_quarantined == 0
    table = feedback_table(out)
    assert len(table) == 3 * 30 + 20 and table["feedback_id"].is_unique
    # A copied-in-place file read half-written is quarantined, then re-read once complete: none is left there.
    assert len(quarantine_table(out)) == 0 and final.total_quarantined == 0
    assert list(inbox.iterdir()) == []  # every review stored and moved out


def _ensure(uri: str, root: str, barrier) -> str:
    from datapilot_pipeline.lib.tracking import ensure_tracking_db

    barrier.wait()  # all at once, on a DB that does not exist yet
    return ensure_tracking_db(uri, artifact_root=Path(root))


def test_mlflow_db_created_once_by_racing_processes(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = _run_all(_ensure, [(uri, str(tmp_path / "mlartifacts"))] * 4)
    assert len(set(ids)) == 1
    from mlflow.tracking import MlflowClient

    experiments = MlflowClient(tracking_uri=uri).search_experiments()
    assert [e.name for e in experiments if e.name != "Default"] == ["datapilot-finetune"]
    assert experiments and all(str(tmp_path) in e.artifact_location or e.name == "Default" for e in experiments)


def _materialize(home: str, barrier) -> bool:
    import dagster as dg

    from datapilot_pipeline.defs.ingestion import feedback_records
    from datapilot_pipeline.defs.resources import WorkspaceResource

    barrier.wait()
    with dg.DagsterInstance.get() as instance:  # the shared sqlite instance under $DAGSTER_HOME
        return dg.materialize([feedback_records], resources={"workspace": WorkspaceResource(root=home)},
                              instance=instance).success


def test_dagster_sqlite_instance_shared_by_concurrent_runs(home: Path):
    """sqlite storage is created (migrated) once, then shared: concurrent first-time creation races on
    `CREATE TABLE` (seen: "table secondary_indexes already exists"), so the instance is made before the runs."""
    import dagster as dg

    _write_reviews(str(home / "feedback_inbox"), 0, 5)
    with dg.DagsterInstance.get():
        pass
    assert _run_all(_materialize, [(str(home),)] * 3) == [True] * 3
    with dg.DagsterInstance.get() as instance:
        events = instance.fetch_materializations(dg.AssetKey("feedback_records"), limit=10).records
        totals = [e.asset_materialization.metadata["total_feedback"].value for e in events]
    assert totals == [5, 5, 5]  # three runs recorded, the reviews ingested once


@pytest.fixture(autouse=True)
def _no_leftover_children():
    yield
    assert not multiprocessing.active_children()


def test_dagster_yaml_bounds_concurrent_runs_on_sqlite(home: Path, monkeypatch):
    """The tracked instance settings keep concurrent runs few (sqlite takes one writer at a time) and say why."""
    import shutil

    import dagster as dg
    import yaml

    from datapilot_pipeline_tests.reliability.conftest import REPO

    text = (REPO / "datapilot_pipeline" / "data" / "dagster.yaml").read_text(encoding="utf-8")
    assert "sqlite" in text and "one writer" in text
    limit = yaml.safe_load(text)["run_queue"]["max_concurrent_runs"]
    assert isinstance(limit, int) and 1 <= limit <= 4
    dagster_home = home / "instance"
    dagster_home.mkdir()
    shutil.copy(REPO / "datapilot_pipeline" / "data" / "dagster.yaml", dagster_home / "dagster.yaml")  # as `make run` / `make ui` do
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == limit
